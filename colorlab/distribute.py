"""Where a training run computes: one device, every device of this machine, or the devices of several machines.

A :class:`Distribution` wraps each engine's own API; :class:`colorlab.train.Trainer` takes one (or its mode's name)
as ``distribute``, and ``colorlab train --distribute MODE`` makes one::

    from colorlab.distribute import Distribution

    distribution = Distribution("multi-worker")   # first: joins the other processes before anything computes
    dataset = PairDataset("corpus", "train", "course", batch_size=64, drop_remainder=True,
                          shard=distribution.shard)          # this process's rows of every global batch
    trainer = Trainer("course", "runs/course", distribute=distribution)

The modes (:data:`MODES`):

* ``"none"``: one device.
* ``"data-parallel"``: every accelerator of this machine (every CPU device when there is none), one process.
* ``"multi-worker"``: several processes, on one or several machines, each with its devices.

Data parallelism in both: every device holds all the weights and takes its slice of the global batch; the
gradients are averaged over the whole batch, so a step is the step one device would take on the whole batch, up to
float rounding (the sums run in another order, and each device computes on fewer examples at once).

On **JAX** this is Keras' distribution API: :class:`keras.distribution.DataParallel` over every device of every
process (a 1-D mesh, axis ``"batch"``) replicates each variable made under :meth:`Distribution.scope`, and
:meth:`Distribution.global_batch` turns each process's rows into one ``jax.Array`` sharded along the batch axis
(``jax.make_array_from_process_local_data``). ``jax.jit`` then compiles one program for all devices whose losses,
being means over the global batch, make XLA average the gradients across devices itself. ``"multi-worker"`` first
joins the processes with ``jax.distributed.initialize``, told the cluster by the variables
``keras.distribution.initialize`` reads: ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (``host:port`` of process 0, the
coordinator; or every process's, comma separated, process 0's first), ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
``KERAS_DISTRIBUTION_PROCESS_ID`` (0, 1, ...); on Slurm, Open MPI and Cloud TPU JAX finds them itself. JAX must not
have computed anything before. Nothing here imports TensorFlow.

On **TensorFlow** this is ``tf.distribute``: ``"data-parallel"`` is ``MirroredStrategy`` over every GPU (every
logical CPU when there is none), ``"multi-worker"`` is ``MultiWorkerMirroredStrategy``, whose cluster comes from the
``TF_CONFIG`` environment variable (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker",
"index": i}}``; a ``"chief"`` job, if any, is process 0). Models and optimizers are made under the strategy's scope
(mirrored variables) and :meth:`Distribution.global_batch` hands each replica its own slice
(``experimental_distribute_values_from_function``). TensorFlow must not have computed anything before either.

Every process prepares only its rows of each global batch (:attr:`Distribution.shard`, for a
:class:`colorlab.data.PairDataset`'s ``shard``), only the chief (process 0) writes checkpoints, logs, TensorBoard,
images and exports (:attr:`Distribution.is_chief`), and every process restores from the run's folder, which must
therefore be one that every process sees (a shared filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os

from colorlab.errors import ConfigError

__all__ = ["Distribution", "MODES", "JAX_CLUSTER_VARIABLES"]

#: The names :class:`Distribution` (and ``colorlab train --distribute``) accepts.
MODES = ("none", "data-parallel", "multi-worker")

#: The environment variables ``"multi-worker"`` reads on JAX (those of ``keras.distribution.initialize``).
JAX_CLUSTER_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                         "KERAS_DISTRIBUTION_PROCESS_ID")


class Distribution:
    """The devices and processes a training run uses, on the current Keras backend (TensorFlow or JAX).

    Args:
        mode: one of :data:`MODES`. ``"multi-worker"`` joins the cluster when it is made, so make the distribution
            before anything computes on the backend (see the module docstring for the environment variables).

    Attributes:
        mode: the mode's name.
        backend: ``"jax"`` or ``"tensorflow"``.
        strategy: TensorFlow: the ``tf.distribute.Strategy`` (None for ``"none"``).
        keras_distribution: JAX: the ``keras.distribution.DataParallel`` (None for ``"none"``).
        process_index, process_count: this process's number (0 is the chief) and how many there are.
        replicas: devices that each take a slice of the global batch (over all processes).

    Raises:
        ConfigError: an unknown mode, a backend other than TensorFlow or JAX, or ``"multi-worker"`` without its
            cluster description.
    """

    def __init__(self, mode: str = "none"):
        import keras

        if mode not in MODES:
            raise ConfigError(f"distribute must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.backend = keras.backend.backend()
        if self.backend not in ("jax", "tensorflow"):
            raise ConfigError(f"colorlab trains on the 'tensorflow' and 'jax' Keras backends, not {self.backend!r} "
                              "(set KERAS_BACKEND)")
        self.strategy = None
        self.keras_distribution = None
        self.process_index, self.process_count, self.replicas = 0, 1, 1
        if mode == "none":
            return
        if self.backend == "jax":
            import jax

            if mode == "multi-worker":
                _join_jax_cluster()
            self.keras_distribution = keras.distribution.DataParallel()
            self.process_index, self.process_count = jax.process_index(), jax.process_count()
            self.replicas = int(self.keras_distribution.device_mesh.devices.size)
        else:
            import tensorflow as tf

            if mode == "data-parallel":
                devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
                self.strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
            else:
                self.strategy = _multi_worker_strategy()
                self.process_index, self.process_count = _tf_process(self.strategy)
            self.replicas = int(self.strategy.num_replicas_in_sync)

    def __repr__(self) -> str:
        return (f"Distribution({self.mode!r}: {self.backend}, {self.replicas} replicas, process "
                f"{self.process_index} of {self.process_count})")

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run's files (process 0)."""
        return self.process_index == 0

    @property
    def shard(self) -> tuple[int, int]:
        """``(process_index, process_count)``: which rows of every global batch this process prepares."""
        return self.process_index, self.process_count

    def scope(self):
        """The context to make models and optimizers in, so that their variables are replicated."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()

    def check_batch_size(self, batch_size: int) -> None:
        """Raises ConfigError unless a global batch of ``batch_size`` splits evenly over the replicas."""
        if batch_size % self.replicas:
            raise ConfigError(f"a batch of {batch_size} cannot be split over {self.replicas} replicas: use a batch "
                              f"size that is a multiple of {self.replicas}")

    def global_batch(self, rows: dict) -> dict:
        """This process's rows of a batch -> the global batch, as the compiled step takes it.

        Args:
            rows: ``{name: (n, ...) array}``, this process's ``n = B / process_count`` rows of the global batch
                (rows ``process_index · n`` to ``(process_index + 1) · n``), e.g. from a sharded ``PairDataset``.

        Returns:
            ``rows`` itself for ``"none"``; on JAX, ``{name: (B, ...) jax.Array}`` sharded along the first axis over
            the mesh; on TensorFlow, ``{name: distributed value}`` whose every replica holds its ``(B / replicas,
            ...)`` slice.
        """
        if self.mode == "none":
            return rows
        first = next(iter(rows.values()))
        self.check_batch_size(int(first.shape[0]) * self.process_count)
        if self.keras_distribution is not None:
            import jax

            def place(array):
                layout = self.keras_distribution.get_data_layout(array.shape).backend_layout
                return jax.make_array_from_process_local_data(
                    layout, array, (array.shape[0] * self.process_count, *array.shape[1:]))

            return {name: place(array) for name, array in rows.items()}
        import tensorflow as tf

        local = len(self.strategy.extended.worker_devices)
        size = int(first.shape[0]) // local

        def slice_of(context):
            # Replicas are numbered process by process, `local` in each.
            k = context.replica_id_in_sync_group % local
            return {name: tf.convert_to_tensor(array[k * size:(k + 1) * size]) for name, array in rows.items()}

        return self.strategy.experimental_distribute_values_from_function(slice_of)


def _join_jax_cluster() -> None:
    """``jax.distributed.initialize`` from :data:`JAX_CLUSTER_VARIABLES`, read as ``keras.distribution.initialize``
    reads them. Not that function itself: it would also draw a global seed through ``keras.utils.set_random_seed``,
    which imports TensorFlow (the trainer seeds every process alike anyway)."""
    import jax

    addresses, count, index = (os.environ.get(name) or None for name in JAX_CLUSTER_VARIABLES)
    try:
        count, index = (None if value is None else int(value) for value in (count, index))
    except ValueError:
        raise ConfigError(f"{JAX_CLUSTER_VARIABLES[1]} and {JAX_CLUSTER_VARIABLES[2]} must be integers, got "
                          f"{os.environ.get(JAX_CLUSTER_VARIABLES[1])!r} and "
                          f"{os.environ.get(JAX_CLUSTER_VARIABLES[2])!r}") from None
    try:
        jax.distributed.initialize(coordinator_address=addresses.split(",")[0] if addresses else None,
                                   num_processes=count, process_id=index)
    except (ValueError, RuntimeError) as error:
        raise ConfigError(f"distribute 'multi-worker' on JAX could not join the cluster "
                          f"({' '.join(str(error).split())[:200]}): set {', '.join(JAX_CLUSTER_VARIABLES)}") from None


def _multi_worker_strategy():
    """``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (TensorFlow allows one per process: made once)."""
    global _MULTI_WORKER
    if _MULTI_WORKER is None:
        import tensorflow as tf

        text = os.environ.get("TF_CONFIG", "")
        try:
            cluster = json.loads(text)["cluster"] if text else None
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"TF_CONFIG is not a cluster description: {text[:200]!r}") from None
        if not cluster:
            raise ConfigError("distribute 'multi-worker' on TensorFlow needs TF_CONFIG, e.g. "
                              '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                              '"index": 0}}')
        _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy()
    return _MULTI_WORKER


_MULTI_WORKER = None


def _tf_process(strategy) -> tuple[int, int]:
    """``(index, count)`` of this process in a multi-worker cluster: the chief first (if any), then the workers."""
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    chiefs = len(jobs.get("chief", ()))
    index = int(resolver.task_id) + (chiefs if resolver.task_type == "worker" else 0)
    return index, chiefs + len(jobs.get("worker", ()))
