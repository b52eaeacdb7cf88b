"""The training loop: Gray2ColorNet and its patch discriminator, on TensorFlow or on JAX, with exact resume.

:class:`Trainer` holds the generator, the discriminator, their two Adam optimizers and the position in the data,
and :meth:`Trainer.fit` runs training steps on a :class:`colorlab.data.PairDataset`::

    from colorlab.data import PairDataset
    from colorlab.train import Trainer

    dataset = PairDataset("corpus", "train", "course", batch_size=64, drop_remainder=True)
    trainer = Trainer("course", "runs/course")
    trainer.restore()                    # continue from the last checkpoint, if there is one
    trainer.fit(dataset, steps=20_000)
    trainer.export_generator("runs/course/generator.weights.h5")

The same from a shell: ``colorlab train --config course --data corpus --steps 20000 --out runs/course --resume``.

How a step works (all of it is ours: the paper, Lu et al., ACM MM 2020, releases test code only)
--------------------------------------------------------------------------------------------------
One forward pass of the generator on the batch gives the colourings. From it:

* the **generator step** differentiates :func:`colorlab.losses.generator_loss` (the paper's five terms with the
  config's weights; the adversarial term through the discriminator, whose power-iteration vector is not moved)
  with respect to the generator's weights;
* the **discriminator step** differentiates :func:`colorlab.losses.discriminator_loss` on the ground truth (real)
  and on the same colourings, detached (fake), with respect to the discriminator's weights, in one call on both
  halves (so its spectral-norm power iteration advances once per step).

Both gradients are taken at the same weights, then each Adam applies its own (pix2pix's TensorFlow tutorial does
the same; it costs one generator pass per step instead of two). Adam with learning rate 2e-4 and β₁ = 0.5 for both
networks is pix2pix's (Isola et al., 2017), a standard start for a conditional GAN.

Backend-neutral by construction: the models are run with Keras 3's *stateless* API
(``model.stateless_call(trainable, non_trainable, inputs)`` returns the outputs and the new non-trainable values,
here the discriminator's power-iteration vectors), so the losses and gradients are the same code on every backend.
The backend-specific pieces are small: how a gradient is taken (:func:`_grad_fn`: ``jax.value_and_grad`` on JAX,
``tf.GradientTape`` on TensorFlow), how the step is compiled (``jax.jit`` / ``tf.function``) and how the update is
applied. On JAX ``optimizer.stateless_apply`` makes the whole step a pure function ``(state, batch) -> (new state,
losses)``; the state lives in that tuple of arrays during :meth:`fit` and is written back into the Keras variables
to checkpoint, export or evaluate (:meth:`Trainer.sync`). On TensorFlow, Keras 3.15 refuses ``stateless_apply``
(it does not mix with ``tf.distribute``), so ``optimizer.apply`` updates the variables in place inside the step.

Precision: ``mixed_precision="auto"`` is ``"mixed_bfloat16"`` when the backend sees a GPU or TPU (bfloat16
arithmetic, float32 weights; bfloat16 has float32's exponent range, so no loss scaling is needed), and float32
on a CPU, where bfloat16 is slow. The losses are always computed in float32 (the outputs are cast first).

Logs: every ``log_every`` steps the mean of each loss term over the last steps, the discriminator's loss and the
throughput (images per second) go to ``out_dir/metrics.csv`` and ``out_dir/metrics.jsonl`` (always: a JAX machine
has no TensorFlow) and to TensorBoard event files in ``out_dir/tensorboard`` when TensorFlow can be imported.
Every ``image_every`` steps a grid (rows: examples; columns: gray input | output | reference | ground truth) goes
to ``out_dir/images/step_NNNNNNNN.png`` and to TensorBoard.

Checkpoints (every ``checkpoint_every`` steps and at the end of :meth:`fit`) are folders
``out_dir/checkpoints/step_NNNNNNNN/`` holding ``generator.weights.h5``, ``discriminator.weights.h5``,
``optimizers.npz`` (every Adam variable, including its step count) and ``state.json`` (the step, the data position
— epoch and batch index of the :class:`~colorlab.data.PairDataset` — the seed and the config). A folder is written
under a temporary name and renamed into place, so a run killed mid-write never leaves a half checkpoint; the last
two are kept. Because a :class:`~colorlab.data.PairDataset` batch is a pure function of (seed, epoch, index) and
the step is a pure function of the state, :meth:`restore` resumes *exactly*: N steps, a restart, then N more give
the same weights as 2N steps in one go (bitwise on a CPU with ``keras.utils.set_random_seed`` and, on TensorFlow,
``tf.config.experimental.enable_op_determinism()``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import pathlib
import shutil
import tempfile
import time
from typing import Any

import numpy as np

from colorlab.errors import CheckpointError, ConfigError

__all__ = ["Trainer", "CheckpointError", "PRECISIONS", "resolve_precision", "list_checkpoints", "image_grid",
           "METRIC_COLUMNS"]

#: The precision policies :class:`Trainer` accepts (``"auto"`` picks one of the other two).
PRECISIONS = ("auto", "float32", "mixed_bfloat16")

#: The columns of ``metrics.csv`` (a term the config does not compute, e.g. classification without a head,
#: is left empty).
METRIC_COLUMNS = ("step", "epoch", "batch", "loss", "reconstruction", "histogram", "classification", "adversarial",
                  "tv", "d_loss", "img_per_s", "elapsed_s")

_CHECKPOINT_PREFIX = "step_"
#: Config fields that do not shape the generator: :meth:`Trainer.load_generator` lets them differ.
_NOT_GENERATOR_FIELDS = ("name", "loss_weights", "disc_width", "disc_layers")
_KEEP = 2


# ------------------------------------------------------------------------------------------------- helpers
def _backend() -> str:
    import keras

    return keras.backend.backend()


def _has_accelerator() -> bool:
    """Whether the current Keras backend computes on a GPU/TPU (asked of the backend, never assumed)."""
    backend = _backend()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return False


def resolve_precision(mixed_precision: str | bool | None = "auto") -> str:
    """The dtype policy name a :class:`Trainer` uses.

    Args:
        mixed_precision: ``"auto"`` (``"mixed_bfloat16"`` on a GPU/TPU, ``"float32"`` on a CPU), ``"float32"``
            (also ``False``/``None``) or ``"mixed_bfloat16"`` (also ``True``).

    Raises:
        ConfigError: any other value.
    """
    if mixed_precision is None or mixed_precision is False:
        return "float32"
    if mixed_precision is True:
        return "mixed_bfloat16"
    if mixed_precision not in PRECISIONS:
        raise ConfigError(f"mixed_precision must be one of {PRECISIONS}, got {mixed_precision!r}")
    if mixed_precision == "auto":
        return "mixed_bfloat16" if _has_accelerator() else "float32"
    return mixed_precision


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Layers take the global dtype policy when they are created: set it for the build, then put it back."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _grad_fn(loss_fn, params):
    """``((value, aux), grads)`` of ``loss_fn(params) -> (scalar, aux)`` with respect to ``params`` (a list).

    The one backend-specific piece of the training step: ``jax.value_and_grad`` on JAX, ``tf.GradientTape`` on
    TensorFlow. A parameter the loss does not reach gets a zero gradient.
    """
    backend = _backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(loss_fn, has_aux=True)(params)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(params)
            value, aux = loss_fn(params)
        grads = tape.gradient(value, params, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return (value, aux), grads
    raise ConfigError(f"colorlab.train supports the 'tensorflow' and 'jax' Keras backends, not {backend!r} "
                      "(set KERAS_BACKEND)")


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"Trainer: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_rate(name: str, value, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0 \
            or (upper is not None and value >= upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise ConfigError(f"Trainer: {name} must be a finite number > 0{bound}, got {value!r}")
    return float(value)


def _to_numpy(x) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x))


def list_checkpoints(out_dir: str | os.PathLike) -> list[pathlib.Path]:
    """The complete checkpoint folders of a run, oldest first (``out_dir/checkpoints/step_NNNNNNNN``)."""
    folder = pathlib.Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        name = path.name
        if path.is_dir() and name.startswith(_CHECKPOINT_PREFIX) and name[len(_CHECKPOINT_PREFIX):].isdigit() \
                and (path / "state.json").is_file():
            found.append((int(name[len(_CHECKPOINT_PREFIX):]), path))
    return [path for _, path in sorted(found)]


def image_grid(target_l, output_ab, reference_lab, target_ab, max_rows: int = 4) -> np.ndarray:
    """The picture logged during training: one row per example, columns gray | output | reference | truth.

    Args:
        target_l: ``(N, H, W, 1)``, L/50 − 1.
        output_ab, target_ab: ``(N, H, W, 2)``, ab/110.
        reference_lab: ``(N, h, w, 3)``, (L/50 − 1, a/110, b/110); resized (nearest) to H × W if it differs.
        max_rows: at most this many examples.

    Returns:
        ``(rows·H, 4·W, 3)`` float32 sRGB in [0, 1].
    """
    from colorlab import color

    target_l = np.asarray(target_l, np.float32)[:max_rows]
    n, height, width = target_l.shape[:3]
    reference_lab = np.asarray(reference_lab, np.float32)[:n]
    if reference_lab.shape[1:3] != (height, width):
        rows = (np.arange(height) * reference_lab.shape[1]) // height
        cols = (np.arange(width) * reference_lab.shape[2]) // width
        reference_lab = reference_lab[:, rows][:, :, cols]

    def rgb(l, ab):
        lab = color.denormalize_lab(np.concatenate([l, np.asarray(ab, np.float32)[:n]], axis=-1))
        return np.clip(_to_numpy(color.lab_to_rgb(np.asarray(_to_numpy(lab), np.float32))), 0.0, 1.0)

    columns = [rgb(target_l, np.zeros((n, height, width, 2), np.float32)), rgb(target_l, output_ab),
               rgb(reference_lab[..., :1], reference_lab[..., 1:]), rgb(target_l, target_ab)]
    return np.concatenate([np.concatenate([c[i] for c in columns], axis=1) for i in range(n)],
                          axis=0).astype(np.float32)


def _tb_metadata(plugin: str):
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))


def _tb_scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar through ``tf.summary.write`` (``tf.summary.scalar`` needs the ``tensorboard``
    package, which TensorFlow does not always bring; this writes the same record without it)."""
    import tensorflow as tf

    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=_tb_metadata("scalars"))


def _tb_image(tag: str, pixels: np.ndarray, step: int) -> None:
    """A TensorBoard image (``(H, W, 3)`` uint8) in the images plugin's format: ``[width, height, PNG bytes]``."""
    import tensorflow as tf

    png = tf.io.encode_png(tf.constant(pixels, tf.uint8))
    value = tf.stack([tf.constant(str(pixels.shape[1])), tf.constant(str(pixels.shape[0])), png])
    tf.summary.write(tag, value, step=step, metadata=_tb_metadata("images"))


def _write_atomic(path: pathlib.Path, write) -> None:
    """Calls ``write(temporary_path)`` then renames the file into place (same folder: an atomic replace)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


# ------------------------------------------------------------------------------------------------- trainer
class Trainer:
    """Trains a Gray2ColorNet and its patch discriminator (see the module docstring for the step and the files).

    Args:
        config: a :class:`colorlab.models.Gray2ColorConfig` or a config name (``"tiny"``, ``"course"``,
            ``"paper"``).
        out_dir: the run's folder (created): checkpoints, metrics, TensorBoard logs, image grids.
        learning_rate, beta_1: Adam's, for both networks (pix2pix's 2e-4 and 0.5).
        seed: seeds Keras (``keras.utils.set_random_seed``) before the networks are created, so the initial
            weights are a function of it.
        checkpoint_every, log_every, image_every: in steps (0 switches images off).
        mixed_precision: ``"auto"``, ``"float32"`` or ``"mixed_bfloat16"`` (see :func:`resolve_precision`).
        distribute: ``None`` (one device), ``"mirrored"`` (TensorFlow: ``tf.distribute.MirroredStrategy`` over
            every logical GPU, or every logical CPU when there is no GPU) or a ``tf.distribute.Strategy``. Each
            replica computes the gradients of its slice of the batch; they are averaged across replicas
            (all-reduce) and applied once. The batch size must be a multiple of the number of replicas.
        compile: compile the step (``jax.jit`` / ``tf.function``). ``False`` runs it eagerly on TensorFlow: slower
            per step, but it skips the tracing (about 10 s for ``tiny`` on a 2-core CPU, measured), which wins for
            a handful of steps (tests, demos). JAX always compiles.
        adversarial_kind: the GAN objective, one of :data:`colorlab.losses.ADVERSARIAL_KINDS` (default BCE).
        progress: show a ``tqdm`` progress bar in :meth:`fit`.

    Attributes:
        generator, discriminator: the Keras models (their variables are up to date after :meth:`fit`).
        step: optimisation steps done. epoch, batch_index: where the next batch comes from.
        precision: the dtype policy in use. replicas: number of replicas (1 without ``distribute``).

    Raises:
        ConfigError: a bad argument, or a backend other than TensorFlow or JAX.
    """

    def __init__(self, config, out_dir: str | os.PathLike, *, learning_rate: float = 2e-4, beta_1: float = 0.5,
                 seed: int = 0, checkpoint_every: int = 500, log_every: int = 50, image_every: int = 500,
                 mixed_precision: str | bool | None = "auto", distribute=None, compile: bool = True,
                 adversarial_kind: str = "bce", progress: bool = True):
        import keras

        from colorlab import losses
        from colorlab.models import Gray2ColorConfig, PatchDiscriminator, build_gray2colornet, get_config

        self.backend = _backend()
        if self.backend not in ("tensorflow", "jax"):
            raise ConfigError(f"colorlab.train supports the 'tensorflow' and 'jax' Keras backends, not "
                              f"{self.backend!r} (set KERAS_BACKEND)")
        if isinstance(config, str):
            config = get_config(config)
        if not isinstance(config, Gray2ColorConfig):
            raise ConfigError(f"Trainer needs a Gray2ColorConfig or a config name, got {config!r}")
        self.config = config
        self.out_dir = pathlib.Path(out_dir).expanduser()
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"Trainer: out_dir {self.out_dir} exists and is not a folder")
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        self.beta_1 = _check_rate("beta_1", beta_1, upper=1.0)
        self.seed = _check_int("seed", seed, minimum=0)
        self.checkpoint_every = _check_int("checkpoint_every", checkpoint_every)
        self.log_every = _check_int("log_every", log_every)
        self.image_every = _check_int("image_every", image_every, minimum=0)
        if adversarial_kind not in losses.ADVERSARIAL_KINDS:
            raise ConfigError(f"Trainer: adversarial_kind must be one of {losses.ADVERSARIAL_KINDS}, "
                              f"got {adversarial_kind!r}")
        self.adversarial_kind = adversarial_kind
        self.loss_weights = losses.LossWeights.from_model_config(config)
        self.precision = resolve_precision(mixed_precision)
        self.strategy = self._make_strategy(distribute)
        self.replicas = 1 if self.strategy is None else int(self.strategy.num_replicas_in_sync)
        self.compile = bool(compile) or self.backend == "jax"
        self.progress = bool(progress)

        keras.utils.set_random_seed(self.seed)
        with _dtype_policy(self.precision):
            self.generator = build_gray2colornet(config)
            self.discriminator = PatchDiscriminator.from_model_config(config)
            self.discriminator(keras.KerasTensor((1, config.image_size, config.image_size, 3)))
        self.g_optimizer = keras.optimizers.Adam(self.learning_rate, beta_1=self.beta_1, name="generator_adam")
        self.d_optimizer = keras.optimizers.Adam(self.learning_rate, beta_1=self.beta_1, name="discriminator_adam")
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

        self.step = 0
        self.epoch = 0
        self.batch_index = 0
        self._state = None          # the arrays of the training state while they are newer than the variables
        self._step_fn = None
        self._predict_fn = None
        self._summary_writer = None

    # ---------------------------------------------------------------------------------------- distribution
    def _make_strategy(self, distribute):
        if distribute is None or distribute is False:
            return None
        if self.backend != "tensorflow":
            raise ConfigError("Trainer: distribute needs the TensorFlow backend (tf.distribute); on JAX, one "
                              "device per run (set KERAS_BACKEND=tensorflow to use several)")
        import tensorflow as tf

        if isinstance(distribute, tf.distribute.Strategy):
            return distribute
        if distribute != "mirrored":
            raise ConfigError(f"Trainer: distribute must be None, 'mirrored' or a tf.distribute.Strategy, "
                              f"got {distribute!r}")
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])

    # ---------------------------------------------------------------------------------------- state
    def _variables(self):
        g, d = self.generator, self.discriminator
        return (g.trainable_variables, g.non_trainable_variables, d.trainable_variables,
                d.non_trainable_variables, self.g_optimizer.variables, self.d_optimizer.variables)

    def _pull(self):
        """The training state as arrays, read from the Keras variables."""
        from keras import ops

        if self.backend != "jax":   # TensorFlow: the variables are the state (read afresh, also inside a graph)
            return tuple([ops.convert_to_tensor(v.value) for v in group] for group in self._variables())
        if self._state is None:
            self._state = tuple([ops.convert_to_tensor(ops.copy(v.value)) for v in group]
                                for group in self._variables())
        return self._state

    def _push(self) -> None:
        """Writes the training state back into the Keras variables (before saving, exporting, predicting)."""
        if self._state is None:
            return
        for group, values in zip(self._variables(), self._state):
            for variable, value in zip(group, values):
                variable.assign(value)
        self._state = None

    def sync(self) -> None:
        """Makes ``generator`` / ``discriminator`` (and the optimizers) hold the latest weights."""
        self._push()

    # ---------------------------------------------------------------------------------------- the step
    def _gradients(self, state, batch):
        """Loss values and gradients of both networks at ``state`` for one batch (or one replica's slice)."""
        from keras import ops

        from colorlab import losses

        g_tv, g_ntv, d_tv, d_ntv = state[:4]
        target_l = batch["target_l"]
        target_ab = batch["target_ab"]
        reference_lab = batch["reference_lab"]
        labels = batch["label"]
        generator, discriminator = self.generator, self.discriminator

        def generator_loss(params):
            outputs, new_g_ntv = generator.stateless_call(params, g_ntv, [target_l, reference_lab], training=True)
            outputs = {key: ops.cast(value, "float32") for key, value in outputs.items()}
            fake_logits, _ = discriminator.stateless_call(d_tv, d_ntv, [target_l, outputs["ab"]], training=False)
            total, terms = losses.generator_loss(outputs, target_ab, reference_lab[..., 1:], labels,
                                                 ops.cast(fake_logits, "float32"), self.loss_weights,
                                                 adversarial_kind=self.adversarial_kind)
            return total, (terms, outputs["ab"], new_g_ntv)

        (g_total, (terms, fake_ab, new_g_ntv)), g_grads = _grad_fn(generator_loss, list(g_tv))
        fake_ab = ops.stop_gradient(fake_ab)
        n = ops.shape(target_l)[0]
        pair = ops.concatenate([ops.concatenate([target_l, target_ab], axis=-1),
                                ops.concatenate([target_l, fake_ab], axis=-1)], axis=0)

        def discriminator_loss(params):
            logits, new_d_ntv = discriminator.stateless_call(params, d_ntv, pair, training=True)
            logits = ops.cast(logits, "float32")
            return losses.discriminator_loss(logits[:n], logits[n:], self.adversarial_kind), new_d_ntv

        (d_loss, new_d_ntv), d_grads = _grad_fn(discriminator_loss, list(d_tv))
        metrics = {"loss": g_total, **{name: ops.cast(value, "float32") for name, value in terms.items()},
                   "d_loss": d_loss}
        return list(g_grads), list(d_grads), list(new_g_ntv), list(new_d_ntv), metrics

    def _apply(self, state, g_grads, d_grads, new_g_ntv, new_d_ntv):
        g_tv, _, d_tv, _, g_ov, d_ov = state
        new_g_tv, new_g_ov = self.g_optimizer.stateless_apply(list(g_ov), g_grads, list(g_tv))
        new_d_tv, new_d_ov = self.d_optimizer.stateless_apply(list(d_ov), d_grads, list(d_tv))
        return (list(new_g_tv), new_g_ntv, list(new_d_tv), new_d_ntv, list(new_g_ov), list(new_d_ov))

    def _replica_gradients(self, state, batch):
        """Under a tf.distribute strategy: gradients of each replica's slice, averaged over the replicas."""
        import tensorflow as tf

        strategy = self.strategy
        n = int(batch["target_l"].shape[0])
        if n % self.replicas:
            raise ConfigError(f"Trainer: a batch of {n} cannot be split over {self.replicas} replicas; use a "
                              f"batch size that is a multiple of {self.replicas} (and drop_remainder=True)")
        per = n // self.replicas

        def replica_fn(state, batch):
            index = tf.distribute.get_replica_context().replica_id_in_sync_group
            shard = {key: value[index * per:(index + 1) * per] for key, value in batch.items()}
            return self._gradients(state, shard)

        results = strategy.run(replica_fn, args=(state, batch))
        mean = tf.distribute.ReduceOp.MEAN
        g_grads, d_grads, _, _, metrics = strategy.reduce(
            mean, (results[0], results[1], [], [], results[4]), axis=None)
        # The power-iteration vectors depend on the weights only (not the data): every replica has the same ones.
        first = lambda values: [strategy.experimental_local_results(v)[0] for v in values]  # noqa: E731
        return list(g_grads), list(d_grads), first(results[2]), first(results[3]), metrics

    def _train_step(self, state, batch):
        """JAX: the pure step ``(state, batch) -> (new state, losses)``."""
        g_grads, d_grads, new_g_ntv, new_d_ntv, metrics = self._gradients(state, batch)
        return self._apply(state, g_grads, d_grads, new_g_ntv, new_d_ntv), metrics

    def _tf_train_step(self, batch):
        """TensorFlow: the same step, but the optimizers update the variables in place.

        Keras 3.15 refuses ``optimizer.stateless_apply`` on TensorFlow (it would not mix with tf.distribute), so
        here the state is read from the variables, the gradients come from the same stateless
        :meth:`_gradients`, and ``optimizer.apply`` writes the new weights.
        """
        state = self._pull()
        if self.strategy is None:
            g_grads, d_grads, new_g_ntv, new_d_ntv, metrics = self._gradients(state, batch)
        else:
            g_grads, d_grads, new_g_ntv, new_d_ntv, metrics = self._replica_gradients(state, batch)
        self.g_optimizer.apply(g_grads, self.generator.trainable_variables)
        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
        for variables, values in ((self.generator.non_trainable_variables, new_g_ntv),
                                  (self.discriminator.non_trainable_variables, new_d_ntv)):
            for variable, value in zip(variables, values):
                variable.assign(value)
        return metrics

    def _compiled(self):
        if self._step_fn is None:
            if self.backend == "jax":
                import jax

                self._step_fn = jax.jit(self._train_step)
            elif self.compile:
                import tensorflow as tf

                self._step_fn = tf.function(self._tf_train_step, reduce_retracing=True)
            else:
                self._step_fn = self._tf_train_step
        return self._step_fn

    @staticmethod
    def _batch_dict(batch) -> dict:
        """``(inputs, targets)`` from a PairDataset (or one dict) -> one dict of arrays."""
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            merged = {**batch[0], **batch[1]}
        elif isinstance(batch, dict):
            merged = dict(batch)
        else:
            raise ConfigError("Trainer: a batch must be (inputs, targets) dicts as PairDataset gives, or one dict")
        missing = sorted({"target_l", "reference_lab", "target_ab", "label"} - set(merged))
        if missing:
            raise ConfigError(f"Trainer: the batch lacks {missing} (PairDataset batches have target_l, "
                              "reference_lab, target_ab and label)")
        out = {key: np.asarray(merged[key], np.float32) for key in ("target_l", "reference_lab", "target_ab")}
        out["label"] = np.asarray(merged["label"], np.int32)
        return out

    def train_step(self, batch) -> dict[str, float]:
        """One optimisation step (both networks) on one batch; returns the losses as floats.

        Args:
            batch: ``(inputs, targets)`` as :class:`~colorlab.data.PairDataset` gives:
                ``{"target_l": (N, S, S, 1), "reference_lab": (N, R, R, 3)}``, ``{"target_ab": (N, S, S, 2),
                "label": (N,)}`` (or one dict with the four keys).

        Does not move the data position (:meth:`fit` does).
        """
        metrics = self._run_step(self._batch_dict(batch))
        return {key: float(_to_numpy(value)) for key, value in metrics.items()}

    def _run_step(self, batch: dict):
        if self.backend == "jax":
            new_state, metrics = self._compiled()(self._pull(), batch)
            self._state = tuple(list(group) for group in new_state)
        else:
            metrics = self._compiled()(batch)
        self.step += 1
        return metrics

    def gradients(self, batch) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, float]]:
        """The gradients one step would apply (averaged over replicas when distributed), without applying them.

        Returns:
            ``(generator_grads, discriminator_grads, losses)``: NumPy arrays in the order of the models'
            ``trainable_variables``, and the losses as floats.
        """
        batch = self._batch_dict(batch)
        state = self._pull()
        if self.strategy is None:
            g, d, _, _, metrics = self._gradients(state, batch)
        else:
            import tensorflow as tf

            replica_gradients = tf.function(self._replica_gradients) if self.compile else self._replica_gradients
            g, d, _, _, metrics = replica_gradients(state, batch)
        return ([_to_numpy(x) for x in g], [_to_numpy(x) for x in d],
                {key: float(_to_numpy(value)) for key, value in metrics.items()})

    # ---------------------------------------------------------------------------------------- fit
    def fit(self, dataset, steps: int) -> list[dict]:
        """Trains for ``steps`` steps from the current position, logging and checkpointing on the way.

        Args:
            dataset: a :class:`colorlab.data.PairDataset` (anything with ``len()`` and ``batch(index, epoch)``:
                the position is then exact and resumable); the epochs roll over automatically.
            steps: how many steps to run now (>= 1).

        Build the dataset with ``drop_remainder=True`` so that every step has the same batch shape: a smaller last
        batch of an epoch makes ``jax.jit`` / ``tf.function`` compile the step once more. The batch size must be a
        multiple of the number of replicas when ``distribute`` is set.

        Returns:
            The rows logged during this call (each a dict with :data:`METRIC_COLUMNS` keys present).

        Writes a checkpoint every ``checkpoint_every`` steps and one at the end.
        """
        steps = _check_int("steps", steps)
        if not (hasattr(dataset, "batch") and hasattr(dataset, "__len__")):
            raise ConfigError("Trainer.fit needs a PairDataset (or an object with len() and batch(index, epoch))")
        per_epoch = len(dataset)
        if per_epoch < 1:
            raise ConfigError("Trainer.fit: the dataset has no batches")
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        self.out_dir.mkdir(parents=True, exist_ok=True)
        rows: list[dict] = []
        window: list[dict] = []
        images = 0
        started = window_start = time.perf_counter()
        bar = tqdm(total=steps, desc="training", unit="step", disable=not self.progress, dynamic_ncols=True)

        def position(offset):
            index = self.batch_index + offset
            return self.epoch + index // per_epoch, index % per_epoch

        # Loading (JPEG decoding, Lab conversion) of the next batch overlaps with this step.
        with ThreadPoolExecutor(max_workers=1) as pool:
            upcoming = pool.submit(dataset.batch, *reversed(position(0)))
            for count in range(steps):
                batch = self._batch_dict(upcoming.result())
                if count + 1 < steps:
                    upcoming = pool.submit(dataset.batch, *reversed(position(1)))
                window.append(self._run_step(batch))
                images += batch["target_l"].shape[0]
                self.epoch, self.batch_index = position(1)
                if hasattr(dataset, "set_epoch"):
                    dataset.set_epoch(self.epoch)
                last = count + 1 == steps
                if self.step % self.log_every == 0 or last:
                    now = time.perf_counter()
                    row = self._log(window, images / max(now - window_start, 1e-9), now - started)
                    rows.append(row)
                    bar.set_postfix({k: f"{row[k]:.3g}" for k in ("loss", "d_loss", "img_per_s")})
                    window, images, window_start = [], 0, time.perf_counter()
                if self.image_every and self.step % self.image_every == 0:
                    self.log_images(batch)
                if self.step % self.checkpoint_every == 0 or last:
                    self.save_checkpoint()
                bar.update(1)
        bar.close()
        if self._summary_writer is not None:
            self._summary_writer.flush()
        return rows

    # ---------------------------------------------------------------------------------------- logging
    def _log(self, window: list[dict], img_per_s: float, elapsed: float) -> dict:
        means = {key: float(np.mean([_to_numpy(m[key]) for m in window])) for key in window[-1]}
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "batch": self.batch_index, **means,
                               "img_per_s": float(img_per_s), "elapsed_s": float(elapsed)}
        csv_path = self.out_dir / "metrics.csv"
        new = not csv_path.exists()
        with open(csv_path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS, restval="")
            if new:
                writer.writeheader()
            writer.writerow({key: row.get(key, "") for key in METRIC_COLUMNS})
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            with writer.as_default(step=self.step):
                for key, value in means.items():
                    _tb_scalar(("generator/" + key) if key not in ("loss", "d_loss") else key, value, self.step)
                _tb_scalar("img_per_s", img_per_s, self.step)
        return row

    def _tensorboard(self):
        """A ``tf.summary`` writer on ``out_dir/tensorboard``, or None when TensorFlow cannot be imported."""
        if self._summary_writer is None:
            try:
                import tensorflow as tf
            except ImportError:
                self._summary_writer = False
            else:
                if self.backend != "tensorflow":
                    # Only the log writer uses TensorFlow here: keep it off the GPU, which JAX owns (otherwise
                    # TensorFlow would reserve most of the GPU's memory for itself).
                    with contextlib.suppress(RuntimeError):   # raised when TF's devices are already set up
                        tf.config.set_visible_devices([], "GPU")
                self._summary_writer = tf.summary.create_file_writer(str(self.out_dir / "tensorboard"))
        return self._summary_writer or None

    def predict_ab(self, target_l, reference_lab) -> np.ndarray:
        """The generator's ab (model units) for a batch, at the latest weights, as float32 NumPy."""
        target_l, reference_lab = np.asarray(target_l, np.float32), np.asarray(reference_lab, np.float32)
        if self.backend == "jax":   # compiled: op-by-op JAX is slow, and the state need not be written back
            if self._predict_fn is None:
                import jax

                generator = self.generator

                def predict(g_tv, g_ntv, target_l, reference_lab):
                    outputs, _ = generator.stateless_call(g_tv, g_ntv, [target_l, reference_lab], training=False)
                    return outputs["ab"]

                self._predict_fn = jax.jit(predict)
            state = self._pull()
            return _to_numpy(self._predict_fn(state[0], state[1], target_l, reference_lab)).astype(np.float32)
        outputs = self.generator([target_l, reference_lab], training=False)
        return _to_numpy(outputs["ab"]).astype(np.float32)

    def log_images(self, batch) -> pathlib.Path:
        """Writes the :func:`image_grid` of a batch to ``out_dir/images/step_NNNNNNNN.png`` (and TensorBoard)."""
        from PIL import Image

        batch = self._batch_dict(batch)
        grid = image_grid(batch["target_l"], self.predict_ab(batch["target_l"], batch["reference_lab"]),
                          batch["reference_lab"], batch["target_ab"])
        folder = self.out_dir / "images"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step_{self.step:08d}.png"
        pixels = np.round(grid * 255.0).astype(np.uint8)
        _write_atomic(path, lambda temporary: Image.fromarray(pixels).save(temporary, format="PNG"))
        writer = self._tensorboard()
        if writer is not None:
            with writer.as_default(step=self.step):
                _tb_image("gray | output | reference | ground truth", pixels, self.step)
        return path

    # ---------------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> pathlib.Path:
        """Writes ``out_dir/checkpoints/step_NNNNNNNN/`` atomically and keeps the last two; returns its path."""
        self._push()
        folder = self.out_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{_CHECKPOINT_PREFIX}{self.step:08d}"
        temporary = pathlib.Path(tempfile.mkdtemp(dir=folder, prefix=f".{final.name}."))
        try:
            self.generator.save_weights(temporary / "generator.weights.h5")
            self.discriminator.save_weights(temporary / "discriminator.weights.h5")
            arrays = {}
            for prefix, optimizer in (("g", self.g_optimizer), ("d", self.d_optimizer)):
                for index, variable in enumerate(optimizer.variables):
                    arrays[f"{prefix}_{index:05d}"] = _to_numpy(variable.value)
            np.savez(temporary / "optimizers.npz", **arrays)
            state = {"step": self.step, "epoch": self.epoch, "batch_index": self.batch_index, "seed": self.seed,
                     "backend": self.backend, "precision": self.precision, "config": self.config.to_dict()}
            (temporary / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(temporary, final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        for old in list_checkpoints(self.out_dir)[:-_KEEP]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def restore(self, checkpoint: str | os.PathLike | None = None) -> int:
        """Loads a checkpoint (default: the latest in ``out_dir``): weights, optimizer state, step, data position.

        Returns:
            The restored step, or 0 when ``checkpoint`` is None and ``out_dir`` has no checkpoint (nothing done).

        Raises:
            CheckpointError: the checkpoint is missing or incomplete, or was written for another config.
        """
        if checkpoint is None:
            found = list_checkpoints(self.out_dir)
            if not found:
                return 0
            checkpoint = found[-1]
        path = pathlib.Path(checkpoint)
        names = ("state.json", "generator.weights.h5", "discriminator.weights.h5", "optimizers.npz")
        missing = [name for name in names if not (path / name).is_file()]
        if missing:
            raise CheckpointError(f"{path}: not a complete checkpoint (missing {', '.join(missing)})")
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        except ValueError as error:
            raise CheckpointError(f"{path / 'state.json'}: unreadable ({error})") from None
        if state.get("config") != self.config.to_dict():
            raise CheckpointError(f"{path}: written for config {state.get('config', {}).get('name')!r} with other "
                                  f"settings than this trainer's {self.config.name!r}")
        self._state = None
        try:
            self.generator.load_weights(path / "generator.weights.h5")
            self.discriminator.load_weights(path / "discriminator.weights.h5")
        except (ValueError, OSError) as error:
            raise CheckpointError(f"{path}: the weights do not load ({' '.join(str(error).split())[:200]})") from None
        with np.load(path / "optimizers.npz") as arrays:
            for prefix, optimizer in (("g", self.g_optimizer), ("d", self.d_optimizer)):
                for index, variable in enumerate(optimizer.variables):
                    key = f"{prefix}_{index:05d}"
                    if key not in arrays or tuple(arrays[key].shape) != tuple(variable.shape):
                        raise CheckpointError(f"{path / 'optimizers.npz'}: {key} is missing or has another shape")
                    variable.assign(arrays[key])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_index = int(state["batch_index"])
        self._truncate_logs()
        return self.step

    def load_generator(self, weights: str | os.PathLike) -> None:
        """Starts the generator from exported weights (fine-tuning), e.g. the demo weights or a run's export.

        Only the generator's weights are loaded: the discriminator and both optimizers keep their fresh state, and
        the step stays where it is. Call it before :meth:`fit` on a new run (a checkpoint restored later replaces
        these weights). The fine-tune may use other loss weights (and another discriminator) than the run that
        made the weights: only the fields that shape the generator have to match.

        Args:
            weights: a ``.weights.h5`` file with its ``.json`` config beside it (what :meth:`export_generator`
                writes).

        Raises:
            CheckpointError: the file is missing, was written for a generator of another shape, or does not load.
        """
        from colorlab.inference import _read_config

        path = pathlib.Path(weights).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: no such weights file")
        try:
            config = _read_config(path)
        except ConfigError as error:
            raise CheckpointError(str(error)) from None
        theirs, ours = config.to_dict(), self.config.to_dict()
        differ = [f"{key} {theirs[key]!r} (this trainer: {ours[key]!r})" for key in ours
                  if key not in _NOT_GENERATOR_FIELDS and theirs[key] != ours[key]]
        if differ:
            raise CheckpointError(f"{path}: written for a generator of config {config.name!r}, not this trainer's "
                                  f"{self.config.name!r}: {', '.join(differ)} (pass the same --config)")
        self._push()
        try:
            self.generator.load_weights(path)
        except (ValueError, OSError) as error:
            raise CheckpointError(f"{path}: the weights do not load ({' '.join(str(error).split())[:200]})") from None

    def _truncate_logs(self) -> None:
        """Drops log rows after the restored step (a killed run may have logged past its last checkpoint)."""
        csv_path, jsonl_path = self.out_dir / "metrics.csv", self.out_dir / "metrics.jsonl"
        if csv_path.exists():
            with open(csv_path, newline="", encoding="utf-8") as handle:
                rows = [row for row in csv.DictReader(handle) if row.get("step", "").isdigit()
                        and int(row["step"]) <= self.step]

            def write_csv(temporary):
                with open(temporary, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS, restval="")
                    writer.writeheader()
                    writer.writerows(rows)

            _write_atomic(csv_path, write_csv)
        if jsonl_path.exists():
            lines = [line for line in jsonl_path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and json.loads(line).get("step", 0) <= self.step]
            _write_atomic(jsonl_path, lambda t: pathlib.Path(t).write_text(
                "".join(line + "\n" for line in lines), encoding="utf-8"))

    # ---------------------------------------------------------------------------------------- export
    def export_generator(self, path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
        """Writes the generator's weights (``.weights.h5``) and, beside them, its config as JSON.

        Args:
            path: ends with ``.weights.h5`` (e.g. ``runs/course/generator.weights.h5``); the config goes to the
                same name with ``.json`` instead (``runs/course/generator.json``).

        Returns:
            ``(weights_path, config_path)``; the JSON holds ``{"config": Gray2ColorConfig.to_dict()}``, the format
            :func:`colorlab.colorize` reads (``colorize(target, reference, weights=weights_path)``), on any backend.
        """
        path = pathlib.Path(path)
        if not path.name.endswith(".weights.h5"):
            raise ConfigError(f"export_generator: {path} must end with '.weights.h5' (Keras' weights format)")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._push()
        config_path = path.with_name(path.name[:-len(".weights.h5")] + ".json")
        # Keras checks the suffix of the file name, so the temporary file keeps '.weights.h5'.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export.", suffix=".weights.h5")
        os.close(handle)
        os.remove(temporary)
        try:
            self.generator.save_weights(temporary)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.remove(temporary)
        _write_atomic(config_path, lambda t: pathlib.Path(t).write_text(
            json.dumps({"config": self.config.to_dict()}, indent=1), encoding="utf-8"))
        return path, config_path

