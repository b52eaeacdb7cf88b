"""The training loop: Gray2ColorNet and its patch discriminator, on TensorFlow or on JAX, with exact resume.

A :class:`TrainingRecipe` says what shapes a run's weights and data stream (config, batch size, seed, Adam's
settings, the pair mix, the precision, the GAN objective, the weights a fine-tune starts from). :class:`Trainer`
holds the generator, the discriminator, their two Adam optimizers and the position in the data, and
:meth:`Trainer.fit` runs training steps on a :class:`colorlab.data.PairDataset` built with the recipe's batch size,
pair mix and seed::

    from colorlab.data import PairDataset
    from colorlab.train import Trainer, TrainingRecipe

    recipe = TrainingRecipe("course", batch_size=64)
    dataset = PairDataset("corpus", "train", "course", batch_size=64, mode_ratio=recipe.mode_ratio,
                          seed=recipe.seed, drop_remainder=True)
    trainer = Trainer(recipe, "runs/course")
    trainer.restore()                    # continue from the last checkpoint, if there is one
    trainer.fit(dataset, steps=20_000)   # train until step 20,000: run again after a crash, it finishes the run
    trainer.export_generator("runs/course/generator.weights.h5")

The same from a shell: ``colorlab train --config course --data corpus --steps 20000 --out runs/course --resume``.

On several devices or machines (``distribute="data-parallel"`` or ``"multi-worker"``, ``colorlab train
--distribute ...``; :mod:`colorlab.distribute`) each device takes its slice of the global batch, the gradients are
averaged over the whole batch, each process prepares only its rows (the dataset's ``shard``), and only the chief,
process 0, writes run.json, checkpoints, logs, images and exports.

The step is :class:`colorlab.step.GanStep` (its docstring says how the two gradients are taken and applied, on
either backend). Adam with learning rate 2e-4 and β₁ = 0.5 for both networks is pix2pix's (Isola et al., 2017), a
standard start for a conditional GAN (ours: the paper publishes no training code).

Precision: ``precision="auto"`` is ``"mixed_bfloat16"`` when the backend sees a GPU or TPU (bfloat16 arithmetic,
float32 weights; bfloat16 has float32's exponent range, so no loss scaling is needed), and float32 on a CPU, where
bfloat16 is slow. The losses are always computed in float32 (the outputs are cast first).

Logs: every ``log_every`` steps the mean of each loss term over the last steps, the discriminator's loss and the
throughput (images per second) go to ``out_dir/metrics.csv``, ``out_dir/metrics.jsonl`` and TensorBoard event
files in ``out_dir/tensorboard`` (:class:`colorlab.events.EventWriter`: no TensorFlow needed, so a JAX machine has
them too). Every ``image_every`` steps a grid (rows: examples; columns: gray input | output | reference | ground
truth) goes to ``out_dir/images/step_NNNNNNNN.png`` and to TensorBoard. Nothing on the JAX path imports
TensorFlow.

The recipe goes to ``out_dir/run.json`` when a run starts; :meth:`Trainer.restore` refuses to continue a run with
other settings and names each difference. Checkpoints (every ``checkpoint_every`` steps and at the end of
:meth:`fit`) are folders ``out_dir/checkpoints/step_NNNNNNNN/`` holding ``generator.weights.h5``,
``discriminator.weights.h5``, ``optimizers.npz`` (every Adam variable, including its step count) and
``state.json`` (the step, the data position — epoch and batch index of the :class:`~colorlab.data.PairDataset` —
the seed and the config). A folder is written under a temporary name, every file and folder flushed to disk, and
renamed into place (:func:`colorlab.files.write_folder`), so a run killed mid-write, or a machine that loses
power, never leaves a half checkpoint; the last two are kept. The space a checkpoint needs is allocated before
anything is written (:func:`colorlab.files.check_space`): HDF5, which writes the weights, leaves its library broken
after a failed write and the process then dies with a segmentation fault at exit (measured with h5py 3.14, HDF5
1.14.6), so a full disk must be met before it starts; any write error is a :class:`~colorlab.errors.CheckpointError` naming the folder. :meth:`restore` checks a
checkpoint whole (every file, every key, every shape) and, if the newest is damaged, falls back to the older one,
saying so (a warning). Because a :class:`~colorlab.data.PairDataset` batch is a pure function of (seed, epoch,
index) and the step is a pure function of the state, :meth:`restore` resumes *exactly*: N steps, a restart, then
training on to 2N give the same weights as 2N steps in one go (bitwise on a CPU; the trainer seeds with
:func:`colorlab.step.set_seed`, which on TensorFlow also turns on op determinism).

One process at a time: :meth:`fit`, :meth:`restore` and :meth:`save_checkpoint` hold the run folder's
:class:`colorlab.locks.FolderLock` (``out_dir/.lock``) while they work (:meth:`lock` holds it across several
calls, as ``colorlab train`` does), so a second run on the same folder is refused at once with a
:class:`~colorlab.errors.BusyError` naming the holder; taking it removes the temporaries a killed run left behind.
Ctrl-C during :meth:`fit` finishes the step that is running, writes a checkpoint there and raises
``KeyboardInterrupt``: nothing is lost but the step that was running (a second Ctrl-C abandons that checkpoint and
keeps the previous ones).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import pathlib
import shutil
import signal
import threading
import time
import warnings
from typing import Any

import numpy as np

from colorlab.errors import CheckpointError, ConfigError
from colorlab.files import check_space, remove_temporaries, write_atomic, write_folder, write_json, write_text
from colorlab.locks import FolderLock
from colorlab.quiet import filtered_stderr

__all__ = ["Trainer", "TrainingRecipe", "CheckpointError", "PRECISIONS", "resolve_precision", "list_checkpoints",
           "image_grid", "METRIC_COLUMNS"]

#: The precision policies a :class:`TrainingRecipe` accepts (``"auto"`` picks one of the other two).
PRECISIONS = ("auto", "float32", "mixed_bfloat16")

#: The columns of ``metrics.csv`` (a term the config does not compute, e.g. classification without a head,
#: is left empty).
METRIC_COLUMNS = ("step", "epoch", "batch", "loss", "reconstruction", "histogram", "classification", "adversarial",
                  "tv", "d_loss", "img_per_s", "elapsed_s")

_CHECKPOINT_PREFIX = "step_"
_CHECKPOINT_FILES = ("state.json", "generator.weights.h5", "discriminator.weights.h5", "optimizers.npz")
_STATE_KEYS = ("step", "epoch", "batch_index", "seed", "backend", "precision", "config")
#: Room asked for a checkpoint beyond the bytes of its arrays (HDF5 and zip overhead): x 1.25 + 1 MiB.
_SPACE_MARGIN = (1.25, 2**20)
#: Config fields that do not shape the generator's weights: :meth:`Trainer.load_generator` lets them differ.
_NOT_GENERATOR_FIELDS = ("name", "loss_weights", "disc_width", "disc_layers", "gate_value")
#: Config fields that do not shape the generator's weights either, unless its gate is the paper's "full_column" (whose
#: input is a column of the reference-sized correlation): the network is convolutional, so a fine-tune may change them.
_SIZE_FIELDS = ("image_size", "reference_size")
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


def _check_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"Trainer: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _reason(error: BaseException) -> str:
    """An error as one short line (HDF5's reports run over several lines; their errno says it all)."""
    if isinstance(error, OSError) and error.errno and "\n" in str(error.strerror or ""):
        return os.strerror(error.errno)
    text = " ".join(str(error.strerror if isinstance(error, OSError) and error.strerror else error).split())
    return text[:200] or type(error).__name__


def _space_for(arrays_bytes: int) -> int:
    """The bytes to ask for before writing files that hold ``arrays_bytes`` of arrays (format overhead included)."""
    scale, extra = _SPACE_MARGIN
    return int(arrays_bytes * scale) + extra


def _variables_bytes(variables) -> int:
    return sum(math.prod(variable.shape) * np.dtype(variable.dtype).itemsize for variable in variables)


class _Interrupts:
    """Ctrl-C during :meth:`Trainer.fit`, noted and acted on between steps, so a step is never cut in half.

    Only in the main thread, and only while Python's own SIGINT handler is installed; elsewhere Ctrl-C raises where
    it lands, as usual. :meth:`release` puts the handler back early, so that a second
    Ctrl-C interrupts at once.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_Interrupts":
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame) -> None:
        self.requested = True

    def release(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def __exit__(self, *exc_info) -> None:
        self.release()


# ------------------------------------------------------------------------------------------------- recipe
#: Recipe fields a resumed run may change: the weights a fine-tune started from matter only before step 1.
_RESUMABLE_FIELDS = ("init",)


@dataclasses.dataclass(frozen=True)
class TrainingRecipe:
    """What shapes a run's weights and data stream: a resumed run must repeat it to continue exactly.

    Validated when made (:class:`~colorlab.errors.ConfigError`, naming the ``colorlab train`` option and the field);
    :class:`Trainer` writes it to ``out_dir/run.json`` and :meth:`Trainer.restore` compares. Each field is also an
    option of ``colorlab train`` (``--config``, ``--batch-size``, ...).

    Attributes:
        config: a :class:`colorlab.models.Gray2ColorConfig` (a config name is turned into one).
        batch_size: images per step; :meth:`Trainer.fit` checks the dataset's.
        seed: seeds the initial weights (:func:`colorlab.step.set_seed`) and, through the dataset, the data order.
        learning_rate, beta_1: Adam's, for both networks (pix2pix's 2e-4 and 0.5).
        mode_ratio: the dataset's fraction of "other photo" pairs (see :func:`colorlab.data.make_pairs`).
        adversarial_kind: the GAN objective, one of :data:`colorlab.losses.ADVERSARIAL_KINDS`.
        precision: one of :data:`PRECISIONS` (``"auto"``: see :func:`resolve_precision`).
        init: exported generator weights a fine-tune starts from (:meth:`Trainer.load_generator` loads them),
            stored as an absolute path; None for a run from scratch. A resume may leave it out.
    """

    config: Any = "course"
    batch_size: int = 16
    seed: int = 0
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    mode_ratio: float = 0.5
    adversarial_kind: str = "bce"
    precision: str = "auto"
    init: str | None = None

    def __post_init__(self):
        from colorlab.losses import ADVERSARIAL_KINDS
        from colorlab.models import Gray2ColorConfig, get_config

        def fail(field: str, rule: str, value) -> ConfigError:
            return ConfigError(f"--{field.replace('_', '-')} must {rule}, got {value!r} (TrainingRecipe.{field})")

        def number(value) -> bool:
            return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
                and math.isfinite(value)

        config = get_config(self.config) if isinstance(self.config, str) else self.config
        if not isinstance(config, Gray2ColorConfig):
            raise fail("config", "be a Gray2ColorConfig or a config name", self.config)
        object.__setattr__(self, "config", config)
        for field, minimum in (("batch_size", 1), ("seed", 0)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise fail(field, f"be an integer >= {minimum}", value)
            object.__setattr__(self, field, int(value))
        if not number(self.learning_rate) or not self.learning_rate > 0:
            raise fail("learning_rate", "be > 0", self.learning_rate)
        if not number(self.beta_1) or not 0.0 <= self.beta_1 < 1.0:
            raise fail("beta_1", "lie in [0, 1)", self.beta_1)
        if not number(self.mode_ratio) or not 0.0 <= self.mode_ratio <= 1.0:
            raise fail("mode_ratio", "lie in [0, 1]", self.mode_ratio)
        for field in ("learning_rate", "beta_1", "mode_ratio"):
            object.__setattr__(self, field, float(getattr(self, field)))
        if self.adversarial_kind not in ADVERSARIAL_KINDS:
            raise fail("adversarial_kind", f"be one of {ADVERSARIAL_KINDS}", self.adversarial_kind)
        if self.precision not in PRECISIONS:
            raise fail("precision", f"be one of {PRECISIONS}", self.precision)
        if self.init is not None:
            if not isinstance(self.init, (str, os.PathLike)) or not os.fspath(self.init):
                raise fail("init", "be a weights file or None", self.init)
            object.__setattr__(self, "init", os.path.abspath(os.path.expanduser(os.fspath(self.init))))

    # A config holds a dict: recipes are compared by value, never hashed.
    __hash__ = None

    def replace(self, **changes) -> "TrainingRecipe":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict (the config as :meth:`Gray2ColorConfig.to_dict`)."""
        out = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        out["config"] = self.config.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingRecipe":
        """Inverse of :meth:`to_dict`. Unknown keys raise :class:`~colorlab.errors.ConfigError`."""
        from colorlab.models import Gray2ColorConfig

        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise ConfigError("TrainingRecipe.from_dict needs a dict whose 'config' is a config dict")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown TrainingRecipe field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**{**data, "config": Gray2ColorConfig.from_dict(data["config"])})

    def differences(self, other: "TrainingRecipe") -> list[str]:
        """What ``other`` changes, one ``"--option old (now new)"`` per field (``init`` left out: see the class).

        A config of another name reads ``--config old (now new)``; the same name with other fields, one
        ``config.field old (now new)`` per field.
        """
        changed = []
        for field in dataclasses.fields(self):
            old, new = getattr(self, field.name), getattr(other, field.name)
            if field.name in _RESUMABLE_FIELDS or old == new:
                continue
            if field.name != "config":
                changed.append(f"--{field.name.replace('_', '-')} {old} (now {new})")
            elif old.name != new.name:
                changed.append(f"--config {old.name} (now {new.name})")
            else:
                theirs, ours = old.to_dict(), new.to_dict()
                changed += [f"config.{key} {theirs[key]} (now {ours[key]})" for key in ours if theirs[key] != ours[key]]
        return changed


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


# ------------------------------------------------------------------------------------------------- trainer
class Trainer:
    """Trains a Gray2ColorNet and its patch discriminator (see the module docstring for the step and the files).

    Args:
        recipe: a :class:`TrainingRecipe`; a :class:`colorlab.models.Gray2ColorConfig` or a config name
            (``"tiny"``, ``"course"``, ``"paper"``) stands for ``TrainingRecipe(config)``.
        out_dir: the run's folder (created): run.json, checkpoints, metrics, TensorBoard logs, image grids.
        checkpoint_every, log_every, image_every: in steps (0 switches images off).
        distribute: where the steps compute: a :class:`colorlab.distribute.Distribution` or the name of its mode
            (``None`` or ``"none"``: one device; ``"data-parallel"``: every GPU of this machine, or every CPU device
            when there is none; ``"multi-worker"``: several processes, told the cluster by environment variables;
            see :mod:`colorlab.distribute`). Each device takes its slice of the global batch, the gradients are
            averaged over the whole batch and applied once; the recipe's batch size must be a multiple of the
            number of devices. With several processes, each feeds :meth:`fit` its own rows of every batch (the
            dataset's ``shard``), only the chief (process 0) writes files, and every process restores from
            ``out_dir``, which must be a folder they all see.
        compile: compile the step (``jax.jit`` / ``tf.function``). ``False`` runs it eagerly on TensorFlow: slower
            per step, but it skips the tracing (about 10 s for ``tiny`` on a 2-core CPU, measured), which wins for
            a handful of steps (tests, demos). JAX always compiles.
        progress: show a ``tqdm`` progress bar in :meth:`fit`.
        step_class: a subclass of :class:`colorlab.step.GanStep` to train with (chapter 08's build-it exercise
            writes its :meth:`~colorlab.step.GanStep.gradients`); None for the package's.

    Attributes:
        recipe: the :class:`TrainingRecipe`; config: its model config.
        generator, discriminator: the Keras models (their variables are up to date after :meth:`fit`).
        g_optimizer, d_optimizer: their Adam optimizers. core: the :class:`colorlab.step.GanStep` they make.
        step: optimisation steps done. epoch, batch_index: where the next batch comes from.
        precision: the dtype policy in use. distribution: the :class:`colorlab.distribute.Distribution`.

    Raises:
        ConfigError: a bad argument, or a backend other than TensorFlow or JAX.
    """

    def __init__(self, recipe, out_dir: str | os.PathLike, *, checkpoint_every: int = 500, log_every: int = 50,
                 image_every: int = 500, distribute=None, compile: bool = True, progress: bool = True,
                 step_class=None):
        import keras

        from colorlab.distribute import Distribution
        from colorlab.models import Gray2ColorConfig, PatchDiscriminator, build_gray2colornet
        from colorlab.step import GanStep, set_seed

        self.backend = _backend()
        if self.backend not in ("tensorflow", "jax"):
            raise ConfigError(f"colorlab.train supports the 'tensorflow' and 'jax' Keras backends, not "
                              f"{self.backend!r} (set KERAS_BACKEND)")
        if isinstance(recipe, (str, Gray2ColorConfig)):
            recipe = TrainingRecipe(recipe)
        if not isinstance(recipe, TrainingRecipe):
            raise ConfigError(f"Trainer needs a TrainingRecipe, a Gray2ColorConfig or a config name, got {recipe!r}")
        self.recipe = recipe
        self.out_dir = pathlib.Path(out_dir).expanduser()
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise ConfigError(f"Trainer: out_dir {self.out_dir} exists and is not a folder")
        self.checkpoint_every = _check_int("checkpoint_every", checkpoint_every)
        self.log_every = _check_int("log_every", log_every)
        self.image_every = _check_int("image_every", image_every, minimum=0)
        # first: joining a cluster must come before the backend computes anything (resolve_precision asks it)
        self.distribution = distribute if isinstance(distribute, Distribution) else Distribution(distribute or "none")
        self.distribution.check_batch_size(recipe.batch_size)
        self.precision = resolve_precision(recipe.precision)
        self.progress = bool(progress)
        if step_class is not None and not (isinstance(step_class, type) and issubclass(step_class, GanStep)):
            raise ConfigError(f"Trainer: step_class must be a subclass of colorlab.step.GanStep, got {step_class!r}")

        config = recipe.config
        set_seed(recipe.seed)
        with self.distribution.scope():   # replicated variables when distributed
            with _dtype_policy(self.precision):
                self.generator = build_gray2colornet(config)
                self.discriminator = PatchDiscriminator.from_model_config(config)
                self.discriminator(keras.KerasTensor((1, config.image_size, config.image_size, 3)))
            self.g_optimizer = keras.optimizers.Adam(recipe.learning_rate, beta_1=recipe.beta_1,
                                                     name="generator_adam")
            self.d_optimizer = keras.optimizers.Adam(recipe.learning_rate, beta_1=recipe.beta_1,
                                                     name="discriminator_adam")
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
        self.core = (step_class or GanStep)(self.generator, self.discriminator, self.g_optimizer,
                                            self.d_optimizer, config.loss_weights, recipe.adversarial_kind,
                                            compile=compile, distribution=self.distribution)

        self.step = 0
        self.epoch = 0
        self.batch_index = 0
        self._lock = FolderLock(self.out_dir, what="training run")
        self._gradients_fn = None
        self._predict_fn = None
        self._events = None

    @property
    def config(self):
        """The model config (the recipe's)."""
        return self.recipe.config

    @contextlib.contextmanager
    def lock(self):
        """Holds the run folder's :class:`colorlab.locks.FolderLock` (``out_dir/.lock``) for a ``with`` block.

        :meth:`fit`, :meth:`restore` and :meth:`save_checkpoint` take it themselves while they work; hold it around
        several calls (``with trainer.lock(): trainer.restore(); trainer.fit(...)``, as ``colorlab train`` does) to
        keep other processes out in between. Re-entrant; distributed, only the chief locks (the others write
        nothing). Taking it removes the temporaries (``.tmp-*``) a killed run left in ``out_dir``, its
        ``checkpoints/`` and ``images/`` (:func:`colorlab.files.remove_temporaries`).

        Raises:
            BusyError: another process holds the folder; the message names it.
        """
        if not self.distribution.is_chief or self._lock.held:
            yield
            return
        with self._lock:
            for folder in (self.out_dir, self.out_dir / "checkpoints", self.out_dir / "images"):
                remove_temporaries(folder)
            yield

    def sync(self) -> None:
        """Makes ``generator`` / ``discriminator`` (and the optimizers) hold the latest weights."""
        self.core.sync()

    # ---------------------------------------------------------------------------------------- the step
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
        metrics, _ = self.core.run(batch)
        self.step += 1
        return metrics

    def gradients(self, batch) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, float]]:
        """The gradients one step would apply (averaged over replicas when distributed), without applying them.

        Args:
            batch: as :meth:`train_step` (this process's rows of the global batch when distributed).

        Returns:
            ``(generator_grads, discriminator_grads, losses)``: NumPy arrays in the order of the models'
            ``trainable_variables``, and the losses as floats.
        """
        batch = self.distribution.global_batch(self._batch_dict(batch))
        if self._gradients_fn is None:
            if self.distribution.strategy is None:
                self._gradients_fn = lambda batch: self.core.gradients(self.core.state(), batch)
            else:
                import tensorflow as tf

                mirrored = self.core.mirrored_gradients
                self._gradients_fn = tf.function(mirrored) if self.core.compile else mirrored
        with filtered_stderr():          # TensorFlow's one-off C++ notices of a first (eager) gradient
            result = self._gradients_fn(batch)
        return ([_to_numpy(x) for x in result.generator], [_to_numpy(x) for x in result.discriminator],
                {key: float(_to_numpy(value)) for key, value in result.losses.items()})

    # ---------------------------------------------------------------------------------------- fit
    def fit(self, dataset, steps: int) -> list[dict]:
        """Trains until step ``steps``, from the current position, logging and checkpointing on the way.

        Args:
            dataset: a :class:`colorlab.data.PairDataset` (anything with ``len()`` and ``batch(index, epoch)``:
                the position is then exact and resumable); the epochs roll over automatically.
            steps: the step to train until (>= 1), counted from the start of the run: a new trainer runs ``steps``
                steps, one restored at step k runs ``steps - k``, one already there runs none (and returns ``[]``).
                So a script (or ``colorlab train ... --resume``) run again unchanged after a crash finishes the
                planned run, whatever step the crash left it at.

        Build the dataset with ``drop_remainder=True`` so that every step has the same batch shape: a smaller last
        batch of an epoch makes ``jax.jit`` / ``tf.function`` compile the step once more. The batch size must be a
        multiple of the number of replicas when ``distribute`` is set, and with several processes each one's
        dataset gives only its rows of every batch (``shard=trainer.distribution.shard``).

        Returns:
            The rows logged during this call (each a dict with :data:`METRIC_COLUMNS` keys present).

        Writes the recipe to ``out_dir/run.json`` when the run starts (step 0), a checkpoint every
        ``checkpoint_every`` steps and one at the end (the chief only, when distributed), holding the run folder's
        lock (:meth:`lock`) throughout. Ctrl-C (in the main thread) lets the running step finish, logs it, writes
        a checkpoint at it and raises ``KeyboardInterrupt``; a second Ctrl-C abandons that checkpoint (the
        previous ones stay).

        Raises:
            ConfigError: the dataset's ``batch_size``, ``mode_ratio`` or ``seed`` is not the recipe's, or its
                ``shard`` not this process's.
            BusyError: another process holds the run folder.
            CheckpointError: a checkpoint could not be written (a full disk, ...); the message names it.
        """
        steps = _check_int("steps", steps)
        if not (hasattr(dataset, "batch") and hasattr(dataset, "__len__")):
            raise ConfigError("Trainer.fit needs a PairDataset (or an object with len() and batch(index, epoch))")
        differ = [f"{field} {getattr(dataset, field)!r} (recipe: {getattr(self.recipe, field)!r})"
                  for field in ("batch_size", "mode_ratio", "seed")
                  if hasattr(dataset, field) and getattr(dataset, field) != getattr(self.recipe, field)]
        if differ:
            raise ConfigError(f"Trainer.fit: the dataset does not follow the training recipe: {', '.join(differ)}; "
                              "build it with the recipe's batch_size, mode_ratio and seed")
        shard = getattr(dataset, "shard", (0, 1))
        if shard != self.distribution.shard:
            raise ConfigError(f"Trainer.fit: the dataset gives shard {shard} of every batch, but this is process "
                              f"{self.distribution.process_index} of {self.distribution.process_count}: build it "
                              "with shard=trainer.distribution.shard")
        per_epoch = len(dataset)
        if per_epoch < 1:
            raise ConfigError("Trainer.fit: the dataset has no batches")
        todo = steps - self.step
        if todo < 1:
            return []
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        chief = self.distribution.is_chief
        rows: list[dict] = []
        window: list[dict] = []
        images = 0

        def position(offset):
            index = self.batch_index + offset
            return self.epoch + index // per_epoch, index % per_epoch

        with self.lock(), _Interrupts() as interrupts:
            if chief:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                if self.step == 0 or not (self.out_dir / "run.json").is_file():
                    write_json(self.out_dir / "run.json", self.recipe.to_dict())
            started = window_start = time.perf_counter()
            bar = tqdm(total=todo, desc="training", unit="step", disable=not (self.progress and chief),
                       dynamic_ncols=True)
            # Loading (JPEG decoding, Lab conversion) of the next batch overlaps with this step.
            with bar, ThreadPoolExecutor(max_workers=1) as pool:
                upcoming = pool.submit(dataset.batch, *reversed(position(0)))
                for count in range(todo):
                    batch = self._batch_dict(upcoming.result())
                    if count + 1 < todo:
                        upcoming = pool.submit(dataset.batch, *reversed(position(1)))
                    window.append(self._run_step(batch))
                    images += batch["target_l"].shape[0] * self.distribution.process_count
                    self.epoch, self.batch_index = position(1)
                    if hasattr(dataset, "set_epoch"):
                        dataset.set_epoch(self.epoch)
                    interrupted = interrupts.requested
                    if interrupted:
                        interrupts.release()   # a second Ctrl-C now abandons the checkpoint below
                    last = count + 1 == todo or interrupted
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
                    if interrupted:
                        raise KeyboardInterrupt
        return rows

    # ---------------------------------------------------------------------------------------- logging
    def _log(self, window: list[dict], img_per_s: float, elapsed: float) -> dict:
        means = {key: float(np.mean([_to_numpy(m[key]) for m in window])) for key in window[-1]}
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "batch": self.batch_index, **means,
                               "img_per_s": float(img_per_s), "elapsed_s": float(elapsed)}
        if not self.distribution.is_chief:
            return row
        csv_path = self.out_dir / "metrics.csv"
        new = not csv_path.exists()
        with open(csv_path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS, restval="")
            if new:
                writer.writeheader()
            writer.writerow({key: row.get(key, "") for key in METRIC_COLUMNS})
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        events = self._event_writer()
        for key, value in means.items():
            events.scalar(("generator/" + key) if key not in ("loss", "d_loss") else key, value, self.step)
        events.scalar("img_per_s", img_per_s, self.step)
        return row

    def _event_writer(self):
        """The TensorBoard writer on ``out_dir/tensorboard`` (one event file per trainer, opened when first used)."""
        from colorlab.events import EventWriter

        if self._events is None:
            self._events = EventWriter(self.out_dir / "tensorboard")
        return self._events

    def predict_ab(self, target_l, reference_lab) -> np.ndarray:
        """The generator's ab (model units) for a batch, at the latest weights, as float32 NumPy.

        Computed by this process alone, on one device, with its copy of the weights (distributed, every device holds
        them all)."""
        target_l, reference_lab = np.asarray(target_l, np.float32), np.asarray(reference_lab, np.float32)
        if self.backend == "jax":   # compiled: op-by-op JAX is slow, and the state need not be written back
            if self._predict_fn is None:
                import jax

                generator = self.generator

                def predict(g_tv, g_ntv, target_l, reference_lab):
                    outputs, _ = generator.stateless_call(g_tv, g_ntv, [target_l, reference_lab], training=False)
                    return outputs["ab"]

                self._predict_fn = jax.jit(predict)
            g_tv, g_ntv = ([value.addressable_data(0) for value in group] for group in self.core.state()[:2])
            return _to_numpy(self._predict_fn(g_tv, g_ntv, target_l, reference_lab)).astype(np.float32)
        outputs = self.generator([target_l, reference_lab], training=False)
        return _to_numpy(outputs["ab"]).astype(np.float32)

    def log_images(self, batch) -> pathlib.Path:
        """Writes the :func:`image_grid` of a batch to ``out_dir/images/step_NNNNNNNN.png`` (and TensorBoard);
        returns its path. Distributed, only the chief writes (the others return the path and do nothing)."""
        from PIL import Image

        folder = self.out_dir / "images"
        path = folder / f"step_{self.step:08d}.png"
        if not self.distribution.is_chief:
            return path
        batch = self._batch_dict(batch)
        grid = image_grid(batch["target_l"], self.predict_ab(batch["target_l"], batch["reference_lab"]),
                          batch["reference_lab"], batch["target_ab"])
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.round(grid * 255.0).astype(np.uint8)
        write_atomic(path, lambda temporary: Image.fromarray(pixels).save(temporary, format="PNG"))
        self._event_writer().image("gray | output | reference | ground truth", pixels, self.step)
        return path

    # ---------------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self) -> pathlib.Path:
        """Writes ``out_dir/checkpoints/step_NNNNNNNN/`` atomically (:func:`colorlab.files.write_folder`) and keeps
        the last two; returns its path. Distributed, every process calls it and only the chief writes.

        The space it needs (the previous checkpoint's size, or its arrays' bytes, plus a margin) is allocated
        first (:func:`colorlab.files.check_space`), before HDF5 writes anything.

        Raises:
            CheckpointError: it could not be written (a full disk, a quota, a write error, a permission); the
                message names the folder, and the previous checkpoints are kept.
            BusyError: another process holds the run folder.
        """
        self.core.sync()
        folder = self.out_dir / "checkpoints"
        final = folder / f"{_CHECKPOINT_PREFIX}{self.step:08d}"
        if not self.distribution.is_chief:
            return final
        arrays = {}
        for prefix, optimizer in (("g", self.g_optimizer), ("d", self.d_optimizer)):
            for index, variable in enumerate(optimizer.variables):
                arrays[f"{prefix}_{index:05d}"] = _to_numpy(variable.value)
        state = {"step": self.step, "epoch": self.epoch, "batch_index": self.batch_index, "seed": self.recipe.seed,
                 "backend": self.backend, "precision": self.precision, "config": self.config.to_dict()}
        size = _variables_bytes(self.generator.weights + self.discriminator.weights) \
            + sum(array.nbytes for array in arrays.values())
        with self.lock():
            previous = list_checkpoints(self.out_dir)
            if previous:
                size = max(size, sum(path.stat().st_size for path in previous[-1].iterdir() if path.is_file()))

            def write(temporary: pathlib.Path) -> None:
                check_space(temporary, _space_for(size))
                self.generator.save_weights(temporary / "generator.weights.h5")
                self.discriminator.save_weights(temporary / "discriminator.weights.h5")
                np.savez(temporary / "optimizers.npz", **arrays)
                (temporary / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")

            try:
                folder.mkdir(parents=True, exist_ok=True)
                write_folder(final, write)
            except OSError as error:
                kept = f"; {previous[-1].name} is kept" if previous else ""
                raise CheckpointError(f"{final}: the checkpoint could not be written ({_reason(error)}){kept}") \
                    from None
            for old in list_checkpoints(self.out_dir)[:-_KEEP]:
                shutil.rmtree(old, ignore_errors=True)
        return final

    def restore(self, checkpoint: str | os.PathLike | None = None) -> int:
        """Loads a checkpoint (default: the newest intact one in ``out_dir``): weights, optimizer state, step, data
        position.

        A checkpoint is checked whole: ``state.json`` with every key, ``optimizers.npz`` with every variable at its
        shape, both weight files loading. Without ``checkpoint``, a damaged newest one is skipped with a warning
        that names it and what is wrong, and the next older one is taken. Log rows after the restored step (a
        killed run may have logged past its last checkpoint) are dropped, and unreadable ones too, with a warning.
        Distributed, every process calls it, each reading the files (so ``out_dir`` must be a folder they all see).

        Returns:
            The restored step, or 0 when ``checkpoint`` is None and ``out_dir`` has no checkpoint (nothing done).

        Raises:
            ConfigError: ``out_dir/run.json`` holds another recipe (the message names each difference).
            CheckpointError: the checkpoint is missing or damaged (without ``checkpoint``: every one in ``out_dir``
                is, each named), or was written for another config. The weights may then be half loaded: make a new
                trainer.
            BusyError: another process holds the run folder.
        """
        if checkpoint is None and not list_checkpoints(self.out_dir):
            return 0
        with self.lock():
            self._check_recipe()
            candidates = [pathlib.Path(checkpoint)] if checkpoint is not None else list_checkpoints(self.out_dir)[::-1]
            damaged = []
            for path in candidates:
                damage = self._load_checkpoint(path)
                if damage is None:
                    break
                damaged.append(damage)
            else:
                if checkpoint is not None:
                    raise CheckpointError(damaged[0])
                raise CheckpointError(f"no intact checkpoint in {self.out_dir / 'checkpoints'}: {'; '.join(damaged)}")
            if damaged:
                warnings.warn(f"{'; '.join(damaged)}: resumed from the older {path.name} instead", stacklevel=2)
            self._truncate_logs()
        return self.step

    def _load_checkpoint(self, path: pathlib.Path) -> str | None:
        """Loads one checkpoint after checking it; returns what is damaged (one line) instead, or None when loaded.

        Raises CheckpointError for an intact checkpoint of another config: not damage, so no older one is tried.
        """
        missing = [name for name in _CHECKPOINT_FILES if not (path / name).is_file()]
        if missing:
            return f"{path}: not a complete checkpoint (missing {', '.join(missing)})"
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:   # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return f"{path / 'state.json'}: unreadable ({_reason(error)})"
        lacking = [key for key in _STATE_KEYS if key not in state] if isinstance(state, dict) else list(_STATE_KEYS)
        if lacking:
            return f"{path / 'state.json'}: lacks {', '.join(lacking)}"
        if not all(isinstance(state[key], int) and not isinstance(state[key], bool) and state[key] >= 0
                   for key in ("step", "epoch", "batch_index")):
            return f"{path / 'state.json'}: step, epoch and batch_index must be integers >= 0"
        if state["config"] != self.config.to_dict():
            name = state["config"].get("name") if isinstance(state["config"], dict) else None
            raise CheckpointError(f"{path}: written for config {name!r} with other settings than this trainer's "
                                  f"{self.config.name!r}")
        optimizer_path = path / "optimizers.npz"
        values = []
        try:
            with open(optimizer_path, "rb") as handle, np.load(handle) as stored:   # closed even when np.load fails
                for prefix, optimizer in (("g", self.g_optimizer), ("d", self.d_optimizer)):
                    for index, variable in enumerate(optimizer.variables):
                        key = f"{prefix}_{index:05d}"
                        if key not in stored.files:
                            return f"{optimizer_path}: {key} is missing"
                        value = stored[key]
                        if tuple(value.shape) != tuple(variable.shape):
                            return f"{optimizer_path}: {key} has shape {value.shape}, not {tuple(variable.shape)}"
                        values.append((variable, value))
        except Exception as error:   # zipfile, zlib and NumPy fail in many ways on a truncated or garbled file
            return f"{optimizer_path}: does not load ({_reason(error)})"
        self.core.sync()
        try:
            self.generator.load_weights(path / "generator.weights.h5")
            self.discriminator.load_weights(path / "discriminator.weights.h5")
        except Exception as error:   # h5py and Keras raise many types for a truncated or garbled file
            return f"{path}: the weights do not load ({_reason(error)})"
        for variable, value in values:
            variable.assign(value)
        self.step, self.epoch, self.batch_index = state["step"], state["epoch"], state["batch_index"]
        return None

    def _check_recipe(self) -> None:
        """Raises ConfigError when ``out_dir/run.json`` records another recipe than this trainer's."""
        path = self.out_dir / "run.json"
        if not path.is_file():
            return
        try:
            saved = TrainingRecipe.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, ValueError, TypeError) as error:   # ConfigError is a ValueError
            raise ConfigError(f"{path}: not a readable training recipe ({' '.join(str(error).split())})") from None
        changed = saved.differences(self.recipe)
        if changed:
            raise ConfigError(f"{self.out_dir} was started with other settings: {', '.join(changed)}; pass the same "
                              "ones to resume it exactly")

    def load_generator(self, weights: str | os.PathLike) -> None:
        """Starts the generator from exported weights (fine-tuning), e.g. the demo weights or a run's export.

        Only the generator's weights are loaded: the discriminator and both optimizers keep their fresh state, and
        the step stays where it is. Call it before :meth:`fit` on a new run (a checkpoint restored later replaces
        these weights). The fine-tune may use other loss weights (and another discriminator) than the run that
        made the weights, and another working size (``image_size``, ``reference_size``: the network is
        convolutional; not with the paper's ``"full_column"`` gate, whose weights depend on the reference's size):
        only the fields that shape the generator's weights have to match.

        Args:
            weights: a ``.weights.h5`` file with its ``.json`` config beside it (what :meth:`export_generator`
                writes).

        Raises:
            CheckpointError: the file is missing, was written for a generator of another shape, or does not load.
        """
        from colorlab.models import read_config

        path = pathlib.Path(weights).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: no such weights file")
        try:
            config = read_config(path)
        except ConfigError as error:
            raise CheckpointError(str(error)) from None
        theirs, ours = config.to_dict(), self.config.to_dict()
        free = _NOT_GENERATOR_FIELDS + (() if "full_column" in (theirs["gate"], ours["gate"]) else _SIZE_FIELDS)
        differ = [f"{key} {theirs[key]!r} (this trainer: {ours[key]!r})" for key in ours
                  if key not in free and theirs[key] != ours[key]]
        if differ:
            raise CheckpointError(f"{path}: written for a generator of config {config.name!r}, not this trainer's "
                                  f"{self.config.name!r}: {', '.join(differ)} (pass the same --config)")
        self.core.sync()
        try:
            self.generator.load_weights(path)
        except (ValueError, OSError) as error:
            raise CheckpointError(f"{path}: the weights do not load ({' '.join(str(error).split())[:200]})") from None

    def _truncate_logs(self) -> None:
        """Drops log rows after the restored step (a killed run may have logged past its last checkpoint), and
        unreadable ones (with a warning); the chief's job."""
        if not self.distribution.is_chief:
            return
        csv_path, jsonl_path = self.out_dir / "metrics.csv", self.out_dir / "metrics.jsonl"

        def step_of(value) -> int | None:
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        if csv_path.exists():
            text = csv_path.read_text(encoding="utf-8", errors="replace").replace("\0", "")
            reader, rows, unreadable = csv.DictReader(io.StringIO(text)), [], 0
            try:
                for row in reader:
                    if tuple(reader.fieldnames or ()) != METRIC_COLUMNS or step_of(row.get("step")) is None:
                        unreadable += 1
                    elif step_of(row["step"]) <= self.step:
                        rows.append({key: row.get(key) or "" for key in METRIC_COLUMNS})
            except csv.Error:   # e.g. a field past csv's size limit: the rest of the file is garbage
                unreadable += 1

            def write_csv(temporary):
                with open(temporary, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
                    writer.writeheader()
                    writer.writerows(rows)

            write_atomic(csv_path, write_csv)
            if unreadable:
                warnings.warn(f"{csv_path}: {unreadable} unreadable row(s) dropped", stacklevel=3)
        if jsonl_path.exists():
            lines, unreadable = [], 0
            for line in jsonl_path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    step = step_of(json.loads(line).get("step"))
                except (ValueError, AttributeError):   # not JSON, or not an object
                    step = None
                if step is None:
                    unreadable += bool(line.strip())
                elif step <= self.step:
                    lines.append(line)
            write_text(jsonl_path, "".join(line + "\n" for line in lines))
            if unreadable:
                warnings.warn(f"{jsonl_path}: {unreadable} unreadable line(s) dropped", stacklevel=3)

    # ---------------------------------------------------------------------------------------- export
    def export_generator(self, path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
        """Writes the generator's weights (``.weights.h5``) and, beside them, its config as JSON.

        Args:
            path: ends with ``.weights.h5`` (e.g. ``runs/course/generator.weights.h5``); the config goes to the
                same name with ``.json`` instead (``runs/course/generator.json``).

        Returns:
            ``(weights_path, config_path)``; the JSON holds ``{"config": Gray2ColorConfig.to_dict()}``, the format
            :func:`colorlab.colorize` reads (``colorize(target, reference, weights=weights_path)``), on any backend.
            Both are written atomically by :func:`colorlab.models.save_generator`; distributed, by the chief only
            (every process calls it and gets the paths).

        Raises:
            ConfigError: ``path`` does not end with ``.weights.h5``.
            CheckpointError: they could not be written (a full disk, a permission); the message names the file. The
                space is checked before HDF5 writes anything, as for a checkpoint.
        """
        from colorlab.models import config_path_for, save_generator

        self.core.sync()
        if not self.distribution.is_chief:
            return pathlib.Path(path), config_path_for(path)
        folder = pathlib.Path(path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            check_space(folder, _space_for(_variables_bytes(self.generator.weights)))   # before HDF5 writes
            return save_generator(self.generator, path)
        except OSError as error:
            raise CheckpointError(f"{path}: the generator could not be written ({_reason(error)})") from None

