"""Reference-adaptive colorization: fine-tune a copy of the generator on the reference alone, then colour.

A trained generator has learned, from a corpus, how colour flows from *a* reference to *a* target. At test time
we hold one particular reference, and it is the best evidence there is about the colours wanted. Test-time
adaptation uses it: cut "same photo" pairs from the reference itself (a random crop of the reference, made gray,
is the target; its own colours are the answer; the whole reference is the exemplar), take a few optimiser steps
on them, and colour the real target with the adapted weights. The network specialises in *this* reference's
colours and the objects that carry them.

This is **ours**, not Gray2ColorNet's: the paper and its official code colour with fixed weights. The idea
belongs to the "internal learning" line of work, which trains on the test input's own internal statistics:
zero-shot super-resolution (Shocher, Cohen & Irani, CVPR 2018, "Zero-Shot" Super-Resolution using Deep Internal
Learning), deep image priors (Ulyanov et al., CVPR 2018) and test-time training (Sun et al., ICML 2020).

The step is the generator's alone (no discriminator, no checkpoint files): the loss is

    L = w_rec · L_rec(ab_pred, ab_crop) + w_hist · L_hist(ab_pred, ab_reference) + w_tv · L_tv(ab_pred)

with the weights and terms of :func:`colorlab.losses.generator_loss` (the classification and adversarial terms
are off: no labels, no discriminator). Every pair has one shape whatever the reference's aspect ratio (crops of
``config.image_size`` squared, the exemplar squashed to ``config.reference_size`` squared, as the official code
feeds its reference), so the step is compiled once (``jax.jit`` / ``tf.function``) and reused for every
reference. The model given is never changed: the adapted weights live in a second, in-memory copy of the network
(:attr:`ReferenceAdapter.adapted`). :func:`shared_adapter` gives every caller with the same model and settings one
adapter, so that copy is built and its step traced once per process (what ``colorlab.colorize`` uses).

Use::

    adapter = ReferenceAdapter(model, steps=20)
    adapted_model = adapter.adapt(reference_lab)        # (h_r, w_r, 3) in model units; returns a Gray2ColorNet
    outputs = adapted_model([target_l, reference_lab[None]])

or ``colorlab.colorize(target, reference, adapt=20)``.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from colorlab.errors import ColorlabError, ConfigError

__all__ = ["ReferenceAdapter", "reference_pairs", "reference_key", "shared_adapter", "clear_shared_adapters",
           "replay_pairs", "save_replay_bank", "load_replay_bank", "DEFAULT_LEARNING_RATE", "DEFAULT_BATCH_SIZE",
           "DEFAULT_MIN_CROP", "DEFAULT_PARTS", "ADAPTABLE_PARTS", "SHARED_ADAPTERS"]

#: Adam's step size for adaptation (ours, chosen on the corpus's dev split: with the demo weights, 20 decoder-only
#: steps on the "view" protocol gave mean ΔE00 5.51 at 3e-4 against 5.71 at 1e-3; ``scripts/study_adapt.py``).
DEFAULT_LEARNING_RATE = 3e-4
#: Pairs per adaptation step.
DEFAULT_BATCH_SIZE = 8
#: The smallest crop, as a fraction of the reference's shorter side (augmentation strength: 1 = no cropping).
DEFAULT_MIN_CROP = 0.5
#: Which parts of the generator may adapt: every weight, or only the decoder (the MCN) and the colour fusion
#: (GCFN), which leaves the encoders' features (and so the matching) as trained.
ADAPTABLE_PARTS = ("all", "decoder")
#: The default: the decoder only (ours, from the same dev study: 20 decoder-only steps at 3e-4 gave ΔE00 5.51, 10
#: steps of every weight at 1e-4 gave 5.74, in about the same time; a decoder step costs about half of a full one:
#: 0.27 s against 0.53 s on a 2-core CPU, benchmarks/results/adapt_cpu.md).
DEFAULT_PARTS = "decoder"
#: How many adapters :func:`shared_adapter` keeps (the most recently used; each holds a copy of its model).
SHARED_ADAPTERS = 4

_SHARED: dict = {}   # (id(model), settings) -> ReferenceAdapter, least recently used first


def _resize(channel: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(channel.astype(np.float32), mode="F").resize(
        (size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def reference_key(reference_lab: np.ndarray) -> tuple:
    """What identifies a reference for adaptation: its shape and the SHA-256 of its values (equal arrays, equal
    keys)."""
    reference_lab = np.ascontiguousarray(reference_lab, dtype=np.float32)
    return reference_lab.shape, hashlib.sha256(reference_lab.tobytes()).hexdigest()


def shared_adapter(model, **settings) -> "ReferenceAdapter":
    """A :class:`ReferenceAdapter` for ``model`` and ``settings`` (its arguments), shared by every caller that asks
    for the same: building the in-memory copy and tracing the compiled step (about 6 s for the demo weights on 2
    CPU cores) then happen once per process, not once per ``colorize`` call. The last :data:`SHARED_ADAPTERS`
    adapters are kept. A shared adapter may have been adapted to another reference since a caller last used it:
    compare :attr:`ReferenceAdapter.reference_key` with :func:`reference_key` before trusting
    :attr:`ReferenceAdapter.adapted` (:class:`colorlab.inference.Colorizer` does).

    Raises:
        ConfigError: bad settings (as :class:`ReferenceAdapter`).
    """
    key = (id(model), repr(sorted(settings.items())))
    adapter = _SHARED.pop(key, None)
    if adapter is None or adapter.model is not model:
        adapter = ReferenceAdapter(model, **settings)
    _SHARED[key] = adapter
    while len(_SHARED) > SHARED_ADAPTERS:
        _SHARED.pop(next(iter(_SHARED)))
    return adapter


def clear_shared_adapters() -> None:
    """Forgets the adapters :func:`shared_adapter` kept (frees their copies)."""
    _SHARED.clear()


def reference_pairs(reference_lab: np.ndarray, count: int, size: int, rng: np.random.Generator, *,
                    min_crop: float = DEFAULT_MIN_CROP, exemplar_size: int | None = None) -> dict:
    """Self-supervised training pairs cut from one reference.

    Each pair: a square crop of the reference (side ``U(min_crop, 1)`` times its shorter side, at a uniform random
    position, mirrored left-right with probability 1/2), resized to ``size x size`` (bilinear); its L is the target,
    its ab the answer; the exemplar is the whole reference, squashed to ``exemplar_size`` squared if given (so that
    references of every aspect ratio give one input shape, and the compiled step is traced once).

    Args:
        reference_lab: ``(h, w, 3)`` float32 in model units (``L/50 - 1``, ``ab/110``).
        count: number of pairs (>= 1).
        size: side of the crops after resizing (>= 8), the model's training size.
        rng: NumPy generator (the pairs are a function of its state).
        min_crop: smallest crop side as a fraction of the shorter side, in (0, 1].
        exemplar_size: side the exemplar is resized to (bilinear), or None to keep the reference's shape.

    Returns:
        dict: ``target_l`` ``(count, size, size, 1)``, ``target_ab`` ``(count, size, size, 2)``,
        ``reference_lab`` ``(count, h, w, 3)`` (``h = w = exemplar_size`` if given), all float32 model units.

    Raises:
        ConfigError: bad shapes or values.
    """
    reference_lab = np.asarray(reference_lab, dtype=np.float32)
    if reference_lab.ndim != 3 or reference_lab.shape[-1] != 3:
        raise ConfigError(f"reference_pairs: reference_lab must be (h, w, 3), got shape {reference_lab.shape}")
    if not (isinstance(count, (int, np.integer)) and count >= 1 and isinstance(size, (int, np.integer))
            and size >= 8):
        raise ConfigError(f"reference_pairs: count must be >= 1 and size >= 8, got {count!r}, {size!r}")
    if not 0.0 < min_crop <= 1.0:
        raise ConfigError(f"reference_pairs: min_crop must be in (0, 1], got {min_crop!r}")
    if exemplar_size is not None and not (isinstance(exemplar_size, (int, np.integer)) and exemplar_size >= 8):
        raise ConfigError(f"reference_pairs: exemplar_size must be None or >= 8, got {exemplar_size!r}")
    h, w = reference_lab.shape[:2]
    short = min(h, w)
    crops = np.empty((count, size, size, 3), dtype=np.float32)
    for i in range(count):
        side = max(8, int(round(short * rng.uniform(min_crop, 1.0))))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = reference_lab[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[i] = np.stack([_resize(np.ascontiguousarray(crop[..., c]), size) for c in range(3)], axis=-1)
    exemplar = reference_lab if exemplar_size is None else np.stack(
        [_resize(np.ascontiguousarray(reference_lab[..., c]), exemplar_size) for c in range(3)], axis=-1)
    return {"target_l": crops[..., :1], "target_ab": crops[..., 1:],
            "reference_lab": np.ascontiguousarray(np.broadcast_to(exemplar, (count,) + exemplar.shape))}


#: The arrays of a replay bank and their ranks (``(n, s, s, 1)``, ``(n, s, s, 2)``, ``(n, r, r, 3)``).
_BANK_KEYS = {"target_l": 1, "target_ab": 2, "reference_lab": 3}


def replay_pairs(root, config, count: int, *, seed: int = 0, split: str = "train") -> dict:
    """Corpus pairs to mix into adaptation steps (``replay``): ``count`` pairs of a corpus split, as the model was
    trained on them (:class:`colorlab.data.PairDataset`: half "same photo", half "other photo" of the class).

    Args:
        root: a Places365-layout folder (or a :class:`colorlab.data.Places365Folder`).
        config: the model's config (its ``image_size`` and ``reference_size``).
        count: pairs (>= 1; at most the split's photos).
        seed: the draw (a function of it).
        split: the corpus split; the training split by default (the pairs the weights already learned from).

    Returns:
        dict: ``target_l`` ``(count, s, s, 1)``, ``target_ab`` ``(count, s, s, 2)``, ``reference_lab``
        ``(count, r, r, 3)``, float32 model units.

    Raises:
        ConfigError, DatasetError: bad arguments, or a folder that is not a corpus.
    """
    from colorlab.data import PairDataset

    with PairDataset(root, split, config, batch_size=count, seed=seed, drop_remainder=True) as dataset:
        inputs, targets = dataset.batch(0)
    return {"target_l": inputs["target_l"], "target_ab": targets["target_ab"],
            "reference_lab": inputs["reference_lab"]}


def save_replay_bank(path, bank: dict) -> None:
    """Writes :func:`replay_pairs` to ``path`` (``.npz``, atomically)."""
    import io

    from colorlab.files import write_bytes

    buffer = io.BytesIO()
    np.savez(buffer, **{key: np.asarray(bank[key], dtype=np.float32) for key in _BANK_KEYS})
    write_bytes(path, buffer.getvalue())


def load_replay_bank(path, image_size: int, reference_size: int) -> dict:
    """Reads a bank :func:`save_replay_bank` wrote and checks it fits a model of these sizes.

    Raises:
        ConfigError: a file that is missing, not a bank, or made for other sizes.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            bank = {key: np.asarray(data[key], dtype=np.float32) for key in _BANK_KEYS}
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(f"adapt: cannot read replay bank {str(path)!r}: "
                          f"{' '.join(str(error).split())[:200] or type(error).__name__}") from None
    count = len(bank["target_l"])
    sides = {"target_l": image_size, "target_ab": image_size, "reference_lab": reference_size}
    for key, channels in _BANK_KEYS.items():
        if bank[key].shape != (count, sides[key], sides[key], channels) or count == 0:
            raise ConfigError(f"adapt: replay bank {str(path)!r}: {key} has shape {bank[key].shape}, expected "
                              f"({count or 'n >= 1'}, {sides[key]}, {sides[key]}, {channels}) for this model")
    return bank


class ReferenceAdapter:
    """Adapts a copy of a generator to one reference at a time (see the module docstring).

    Args:
        model: a built :class:`colorlab.models.Gray2ColorNet`; never modified.
        steps: optimiser steps per reference (>= 0; 0 returns the copy with the model's own weights).
        learning_rate: Adam's step size (> 0).
        batch_size: pairs per step (>= 1).
        parts: ``"all"`` or ``"decoder"`` (:data:`ADAPTABLE_PARTS`; default :data:`DEFAULT_PARTS`): which weights
            move.
        min_crop: augmentation strength of :func:`reference_pairs`.
        crop_size: side of the training crops; default the model's ``config.image_size``.
        loss_weights: :class:`colorlab.losses.LossWeights` or dict; default the library defaults (only
            reconstruction, histogram and TV are used).
        seed: the pairs are drawn from ``numpy.random.default_rng(seed)``, so an adaptation is a function of the
            reference and the seed.
        replay: corpus pairs mixed into every step beside the ``batch_size`` reference pairs (>= 0), drawn from
            ``replay_bank``: they keep reminding the network of the corpus it learned from, against forgetting
            (each step then costs about ``(batch_size + replay) / batch_size`` as much).
        replay_bank: path of a bank of corpus pairs (:func:`replay_pairs`, :func:`save_replay_bank`) at the model's
            sizes; needed when ``replay > 0``.

    Attributes:
        adapted: the in-memory copy holding the last adapted weights (a Gray2ColorNet of the same config).
        losses: the loss after each step of the last adaptation (list of floats).
        reference_key: :func:`reference_key` of the reference :attr:`adapted` holds the adaptation to (None before
            the first adaptation, and during one).
    """

    def __init__(self, model, *, steps: int = 20, learning_rate: float = DEFAULT_LEARNING_RATE,
                 batch_size: int = DEFAULT_BATCH_SIZE, parts: str = DEFAULT_PARTS,
                 min_crop: float = DEFAULT_MIN_CROP, crop_size: int | None = None, loss_weights=None, seed: int = 0,
                 replay: int = 0, replay_bank=None):
        from colorlab import losses

        def integer(value, minimum):
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum

        if not integer(steps, 0):
            raise ConfigError(f"adapt: steps must be an integer >= 0, got {steps!r}")
        if not integer(batch_size, 1):
            raise ConfigError(f"adapt: batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
                or not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ConfigError(f"adapt: learning_rate must be a number > 0, got {learning_rate!r}")
        if parts not in ADAPTABLE_PARTS:
            raise ConfigError(f"adapt: parts must be one of {ADAPTABLE_PARTS}, got {parts!r}")
        if not integer(seed, 0):
            raise ConfigError(f"adapt: seed must be an integer >= 0, got {seed!r}")
        if crop_size is not None and not integer(crop_size, 8):
            raise ConfigError(f"adapt: crop_size must be an integer >= 8, got {crop_size!r}")
        if not 0.0 < min_crop <= 1.0:
            raise ConfigError(f"adapt: min_crop must be in (0, 1], got {min_crop!r}")
        if not integer(replay, 0):
            raise ConfigError(f"adapt: replay must be an integer >= 0, got {replay!r}")
        if replay and replay_bank is None:
            raise ConfigError("adapt: replay needs a replay_bank (a file of corpus pairs: save_replay_bank)")
        self.model = model
        self.steps = int(steps)
        self.learning_rate = float(learning_rate)
        self.batch_size = int(batch_size)
        self.parts = parts
        self.min_crop = float(min_crop)
        self.crop_size = int(crop_size or model.config.image_size)
        self.loss_weights = losses.LossWeights.coerce(loss_weights)
        self.seed = int(seed)
        self.replay = int(replay)
        self.replay_bank = replay_bank
        self._bank = None
        if self.replay:
            if self.crop_size != model.config.image_size:
                raise ConfigError(f"adapt: replay needs crop_size = the model's image_size "
                                  f"({model.config.image_size}), got {self.crop_size}")
            self._bank = load_replay_bank(replay_bank, model.config.image_size, model.config.reference_size)
        self.losses: list[float] = []
        self.reference_key = None
        self._adapted = None
        self._optimizer = None
        self._compiled = None
        self._moving = None
        self._fresh_optimizer = None

    # ------------------------------------------------------------------------------------------ set-up
    @property
    def adapted(self):
        """The in-memory copy of the model (built on first use) that :meth:`adapt` writes its weights into."""
        if self._adapted is None:
            from colorlab.models import build_gray2colornet

            self._adapted = build_gray2colornet(self.model.config)
        return self._adapted

    def moving(self) -> list[int]:
        """Indices, in ``model.trainable_variables``, of the weights that adapt (:attr:`parts`)."""
        if self._moving is None:
            variables = self.adapted.trainable_variables
            if self.parts == "all":
                self._moving = list(range(len(variables)))
            else:
                decoder = {id(v) for part in (self.adapted.gcfn, self.adapted.mcn) for v in part.trainable_variables}
                self._moving = [i for i, v in enumerate(variables) if id(v) in decoder]
        return self._moving

    def _gradients(self, moving, fixed, non_trainable, batch):
        """``(loss, new non-trainable values, gradients of the moving weights)`` for one batch (pure)."""
        from keras import ops

        from colorlab import losses
        from colorlab.step import value_and_grad

        model, index = self.adapted, self.moving()

        def loss_fn(params):
            trainable = list(fixed)
            for position, value in zip(index, params):
                trainable[position] = value
            outputs, new_non_trainable = model.stateless_call(trainable, non_trainable,
                                                              [batch["target_l"], batch["reference_lab"]],
                                                              training=False)
            outputs = {key: ops.cast(value, "float32") for key, value in outputs.items()}
            total, _ = losses.generator_loss(outputs, batch["target_ab"], batch["reference_lab"][..., 1:],
                                             weights=self.loss_weights)
            return total, new_non_trainable

        (loss, new_non_trainable), grads = value_and_grad(loss_fn, list(moving))
        return loss, list(new_non_trainable), list(grads)

    def _jax_step(self, state, batch):
        """JAX: one pure step, ``(state, batch) -> (state, loss)``; ``state`` = (moving, fixed, optimizer,
        non-trainable) values. What ``jax.jit`` compiles."""
        moving, fixed, optimizer_state, non_trainable = state
        loss, non_trainable, grads = self._gradients(moving, fixed, non_trainable, batch)
        moving, optimizer_state = self._optimizer.stateless_apply(list(optimizer_state), grads, list(moving))
        return (list(moving), fixed, list(optimizer_state), non_trainable), loss

    def _variable_step(self, batch):
        """TensorFlow: one step on the copy's variables (Keras has no stateless optimizer on TensorFlow); returns
        the loss. What ``tf.function`` compiles."""
        from keras import ops

        model, index = self.adapted, self.moving()
        trainable = [ops.convert_to_tensor(v.value) for v in model.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        loss, non_trainable, grads = self._gradients([trainable[i] for i in index], trainable, non_trainable, batch)
        self._optimizer.apply(grads, [model.trainable_variables[i] for i in index])
        for variable, value in zip(model.non_trainable_variables, non_trainable):
            variable.assign(value)
        return loss

    def _compile(self):
        """Builds the optimizer and compiles the step, once (the pairs always have one shape)."""
        import keras

        if self._compiled is None:
            backend = keras.backend.backend()
            if backend not in ("jax", "tensorflow"):
                raise ConfigError(f"adapt runs on the 'tensorflow' and 'jax' Keras backends, not {backend!r}")
            self._optimizer = keras.optimizers.Adam(self.learning_rate)
            self._optimizer.build([self.adapted.trainable_variables[i] for i in self.moving()])
            self._fresh_optimizer = [keras.ops.convert_to_numpy(v.value).copy() for v in self._optimizer.variables]
            if backend == "jax":
                import jax

                self._compiled = jax.jit(self._jax_step)
            else:
                import tensorflow as tf

                # No autograph: the step has no Python control flow on tensors (it also runs under jax.jit), and
                # converting the whole call tree cost about 1.7 s of the first step's 4.5 s on 2 cores.
                self._compiled = tf.function(self._variable_step, autograph=False)
        return self._compiled

    # ------------------------------------------------------------------------------------------ adapting
    def adapt(self, reference_lab: np.ndarray, *, progress: bool = False):
        """Adapts a fresh copy of :attr:`model`'s weights to ``reference_lab`` and returns the adapted copy.

        Args:
            reference_lab: ``(h, w, 3)`` float32, model units (:meth:`colorlab.inference.Colorizer.prepare_reference`).
            progress: show a progress bar (tqdm, stderr).

        Returns:
            :attr:`adapted`, a Gray2ColorNet with the adapted weights (``model`` itself is untouched).
        """
        import keras
        from keras import ops

        adapted = self.adapted
        self.reference_key = None
        for target, source in zip(adapted.variables, self.model.variables):
            target.assign(ops.copy(source.value))   # a copy: on JAX a compiled call may donate the copy's arrays
        self.losses = []
        if self.steps == 0:
            self.reference_key = reference_key(reference_lab)
            return adapted
        step = self._compile()
        for variable, value in zip(self._optimizer.variables, self._fresh_optimizer):   # Adam starts afresh
            variable.assign(value)
        jax_backend = keras.backend.backend() == "jax"
        if jax_backend:
            trainable = [ops.convert_to_tensor(v.value) for v in adapted.trainable_variables]
            state = ([trainable[i] for i in self.moving()], trainable,
                     [ops.convert_to_tensor(v) for v in self._fresh_optimizer],
                     [ops.convert_to_tensor(v.value) for v in adapted.non_trainable_variables])
        rng = np.random.default_rng(self.seed)
        pairs = reference_pairs(reference_lab, self.steps * self.batch_size, self.crop_size, rng,
                                min_crop=self.min_crop, exemplar_size=self.model.config.reference_size)
        if self.replay:   # each step's reference pairs, then its corpus pairs
            drawn = rng.integers(0, len(self._bank["target_l"]), size=(self.steps, self.replay))
            pairs = {key: np.concatenate([value.reshape((self.steps, self.batch_size) + value.shape[1:]),
                                          self._bank[key][drawn]], axis=1).reshape((-1,) + value.shape[1:])
                     for key, value in pairs.items()}
        iterations = range(self.steps)
        if progress:
            from tqdm.auto import tqdm

            iterations = tqdm(iterations, desc="adapt", unit="step", leave=False)
        per_step = self.batch_size + self.replay
        for s in iterations:
            rows = slice(s * per_step, (s + 1) * per_step)
            batch = {key: ops.convert_to_tensor(value[rows]) for key, value in pairs.items()}
            if jax_backend:
                state, loss = step(state, batch)
            else:
                loss = step(batch)
            self.losses.append(float(ops.convert_to_numpy(loss)))
        if jax_backend:
            moving, _, _, non_trainable = state
            for position, value in zip(self.moving(), moving):
                adapted.trainable_variables[position].assign(value)
            for variable, value in zip(adapted.non_trainable_variables, non_trainable):
                variable.assign(value)
        self.reference_key = reference_key(reference_lab)
        return adapted

    def save(self, path) -> None:
        """Writes the adapted weights of the last :meth:`adapt` to ``path`` (Keras ``.weights.h5``, atomically).

        Adapting on a multi-threaded CPU is not bit-for-bit repeatable (the order of parallel sums varies: weights
        differ by about 1e-5 after 10 steps), so whoever must colour with exactly the same weights again, as a
        resumed video job, saves them and :meth:`restore` s them.

        Raises:
            ConfigError: nothing adapted yet.
        """
        from colorlab.files import write_atomic

        if self.reference_key is None:
            raise ConfigError("adapt: nothing to save: no adaptation has finished yet")
        write_atomic(path, self.adapted.save_weights)

    def restore(self, path, reference_lab: np.ndarray):
        """Loads weights :meth:`save` wrote for ``reference_lab`` instead of adapting again; returns :attr:`adapted`.

        Raises:
            ColorlabError: the file cannot be read or does not fit the model.
        """
        self.reference_key = None
        self.losses = []
        try:
            self.adapted.load_weights(path)
        except Exception as error:  # h5py / Keras raise many types (OSError, ValueError, KeyError)
            raise ColorlabError(f"cannot load adapted weights {str(path)!r}: "
                                f"{' '.join(str(error).split())[:200] or type(error).__name__}") from None
        self.reference_key = reference_key(reference_lab)
        return self.adapted
