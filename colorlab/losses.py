"""Gray2ColorNet's five training losses, in ``keras.ops`` (they run on TensorFlow and on JAX).

The paper (Lu et al., ACM MM 2020) trains with five terms: a multi-scale smooth-L1 reconstruction of ab, a
histogram loss that pulls the output's colour distribution towards the reference's, a classification
cross-entropy, an adversarial loss from a patch discriminator and total variation. **The paper's**: the five
terms and what each compares. The official release has test code only — no training code, no loss weights —
so every constant below (δ, the per-scale weights, the χ² convention, the GAN objective, the TV normalisation,
the default weights) is **ours**; each docstring says which and why.

Conventions (the generator's): ab in *model units*, ab/110 (the tanh range [−1, 1]); L as L/50 − 1. Every
loss returns a scalar backend tensor, averaged over the batch, so the value does not change with batch size.
Generator outputs are a dict ``{"ab": (N, H, W, 2), "ab_half": (N, ⌈H/2⌉, ⌈W/2⌉, 2),
"ab_quarter": (N, ⌈H/4⌉, ⌈W/4⌉, 2), "logits"?: (N, C)}``.

Default weights (ours, :data:`colorlab.models.config.DEFAULT_LOSS_WEIGHTS`, the defaults of :class:`LossWeights`
and of every model config): reconstruction 1.0, histogram 0.5, classification 0.01, adversarial 0.01, tv 0.1 —
starting values to tune; the class docstring gives each term's measured magnitude at initialisation and what the
weights balance.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from colorlab.errors import ConfigError
from colorlab.models.config import DEFAULT_LOSS_WEIGHTS

__all__ = [
    "AB_SCALE", "SCALE_KEYS", "DEFAULT_SCALE_WEIGHTS", "DEFAULT_DELTA", "ADVERSARIAL_KINDS", "TERMS",
    "LossWeights", "smooth_l1", "area_resize", "multiscale_smooth_l1", "chi_square_distance", "histogram_loss",
    "classification_loss", "discriminator_loss", "generator_adversarial_loss", "total_variation",
    "generator_loss",
]

#: Model ab units → Lab units (the official code's ab/110).
AB_SCALE = 110.0
#: Generator output keys, finest scale first.
SCALE_KEYS = ("ab", "ab_half", "ab_quarter")
#: Ours: full resolution counts most; the coarse outputs are auxiliary (deep) supervision that gives the
#: decoder's early stages a direct signal, halved per octave so they guide without dominating.
DEFAULT_SCALE_WEIGHTS = (1.0, 0.5, 0.25)
#: Ours: 0.05 model units = 5.5 ab units, about two just-noticeable differences (ΔE*ab ≈ 2.3 is the usual JND).
#: Errors below it are penalised quadratically (a smooth minimum: no L1 kink to oscillate around), errors above it
#: linearly (an L1 tail: robust to the many plausible colours of an object, so it desaturates less than L2).
DEFAULT_DELTA = 0.05
#: GAN objectives :func:`discriminator_loss` and :func:`generator_adversarial_loss` know.
ADVERSARIAL_KINDS = ("bce", "lsgan", "hinge")
#: The five terms, in the order :func:`generator_loss` reports them.
TERMS = ("reconstruction", "histogram", "classification", "adversarial", "tv")
#: The loss functions a notebook can replace with its own (``generator_loss(..., pieces=...)``, ``GanStep``), and
#: how each is called: ``histogram(pred_ab, reference_ab)``, ``adversarial(fake_logits)`` (the generator's term),
#: ``discriminator(real_logits, fake_logits)``. A piece replaces the term whatever ``adversarial_kind`` says.
LOSS_PIECES = ("histogram", "adversarial", "discriminator")


# ---- helpers ----------------------------------------------------------------------------------------------------
def _tensor(x, name: str, rank: int | None = None, last_dim: int | None = None):
    if x is None:
        raise ConfigError(f"{name} is missing (got None)")
    x = ops.convert_to_tensor(x)
    if not keras.backend.standardize_dtype(x.dtype).startswith(("float", "bfloat")):
        x = ops.cast(x, keras.config.floatx())
    shape = tuple(x.shape)
    if rank is not None and len(shape) != rank:
        raise ConfigError(f"{name} must have rank {rank}, got shape {shape}")
    if last_dim is not None and shape and shape[-1] is not None and shape[-1] != last_dim:
        raise ConfigError(f"{name} must have {last_dim} channels in its last axis, got shape {shape}")
    return x


def check_loss_pieces(pieces) -> dict:
    """Validates ``{name: function}`` of :data:`LOSS_PIECES`; returns it as a dict (empty for None).

    Raises:
        ConfigError: an unknown name or something that is not callable.
    """
    pieces = dict(pieces or {})
    for name, function in pieces.items():
        if name not in LOSS_PIECES:
            raise ConfigError(f"unknown loss piece {name!r}: the loss functions a notebook can replace are "
                              f"{list(LOSS_PIECES)}")
        if not callable(function):
            raise ConfigError(f"loss piece {name!r} must be a function, got {function!r}")
    return pieces


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


# ---- 1. multi-scale smooth-L1 ------------------------------------------------------------------------------------
def smooth_l1(pred, target, delta: float = DEFAULT_DELTA):
    """Mean smooth-L1 (Huber divided by δ) between two tensors of the same shape.

    ``ℓ(x) = ½ x² / δ`` if ``|x| < δ``, else ``|x| − ½ δ``, with ``x = pred − target``; returns the mean of ℓ
    over every element (batch, pixels, channels). The two branches meet with equal value and slope (±1) at
    ``|x| = δ``; for large errors ℓ is L1 shifted by δ/2 (PyTorch's ``smooth_l1_loss`` with ``beta=δ``; Keras'
    ``Huber`` is δ·ℓ).

    Args:
        pred, target: tensors of equal shape, e.g. ab ``(N, H, W, 2)`` in model units.
        delta: δ > 0, the switch point, in the units of the inputs.

    Returns:
        Scalar tensor.
    """
    delta = _check_positive("smooth_l1: delta", delta)
    pred, target = _tensor(pred, "pred"), _tensor(target, "target")
    if tuple(pred.shape) != tuple(target.shape) and None not in tuple(pred.shape) + tuple(target.shape):
        raise ConfigError(f"smooth_l1: pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    error = ops.abs(pred - target)
    loss = ops.where(error < delta, 0.5 * ops.square(error) / delta, error - 0.5 * delta)
    return ops.mean(loss)


def _area_matrix(source: int, target: int) -> np.ndarray:
    """(target, source) matrix: row i averages the source pixels under output pixel i's footprint."""
    ratio = source / target
    edges = np.arange(target + 1) * ratio                     # footprint i spans [edges[i], edges[i+1])
    left = np.maximum(edges[:-1, None], np.arange(source)[None, :])
    right = np.minimum(edges[1:, None], np.arange(source)[None, :] + 1)
    return (np.clip(right - left, 0.0, None) / ratio).astype(np.float64)


def area_resize(images, size: Sequence[int]):
    """Area (box) resampling of ``(N, H, W, C)`` images to ``(N, h, w, C)``, for any h, w (odd sizes too).

    Output pixel (i, j) covers the input rectangle ``[i·H/h, (i+1)·H/h) × [j·W/w, (j+1)·W/w)`` and is the
    average of the input over it, pixels cut by its edge counting with their overlap fraction. For H = 2h it is
    exactly 2×2 average pooling; it is separable, so it runs as two small matrix products
    ``out = A_h · x · A_wᵀ`` with the (h, H) and (w, W) overlap matrices built from the *static* shapes.
    A constant image stays constant (every row of A sums to 1). Same as TensorFlow's ``"area"`` resize, which
    ``keras.ops.image.resize`` does not offer on JAX — hence our own.

    Raises:
        ConfigError: images is not rank 4, its H or W is not known statically, or ``size`` is not two
            positive ints.
    """
    images = _tensor(images, "area_resize: images", rank=4)
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size):
        raise ConfigError(f"area_resize: size must be two positive ints (h, w), got {size!r}")
    height, width = tuple(images.shape)[1:3]
    if height is None or width is None:
        raise ConfigError("area_resize needs images whose height and width are known statically, "
                          f"got shape {tuple(images.shape)}")
    h, w = int(size[0]), int(size[1])
    if (h, w) == (height, width):
        return images
    dtype = images.dtype
    rows = ops.convert_to_tensor(_area_matrix(height, h), dtype=dtype)      # (h, H)
    cols = ops.convert_to_tensor(_area_matrix(width, w), dtype=dtype)       # (w, W)
    out = ops.einsum("ih,nhwc->niwc", rows, images)
    return ops.einsum("jw,niwc->nijc", cols, out)


def multiscale_smooth_l1(outputs, target_ab, weights: Sequence[float] = DEFAULT_SCALE_WEIGHTS,
                         delta: float = DEFAULT_DELTA):
    """Reconstruction loss: smooth-L1 between each predicted ab scale and the ground truth at that scale.

    ``L_rec = Σ_s w_s · mean(ℓ_δ(ab_s − A_s(ab_gt)))``, s over full, half and quarter resolution, where
    ``A_s`` is :func:`area_resize` to *that prediction's exact shape* (so ⌈H/2⌉ for odd H is handled), and ℓ_δ
    is :func:`smooth_l1`. Each scale's mean is over its own pixels, so a scale's weight is not diluted by its
    size; the sum is not re-normalised by Σ w. Terms with weight 0 are skipped.

    The paper's: multi-scale supervision of the ab outputs with smooth-L1. Ours: the scale weights
    (:data:`DEFAULT_SCALE_WEIGHTS`), δ (:data:`DEFAULT_DELTA`) and area resizing of the target (the average
    colour of the footprint is the best single colour for a coarse pixel under L2, and it never invents colours
    the way a sharper resampling kernel's overshoot can).

    Args:
        outputs: the generator's dict (keys ``"ab"``, ``"ab_half"``, ``"ab_quarter"``), or a sequence of
            ab tensors finest first, each ``(N, h_s, w_s, 2)`` in model units.
        target_ab: ground-truth ab ``(N, H, W, 2)`` in model units.
        weights: one weight ≥ 0 per scale, finest first.
        delta: δ of the smooth-L1, in model units.

    Returns:
        Scalar tensor.

    Raises:
        ConfigError: a scale with non-zero weight is missing, or bad weights / shapes.
    """
    if isinstance(outputs, Mapping):
        predictions = [outputs.get(key) for key in SCALE_KEYS]
        names = list(SCALE_KEYS)
    else:
        predictions = list(outputs)
        names = [f"outputs[{i}]" for i in range(len(predictions))]
    weights = tuple(weights)
    if len(weights) != len(predictions):
        raise ConfigError(f"multiscale_smooth_l1: need one weight per scale {tuple(names)}, got {weights!r}")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0 \
                or not math.isfinite(weight):
            raise ConfigError(f"multiscale_smooth_l1: scale weights must be finite numbers >= 0, got {weights!r}")
    target_ab = _tensor(target_ab, "target_ab", rank=4, last_dim=2)
    total = None
    for name, prediction, weight in zip(names, predictions, weights):
        if weight == 0:
            continue
        if prediction is None:
            raise ConfigError(f"multiscale_smooth_l1: outputs has no {name!r} but its weight is {weight}")
        prediction = _tensor(prediction, name, rank=4, last_dim=2)
        target = area_resize(target_ab, tuple(prediction.shape)[1:3])
        term = weight * smooth_l1(prediction, ops.cast(target, prediction.dtype), delta)
        total = term if total is None else total + term
    return ops.zeros((), dtype=target_ab.dtype) if total is None else total


# ---- 2. histogram loss -------------------------------------------------------------------------------------------
def chi_square_distance(p, q, eps: float = 1e-6):
    """Symmetric χ² distance between histograms along the last axis.

    ``χ²(p, q) = ½ Σ_k (p_k − q_k)² / (p_k + q_k + ε)``.

    The ½ is our convention: with it, χ² of two probability vectors lies in [0, 1] — 0 for equal histograms,
    → 1 for histograms with disjoint supports — so a histogram weight reads as "weight × a fraction". (Without
    the ½ the range is [0, 2]; some papers write it that way.) ε keeps empty bins (p_k = q_k = 0) at 0/ε = 0
    instead of 0/0.

    Args:
        p, q: histograms ``(..., K)``, same shape (rows normally sum to 1).
        eps: ε > 0.

    Returns:
        Tensor ``(...)``: one distance per histogram pair.
    """
    eps = _check_positive("chi_square_distance: eps", eps)
    p, q = _tensor(p, "p"), _tensor(q, "q")
    if tuple(p.shape) != tuple(q.shape) and None not in tuple(p.shape) + tuple(q.shape):
        raise ConfigError(f"chi_square_distance: p and q shapes differ: {tuple(p.shape)} vs {tuple(q.shape)}")
    return 0.5 * ops.sum(ops.square(p - q) / (p + q + eps), axis=-1)


def histogram_loss(pred_ab, reference_ab, eps: float = 1e-6, *, bins: int = 21, sigma: float | None = None,
                   ab_scale: float = AB_SCALE):
    """Colour-distribution loss: χ² between the soft ab histograms of the output and of the reference.

    ``L_hist = mean_n χ²(h(110·ab_pred[n]), h(110·ab_ref[n]))`` with ``h`` =
    :func:`colorlab.color.soft_ab_histogram` (21×21 = 441 bins over ±110, Gaussian soft binning, rows sum to 1)
    and χ² = :func:`chi_square_distance` (with the ½: values in [0, 1]).

    The paper's: a χ²-like histogram loss between output and reference, on the same 441-bin ab histogram its
    colour-distribution branch reads. Ours: the soft binning (so the loss has a gradient), the ½ convention and ε.
    Output and reference can differ in size: histograms are normalised.

    Args:
        pred_ab: generator ab ``(N, H, W, 2)`` in model units.
        reference_ab: reference ab ``(N, H_r, W_r, 2)`` in model units (no gradient is needed through it).
        eps: ε of the χ².
        bins, sigma: passed to ``soft_ab_histogram`` (sigma in Lab units; default half a bin).
        ab_scale: model units → Lab units (110).

    Returns:
        Scalar tensor.
    """
    from colorlab.color import soft_ab_histogram

    pred_ab = _tensor(pred_ab, "pred_ab", rank=4, last_dim=2)
    reference_ab = _tensor(reference_ab, "reference_ab", rank=4, last_dim=2)
    ab_scale = _check_positive("histogram_loss: ab_scale", ab_scale)
    p = soft_ab_histogram(pred_ab * ab_scale, bins=bins, ab_max=AB_SCALE, sigma=sigma)
    q = soft_ab_histogram(ops.cast(reference_ab, pred_ab.dtype) * ab_scale, bins=bins, ab_max=AB_SCALE,
                          sigma=sigma)
    return ops.mean(chi_square_distance(p, q, eps))


# ---- 3. classification -------------------------------------------------------------------------------------------
def classification_loss(logits, labels):
    """Scene classification: mean softmax cross-entropy from logits.

    ``L_cls = −mean_n log softmax(z_n)[y_n] = mean_n (logsumexp(z_n) − z_n[y_n])``.

    The paper's: a classification head trained with cross-entropy on **ImageNet's 1000 classes**, so the
    encoder learns semantics that help choose colours. Ours: **Places365's 365 scene labels** — the data we train
    on (DESIGN.md); the loss is the same.

    Args:
        logits: ``(N, C)`` unnormalised scores.
        labels: ``(N,)`` integer class indices in [0, C).

    Returns:
        Scalar tensor.
    """
    logits = _tensor(logits, "logits", rank=2)
    labels = ops.convert_to_tensor(labels)
    if len(tuple(labels.shape)) != 1:
        raise ConfigError(f"labels must have shape (N,) (class indices), got shape {tuple(labels.shape)}")
    if not keras.backend.standardize_dtype(labels.dtype).startswith(("int", "uint")):
        raise ConfigError(f"labels must be integer class indices, got dtype {labels.dtype}")
    return ops.mean(ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


# ---- 4. adversarial ----------------------------------------------------------------------------------------------
def _check_kind(kind: str) -> str:
    if kind not in ADVERSARIAL_KINDS:
        raise ConfigError(f"adversarial loss kind must be one of {ADVERSARIAL_KINDS}, got {kind!r}")
    return kind


def discriminator_loss(real_logits, fake_logits, kind: str = "bce"):
    """The discriminator's loss on patch logits for real and generated colourings (sum of two means).

    With r = real logits, f = fake logits, means over every patch of every image:

    * ``"bce"`` (default; pix2pix's): ``mean(softplus(−r)) + mean(softplus(f))``
      = −mean log σ(r) − mean log(1 − σ(f)).
    * ``"lsgan"`` (Mao et al., 2017): ``mean((r − 1)²) + mean(f²)``.
    * ``"hinge"`` (as in SN-GAN, Miyato et al., 2018): ``mean(relu(1 − r)) + mean(relu(1 + f))``.

    Ours: the paper names an adversarial loss but not its form. We default to pix2pix's binary cross-entropy
    because our discriminator is pix2pix's PatchGAN (notebook 06 compares with it) and its logits read as
    per-patch probabilities; the others are one argument away for experiments. We sum the real and fake terms
    (the TensorFlow pix2pix tutorial does; the PyTorch code halves them — with Adam the factor barely matters).

    Args:
        real_logits, fake_logits: ``(N, H', W', 1)`` (any shapes).
        kind: one of :data:`ADVERSARIAL_KINDS`.

    Returns:
        Scalar tensor.
    """
    kind = _check_kind(kind)
    real, fake = _tensor(real_logits, "real_logits"), _tensor(fake_logits, "fake_logits")
    if kind == "bce":
        return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))
    if kind == "lsgan":
        return ops.mean(ops.square(real - 1.0)) + ops.mean(ops.square(fake))
    return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))


def generator_adversarial_loss(fake_logits, kind: str = "bce"):
    """The generator's adversarial loss: make the discriminator call its colourings real.

    * ``"bce"``: ``mean(softplus(−f))`` = −mean log σ(f), the *non-saturating* form (Goodfellow et al., 2014):
      its gradient stays large when the discriminator confidently rejects the fake, unlike log(1 − σ(f)).
    * ``"lsgan"``: ``mean((f − 1)²)``.
    * ``"hinge"``: ``−mean(f)``.

    Args:
        fake_logits: discriminator logits on the generator's output, ``(N, H', W', 1)`` (any shape).
        kind: one of :data:`ADVERSARIAL_KINDS`; use the discriminator's.

    Returns:
        Scalar tensor.
    """
    kind = _check_kind(kind)
    fake = _tensor(fake_logits, "fake_logits")
    if kind == "bce":
        return ops.mean(ops.softplus(-fake))
    if kind == "lsgan":
        return ops.mean(ops.square(fake - 1.0))
    return -ops.mean(fake)


# ---- 5. total variation ------------------------------------------------------------------------------------------
def total_variation(ab):
    """Anisotropic L1 total variation: the mean absolute difference between 4-neighbours.

    ``TV = (Σ |x[n,i+1,j,c] − x[n,i,j,c]| + Σ |x[n,i,j+1,c] − x[n,i,j,c]|) / (N·C·((H−1)·W + H·(W−1)))``

    — every vertical and horizontal neighbour pair counts once and the sum is divided by the number of pairs
    (ours: so the value is "the average jump between adjacent pixels", independent of image size and batch size).
    The paper's: a TV term that discourages colour noise and blotches.

    Args:
        ab: ``(N, H, W, C)`` (C = 2 for ab), H·W ≥ 2, static H and W.

    Returns:
        Scalar tensor.
    """
    ab = _tensor(ab, "total_variation: ab", rank=4)
    height, width = tuple(ab.shape)[1:3]
    if height is None or width is None:
        raise ConfigError(f"total_variation needs static height and width, got shape {tuple(ab.shape)}")
    if height * width < 2:
        raise ConfigError(f"total_variation needs at least two pixels, got shape {tuple(ab.shape)}")
    pairs_v, pairs_h = (height - 1) * width, height * (width - 1)
    total = ops.zeros((), dtype=ab.dtype)
    if pairs_v:
        total = total + ops.sum(ops.mean(ops.abs(ab[:, 1:] - ab[:, :-1]), axis=(0, 3)))
    if pairs_h:
        total = total + ops.sum(ops.mean(ops.abs(ab[:, :, 1:] - ab[:, :, :-1]), axis=(0, 3)))
    return total / (pairs_v + pairs_h)


# ---- 6./7. weights and the total ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossWeights:
    """Weights of the five generator terms (ours: the official release publishes none). 0 switches a term off.

    Measured at initialisation (``course`` config, six scikit-image photos at 64², another photo as the
    reference; term value / gradient norm on the shared encoder's weights):

    ==============  =======  =========  ==============================================================
    term            value    grad norm  note
    ==============  =======  =========  ==============================================================
    reconstruction  0.31     3.1        an all-gray output scores 0.25 on these photos
    histogram       0.54     6.9        χ² ∈ [0, 1]; a gray output vs the reference: 0.58
    classification  5.8      106        ≈ log 365 ≈ 5.9: the head's N(0, 0.01) kernel init gives logits of
                                        std ≈ 0.6 (with Keras' default init: 12.5 / 1014)
    adversarial     0.70     0.60       ≈ log 2: the untrained discriminator says 0.5 everywhere
    tv              0.059    2.2        real photos: 0.021
    ==============  =======  =========  ==============================================================

    Why the defaults: reconstruction 1.0 is the anchor; histogram 0.5 makes the reference's pull (0.5·6.9 ≈ 3.5)
    about equal to the ground truth's (3.1) — the two colour sources the model must reconcile; adversarial 0.01
    is pix2pix's 1 : 100 ratio of GAN to L1 (its weight 100 on L1), so the GAN term sharpens late rather than
    steering early training (0.006 at initialisation); tv 0.1 keeps smoothing at ≈ 7% of the reconstruction
    pull, enough to remove speckle without flattening edges; classification 0.01 is auxiliary: ≈ 0.37 of the
    reconstruction pull (0.01·106 vs 2.9), because :class:`colorlab.models.ClassificationHead` starts with small
    logits — with Keras' default init it would be 3× the reconstruction pull at the start.
    """

    reconstruction: float = DEFAULT_LOSS_WEIGHTS["reconstruction"]
    histogram: float = DEFAULT_LOSS_WEIGHTS["histogram"]
    classification: float = DEFAULT_LOSS_WEIGHTS["classification"]
    adversarial: float = DEFAULT_LOSS_WEIGHTS["adversarial"]
    tv: float = DEFAULT_LOSS_WEIGHTS["tv"]

    def __post_init__(self):
        for name in TERMS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f"loss weight {name!r} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))

    @classmethod
    def from_dict(cls, weights: Mapping[str, float]) -> "LossWeights":
        """From a dict of some or all of :data:`TERMS` (missing keys keep their defaults).

        Raises:
            ConfigError: an unknown key (a typo must not silently drop a term) or a bad value.
        """
        if not isinstance(weights, Mapping):
            raise ConfigError(f"loss weights must be a dict, got {type(weights).__name__}")
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise ConfigError(f"unknown loss weight(s) {unknown}; known: {list(TERMS)}")
        return cls(**dict(weights))

    @classmethod
    def from_model_config(cls, config) -> "LossWeights":
        """From a model config's ``loss_weights`` dict (``colorlab.models.config.get_config(name)``)."""
        try:
            weights = config.loss_weights
        except AttributeError:
            raise ConfigError("LossWeights.from_model_config: config has no 'loss_weights'") from None
        return cls.from_dict(weights)

    @classmethod
    def coerce(cls, weights) -> "LossWeights":
        """``None`` → defaults, a :class:`LossWeights` as is, a dict via :meth:`from_dict`."""
        if weights is None:
            return cls()
        if isinstance(weights, cls):
            return weights
        return cls.from_dict(weights)

    def as_dict(self) -> dict[str, float]:
        """``{term: weight}`` in :data:`TERMS` order."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def generator_loss(outputs, target_ab, reference_ab=None, labels=None, fake_logits=None, weights=None, *,
                   scale_weights: Sequence[float] = DEFAULT_SCALE_WEIGHTS, delta: float = DEFAULT_DELTA,
                   adversarial_kind: str = "bce", hist_eps: float = 1e-6, pieces=None):
    """The generator's total loss: ``Σ_t w_t · L_t`` over the five terms.

    ``total = w_rec·L_rec + w_hist·L_hist + w_cls·L_cls + w_adv·L_adv + w_tv·L_tv`` with

    * ``L_rec`` = :func:`multiscale_smooth_l1` (outputs, target_ab),
    * ``L_hist`` = :func:`histogram_loss` (outputs["ab"], reference_ab),
    * ``L_cls`` = :func:`classification_loss` (outputs["logits"], labels),
    * ``L_adv`` = :func:`generator_adversarial_loss` (fake_logits) — the caller runs the discriminator on
      (L, outputs["ab"]) so the gradient reaches the generator through it,
    * ``L_tv`` = :func:`total_variation` (outputs["ab"]).

    A term is skipped (absent from the returned dict, nothing computed) when its weight is 0 or its inputs
    are absent: no ``reference_ab``, no ``"logits"`` in outputs (a config without a classification head) or no
    ``labels``, no ``fake_logits``. ``target_ab`` is needed only when ``w_rec > 0``.

    Args:
        outputs: the generator's dict (see the module docstring).
        target_ab: ground-truth ab ``(N, H, W, 2)``, model units, or None.
        reference_ab: reference ab ``(N, H_r, W_r, 2)``, model units, or None.
        labels: ``(N,)`` int class labels, or None.
        fake_logits: discriminator logits on the output, or None.
        weights: :class:`LossWeights`, a dict of some of :data:`TERMS`, or None (defaults).
        scale_weights, delta: of the reconstruction term.
        adversarial_kind: GAN objective (use the discriminator's).
        hist_eps: ε of the χ².
        pieces: optional ``{"histogram": f, "adversarial": f}`` (:data:`LOSS_PIECES`): a notebook's own functions
            in place of :func:`histogram_loss` and :func:`generator_adversarial_loss`.

    Returns:
        ``(total, terms)``: total is a scalar tensor; terms maps each computed term's name to its
        **unweighted** scalar value (for logging; ``total = Σ weights[name] · terms[name]``).

    Raises:
        ConfigError: bad weights, or reconstruction weighted but no ``target_ab``.
    """
    weights = LossWeights.coerce(weights)
    pieces = check_loss_pieces(pieces)
    if not isinstance(outputs, Mapping) or "ab" not in outputs:
        raise ConfigError("generator_loss: outputs must be the generator's dict with at least an 'ab' entry")
    ab = _tensor(outputs["ab"], 'outputs["ab"]', rank=4, last_dim=2)
    terms = {}
    if weights.reconstruction > 0:
        if target_ab is None:
            raise ConfigError("generator_loss: the reconstruction weight is > 0 but target_ab is None")
        terms["reconstruction"] = multiscale_smooth_l1(outputs, target_ab, scale_weights, delta)
    if weights.histogram > 0 and reference_ab is not None:
        terms["histogram"] = (pieces["histogram"](ab, reference_ab) if "histogram" in pieces
                              else histogram_loss(ab, reference_ab, hist_eps))
    if weights.classification > 0 and outputs.get("logits") is not None and labels is not None:
        terms["classification"] = classification_loss(outputs["logits"], labels)
    if weights.adversarial > 0 and fake_logits is not None:
        terms["adversarial"] = (pieces["adversarial"](fake_logits) if "adversarial" in pieces
                                else generator_adversarial_loss(fake_logits, adversarial_kind))
    if weights.tv > 0:
        terms["tv"] = total_variation(ab)
    total = ops.zeros((), dtype=ab.dtype)
    for name, value in terms.items():
        total = total + getattr(weights, name) * ops.cast(value, ab.dtype)
    return total, terms
