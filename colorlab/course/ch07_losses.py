"""Chapter 07 (the five losses): a loss-weight playground; train the tiny generator briefly, watch each term.

:func:`make_batch` builds a fixed tiny batch of (target, reference) pairs from ``data/samples`` whose ground truth
is known: the target is the gray (L) version of a photo, the reference is a flipped crop of the *same* photo in
colour, and the ground-truth ab is the photo's own. :func:`train_briefly` trains the ``tiny`` Gray2ColorNet (and
its patch discriminator when the adversarial weight is > 0) on that batch for a few steps with the weighted sum
of the five losses of :mod:`colorlab.losses`, and returns every term at every step plus the final prediction.
:func:`plot_history` and :func:`show_results` draw the outcome. Chapter 09's ablations reuse :func:`make_batch`,
:func:`train_briefly` and :func:`show_results`.

This is a **demonstration of what each term pushes**, not training: a few dozen steps on four photos teach the
model nothing general (notebook 08 trains for real).

Which choices are ours (the paper, Lu et al., ACM MM 2020, publishes no training code):

* **The trainer's step.** Each step is :class:`colorlab.step.GanStep`, the step :class:`colorlab.train.Trainer`
  runs, so it runs on TensorFlow (``tf.function``) and on JAX (``jax.jit``) alike.
* **One compiled step for every weight setting.** Tracing the step takes far longer than running it on a CPU
  (10–20 s against 0.05–0.1 s per step at 32 px, measured on a 2-core machine with TensorFlow), so a widget that
  re-traced for every slider position would be unusable. The five weights therefore enter the compiled step as a
  *tensor* (``GanStep``'s per-call weights): every term is computed at every step, by
  :func:`colorlab.losses.generator_loss` with unit weights (so the terms are exactly its terms), and the total is
  ``Σ_t w_t · L_t`` — the same sum ``generator_loss`` forms with float weights. A weight of exactly 0 contributes
  exactly zero gradient, and its term is left out of the returned history. The discriminator is evaluated every
  step too but only *trained* when the adversarial weight is > 0 (its learning rate is 0 otherwise), so a run
  without the adversarial term is a run with a frozen, unused discriminator. The models, their optimizers and the compiled step are cached per configuration and batch shape
  and reset to the seed's initial weights (and zeroed optimizer state) at the start of every run: a run depends
  only on its arguments.
* **Toy class labels.** The tiny config has no classification head; here it gets one with one "class" per photo
  of the batch (label = the photo's index), so the classification term has something to learn. Real training
  uses Places365's 365 scene labels (the paper: ImageNet's 1000 classes).
* Adam with learning rate 2e-3 for both networks (ten times pix2pix's 2e-4: large enough that a few dozen steps
  visibly move the output), with β₁ = 0.5 for the discriminator as in pix2pix.
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

import keras
import numpy as np
from keras import ops
from PIL import Image

from colorlab import color, io, losses
from colorlab.errors import ConfigError

__all__ = ["DEFAULT_PHOTOS", "TERM_COLORS", "make_batch", "to_rgb", "train_briefly", "clear_cache", "plot_history",
           "show_results", "plot_run"]

#: The sample photos of the default batch (file names in ``data/samples`` without ``.jpg``): four different
#: palettes — a red/blue/yellow bird, a garden, a blue lake, orange fruit.
DEFAULT_PHOTOS = ("parrot", "flower_1", "lake_1", "fruit_1")


# ------------------------------------------------------------------------------------------------------ data
def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) float in [0, 1] -> (size, size, 3) float32, area (box) resampling via Pillow."""
    image = Image.fromarray(np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8), mode="RGB")
    return np.asarray(image.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0


def _photo_path(name: str):
    paths = {path.stem: path for path in io.sample_paths()}
    if not paths:
        raise ConfigError("make_batch: no sample photos found (data/samples of a colorlab checkout is needed)")
    if name not in paths:
        raise ConfigError(f"make_batch: no sample photo named {name!r}; available: {', '.join(sorted(paths))}")
    return paths[name]


def make_batch(names: Sequence[str] = DEFAULT_PHOTOS, size: int = 32, reference_size: int | None = None,
               crop: float = 0.75) -> dict:
    """A fixed batch of (target, reference) pairs with known ground truth, from the sample photos.

    For each photo: the largest centred square is the **target** region, resized to ``size``; its L is the
    model's input and its ab the ground truth. The **reference** is the square's bottom-right ``crop`` fraction
    (side ``crop·s``), flipped left–right and resized to ``reference_size``: the same colours as the target, but
    not aligned pixel for pixel, so the model has to find them (our choice, one of the pair kinds of DESIGN.md:
    "the same image under strong geometric augmentation").

    Args:
        names: sample photo names (``data/samples/NAME.jpg``); N = len(names).
        size: target side in pixels (≥ 8; the discriminator needs ≥ 24 with the tiny config's 3 layers).
        reference_size: reference side (default: ``size``).
        crop: side of the reference crop as a fraction of the square, in (0, 1].

    Returns:
        dict of NumPy arrays: ``"target_l"`` (N, size, size, 1) = L/50 − 1; ``"target_ab"`` (N, size, size, 2)
        = ab/110 (the ground truth); ``"reference_lab"`` (N, r, r, 3) = (L/50 − 1, a/110, b/110);
        ``"labels"`` (N,) int32 = 0 … N−1 (toy classes, one per photo); ``"target_rgb"`` (N, size, size, 3)
        and ``"reference_rgb"`` (N, r, r, 3) in [0, 1]; and ``"names"``, the list of names.

    Raises:
        ConfigError: no/unknown photo names, a size below 8 or a crop outside (0, 1].
    """
    reference_size = size if reference_size is None else reference_size
    for label, value in (("size", size), ("reference_size", reference_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 8:
            raise ConfigError(f"make_batch: {label} must be an integer >= 8, got {value!r}")
    if isinstance(crop, bool) or not isinstance(crop, (int, float)) or not 0.0 < crop <= 1.0:
        raise ConfigError(f"make_batch: crop must be a fraction in (0, 1], got {crop!r}")
    names = list(names) if not isinstance(names, str) else [names]
    if not names:
        raise ConfigError("make_batch: names must list at least one sample photo")
    targets, references = [], []
    for name in names:
        rgb = io.load_image(_photo_path(name))
        height, width = rgb.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = rgb[top:top + side, left:left + side]
        cut = max(1, int(round(crop * side)))
        targets.append(_resize(square, int(size)))
        references.append(_resize(square[side - cut:, side - cut:][:, ::-1], int(reference_size)))
    target_rgb, reference_rgb = np.stack(targets), np.stack(references)
    target = np.asarray(ops.convert_to_numpy(color.normalize_lab(color.rgb_to_lab(target_rgb))), np.float32)
    reference = np.asarray(ops.convert_to_numpy(color.normalize_lab(color.rgb_to_lab(reference_rgb))), np.float32)
    return {"target_l": target[..., :1], "target_ab": target[..., 1:], "reference_lab": reference,
            "labels": np.arange(len(names), dtype=np.int32), "target_rgb": target_rgb,
            "reference_rgb": reference_rgb, "names": names}


def to_rgb(target_l, ab) -> np.ndarray:
    """Model-scale L (N, H, W, 1) and ab (N, H, W, 2) -> sRGB (N, H, W, 3) float32 in [0, 1] (clipped)."""
    lab = color.denormalize_lab(np.concatenate([np.asarray(target_l), np.asarray(ab)], axis=-1).astype(np.float32))
    return np.asarray(ops.convert_to_numpy(color.lab_to_rgb(lab)), dtype=np.float32)


# -------------------------------------------------------------------------------------------------- training
_CACHE: dict = {}


def clear_cache() -> None:
    """Forgets the cached models and compiled steps (they are rebuilt on the next :func:`train_briefly`)."""
    _CACHE.clear()


def _weights_dict(weights) -> dict[str, float]:
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(losses.TERMS))
        if unknown:
            raise ConfigError(f"train_briefly: unknown loss weight(s) {unknown}; known: {list(losses.TERMS)}")
        # Terms left out count as 0 here (unlike LossWeights.from_dict): the playground shows what you ask for.
        weights = {name: weights.get(name, 0.0) for name in losses.TERMS}
    return losses.LossWeights.coerce(weights).as_dict()


def _build(config, side: int, seed: int):
    """Generator + discriminator created under ``seed`` (Keras initialisers draw their seeds from it)."""
    from colorlab.models import PatchDiscriminator, build_gray2colornet
    from colorlab.step import set_seed

    set_seed(seed)
    generator = build_gray2colornet(config)
    discriminator = PatchDiscriminator.from_model_config(config)
    discriminator(keras.KerasTensor((1, side, side, 3)))   # a symbolic call creates the weights
    return generator, discriminator


class _Trainer:
    """One configuration and batch shape: the models, their optimizers and the training step
    (:class:`colorlab.step.GanStep`, compiled once)."""

    def __init__(self, config, side: int, adversarial_kind: str, seed: int, loss_pieces: dict):
        from colorlab.step import GanStep

        self.config, self.side = config, side
        self.generator, self.discriminator = _build(config, side, seed)
        self.initial = {seed: (self.generator.get_weights(), self.discriminator.get_weights())}
        g_opt = keras.optimizers.Adam(2e-3)
        d_opt = keras.optimizers.Adam(2e-3, beta_1=0.5)
        g_opt.build(self.generator.trainable_variables)
        d_opt.build(self.discriminator.trainable_variables)
        self.step = GanStep(self.generator, self.discriminator, g_opt, d_opt, adversarial_kind=adversarial_kind,
                            loss_pieces=loss_pieces)

    def reset(self, seed: int, learning_rate: float, adversarial: bool) -> None:
        self.step.sync()
        if seed not in self.initial:
            generator, discriminator = _build(self.config, self.side, seed)
            self.initial[seed] = (generator.get_weights(), discriminator.get_weights())
        g_weights, d_weights = self.initial[seed]
        self.generator.set_weights(g_weights)
        self.discriminator.set_weights(d_weights)
        for optimizer, rate in ((self.step.g_optimizer, learning_rate),
                                (self.step.d_optimizer, learning_rate if adversarial else 0.0)):
            for variable in optimizer.variables:    # step count and Adam moments back to 0 ...
                variable.assign(ops.zeros(variable.shape, variable.dtype))
            optimizer.learning_rate = rate          # ... then the learning rate (also a variable) is set

    def predict(self, target_l, reference_lab) -> np.ndarray:
        """The generator's ab at the latest weights (compiled by Keras' ``predict_on_batch``)."""
        self.step.sync()
        return np.asarray(self.generator.predict_on_batch([target_l, reference_lab])["ab"])


def train_briefly(weights=None, steps: int = 20, seed: int = 0, *, batch: dict | None = None,
                  config="tiny", learning_rate: float = 2e-3, adversarial_kind: str = "bce",
                  loss_pieces=None) -> dict:
    """Trains the tiny generator for ``steps`` steps on a fixed batch with weighted losses; returns the history.

    Each step (:class:`colorlab.step.GanStep`, the step :class:`colorlab.train.Trainer` runs): one forward pass of
    the generator on the whole batch, the five terms of :func:`colorlab.losses.generator_loss` (reconstruction
    against the ground-truth ab, histogram against the reference's ab, classification against the toy labels,
    adversarial through the patch discriminator, total variation), one Adam update of the generator on
    ``total = Σ_t w_t · L_t``, and — when the adversarial weight is > 0 — one Adam update of the discriminator on
    :func:`colorlab.losses.discriminator_loss` (real: the ground-truth ab; fake: this step's output). Runs on
    TensorFlow and on JAX (see the module docstring for the caching that makes a re-run take seconds).

    Deterministic for a given ``seed`` and arguments: the models start from the seed's initial weights, the
    optimizers from zero state. Calls :func:`colorlab.step.set_seed` the first time a seed is used (which also
    seeds Python's and NumPy's global generators).

    Args:
        weights: the five loss weights: a dict (terms left out are **0** here), a
            :class:`colorlab.losses.LossWeights`, or None for its defaults (ours: 1, 0.5, 0.01, 0.01, 0.1).
        steps: number of training steps (≥ 1).
        seed: seed of the initial weights.
        batch: a :func:`make_batch` dict; default ``make_batch(DEFAULT_PHOTOS, size=config.image_size)``.
        config: a config name or :class:`colorlab.models.Gray2ColorConfig` (``num_classes`` is replaced by the
            number of toy labels), e.g. ``get_config("tiny", gate_value=1.0)`` for a run without the learned gate.
        learning_rate: Adam's learning rate (generator and discriminator).
        adversarial_kind: GAN objective, one of :data:`colorlab.losses.ADVERSARIAL_KINDS`.
        loss_pieces: optional ``{name: function}`` of :data:`colorlab.losses.LOSS_PIECES` (the notebook's own
            histogram and adversarial losses); a new set of functions compiles a new step.

    Returns:
        dict: ``"weights"`` {term: weight}; ``"steps"``; ``"total"`` float64 (steps,), the weighted sum at each
        step (computed before that step's update); ``"terms"`` {term: float64 (steps,)}, the *unweighted* value of
        every term whose weight is > 0, in :data:`colorlab.losses.TERMS` order; ``"discriminator"`` float64
        (steps,) — the discriminator's loss — only when the adversarial weight is > 0; ``"initial_ab"`` and
        ``"prediction_ab"`` (N, H, W, 2) model units, the output before the first and after the last update;
        ``"initial_rgb"`` and ``"prediction_rgb"`` (N, H, W, 3) in [0, 1], those ab with the target's L.

    Raises:
        ConfigError: a backend other than TensorFlow or JAX, bad weights (negative, unknown name, all zero), bad
            ``steps``, ``learning_rate`` or ``adversarial_kind``, or a batch without the :func:`make_batch` keys.
    """
    from colorlab.models import Gray2ColorConfig, get_config

    weights = _weights_dict(weights)
    if not any(weights.values()):
        raise ConfigError("train_briefly: every loss weight is 0 — nothing would be trained; set at least one > 0")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"train_briefly: steps must be an integer >= 1, got {steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"train_briefly: seed must be an integer, got {seed!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not 0.0 < learning_rate < float("inf"):
        raise ConfigError(f"train_briefly: learning_rate must be a positive number, got {learning_rate!r}")
    if adversarial_kind not in losses.ADVERSARIAL_KINDS:
        raise ConfigError(f"train_briefly: adversarial_kind must be one of {losses.ADVERSARIAL_KINDS}, "
                          f"got {adversarial_kind!r}")
    if isinstance(config, str):
        config = get_config(config)
    elif not isinstance(config, Gray2ColorConfig):
        raise ConfigError(f"train_briefly: config must be a config name or a Gray2ColorConfig, got {config!r}")
    if batch is None:
        batch = make_batch(DEFAULT_PHOTOS, size=config.image_size)
    missing = sorted({"target_l", "target_ab", "reference_lab", "labels"} - set(batch))
    if missing:
        raise ConfigError(f"train_briefly: batch lacks {missing}; build it with colorlab.course.ch07_losses.make_batch")
    arrays = [np.asarray(batch[key], dtype=np.float32) for key in ("target_l", "target_ab", "reference_lab")]
    labels = np.asarray(batch["labels"], dtype=np.int32)
    config = config.replace(num_classes=int(labels.max()) + 1)

    pieces = losses.check_loss_pieces(loss_pieces)
    key = (json.dumps(config.to_dict(), sort_keys=True), tuple(a.shape for a in arrays), adversarial_kind,
           tuple(sorted((name, id(function)) for name, function in pieces.items())))
    if key not in _CACHE:
        _CACHE[key] = _Trainer(config, arrays[0].shape[1], adversarial_kind, int(seed), pieces)
    trainer = _CACHE[key]
    trainer.reset(int(seed), float(learning_rate), weights["adversarial"] > 0)

    weight_vector = np.array([weights[name] for name in losses.TERMS], dtype=np.float32)
    step_batch = {"target_l": arrays[0], "target_ab": arrays[1], "reference_lab": arrays[2], "label": labels}
    totals, terms, disc = [], {name: [] for name in losses.TERMS}, []
    initial_ab = None
    for _ in range(int(steps)):
        metrics, ab = trainer.step.run(step_batch, weight_vector)
        if initial_ab is None:
            initial_ab = np.asarray(ops.convert_to_numpy(ab))
        totals.append(float(metrics["loss"]))
        for name in losses.TERMS:
            terms[name].append(float(metrics[name]))
        disc.append(float(metrics["d_loss"]))
    prediction_ab = trainer.predict(arrays[0], arrays[2])

    history = {
        "weights": weights, "steps": int(steps), "total": np.array(totals),
        "terms": {name: np.array(values) for name, values in terms.items() if weights[name] > 0},
        "initial_ab": initial_ab, "prediction_ab": prediction_ab,
        "initial_rgb": to_rgb(arrays[0], initial_ab), "prediction_rgb": to_rgb(arrays[0], prediction_ab),
    }
    if weights["adversarial"] > 0:
        history["discriminator"] = np.array(disc)
    return history


# -------------------------------------------------------------------------------------------------- figures
#: One colour per term, shared by every figure of the chapter.
TERM_COLORS = {"reconstruction": "tab:blue", "histogram": "tab:orange", "classification": "tab:green",
               "adversarial": "tab:red", "tv": "tab:purple", "discriminator": "tab:gray", "total": "black"}


def plot_history(history: dict, ax=None, title: str | None = None, relative: bool = False):
    """Loss curves of one :func:`train_briefly` run: each active term (unweighted), the total and the
    discriminator's loss, against the step, on a logarithmic y axis (values below 1e-4 drawn at 1e-4).

    Args:
        history: a :func:`train_briefly` result.
        ax: Axes to draw on (a new figure if None).
        title: Axes title (default: the weights).
        relative: divide each curve by its value at step 0, so terms of different sizes share one scale and
            "went down" reads as "below 1".

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.4))
    curves = dict(history["terms"])
    if "discriminator" in history:
        curves["discriminator"] = history["discriminator"]
    curves["total"] = history["total"]
    steps = np.arange(history["steps"])
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if relative:
            values = values / values[0] if values[0] != 0 else values
        ax.plot(steps, np.maximum(values, 1e-4), label=name, color=TERM_COLORS.get(name),
                linestyle="--" if name in ("total", "discriminator") else "-")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss / loss at step 0" if relative else "loss (unweighted terms)")
    if title is None:
        title = ", ".join(f"{name[:5]} {value:g}" for name, value in history["weights"].items() if value > 0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return ax


def show_results(batch: dict, histories: Mapping[str, dict], size: float = 1.6):
    """A grid of images: one row per photo; columns gray target, reference, each run's result, ground truth.

    Args:
        batch: the :func:`make_batch` dict the runs used.
        histories: {column title: :func:`train_briefly` result}.
        size: inches per image.

    Returns:
        The Figure.
    """
    import matplotlib.pyplot as plt

    from colorlab.course.figures import panel_size

    gray = to_rgb(batch["target_l"], np.zeros_like(batch["target_ab"]))
    columns = [("gray target (input)", gray), ("reference", batch["reference_rgb"])]
    columns += [(name, history["prediction_rgb"]) for name, history in histories.items()]
    columns.append(("ground truth", batch["target_rgb"]))
    rows = len(batch["target_l"])
    size = panel_size(size, len(columns))
    fig, axes = plt.subplots(rows, len(columns), figsize=(size * len(columns), size * rows + 0.3), squeeze=False)
    for col, (name, images) in enumerate(columns):
        for row in range(rows):
            ax = axes[row, col]
            ax.imshow(np.clip(images[row], 0.0, 1.0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=8)
            if col == 0:
                ax.set_ylabel(batch["names"][row], fontsize=8)
    fig.tight_layout()
    return fig


def plot_run(batch: dict, history: dict, size: float = 1.5):
    """One run at a glance (the widget's figure): its loss curves on the left, then each photo's colouring
    before training, after training and the ground truth, one column per photo.

    Args:
        batch: the :func:`make_batch` dict the run used.
        history: a :func:`train_briefly` result.
        size: inches per image.

    Returns:
        The Figure.
    """
    import matplotlib.pyplot as plt

    from colorlab.course.figures import panel_size

    n = len(batch["target_l"])
    size = panel_size(size, n, extra=4.6)
    fig = plt.figure(figsize=(4.6 + size * n, 3 * size + 0.4))
    grid = fig.add_gridspec(3, n + 3)
    plot_history(history, ax=fig.add_subplot(grid[:, :3]))
    rows = (("before training", history["initial_rgb"]), (f"after {history['steps']} steps",
                                                          history["prediction_rgb"]),
            ("ground truth", batch["target_rgb"]))
    for row, (label, images) in enumerate(rows):
        for col in range(n):
            ax = fig.add_subplot(grid[row, 3 + col])
            ax.imshow(np.clip(images[col], 0.0, 1.0), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(batch["names"][col], fontsize=8)
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return fig
