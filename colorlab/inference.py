"""Colour a gray photo from a colour reference, at full resolution: :func:`colorize`.

Use::

    import colorlab
    image = colorlab.colorize("gray.jpg", "reference.jpg", weights="runs/course/generator.weights.h5")
    image.save("coloured.png")          # a PIL.Image, RGB, the target's size

    # or, from a shell:  colorlab colorize gray.jpg --reference reference.jpg -o coloured.png --weights W

What happens (the last two steps, and the optional adaptation, are ours):

1. **Lightness.** The target's CIE L* is computed at full resolution. A colour target is accepted, with a
   warning: its colours are thrown away and only its L* is used.
2. **Working size.** L* is scaled (bicubic, aspect ratio kept) so its *shorter* side is the working size
   (``config.image_size``, 128 for ``course``); the reference likewise to ``config.reference_size``. The model
   accepts any size >= 8 (it pads to a multiple of 8 inside), so nothing is cropped. (The official test script, run
   with ``--preprocess none``, keeps the target at its own size rounded to a multiple of 8 and squashes the
   reference to 128 x 128; we scale the target to a working size, because matching grows with its area, and keep
   the whole picture. The paper's ``"full_column"`` gate only accepts a square reference of exactly
   ``reference_size``, so for it the reference is squashed as in the official code.) Since the shorter side
   sets the size, the work grows with the aspect ratio, and matching compares every target position with every
   reference position: :class:`WorkBudget` bounds both shapes before anything is allocated (too elongated or too
   large an input is refused in one line; matching above its limit makes both working sizes smaller).
3. **The model** predicts ab at the working size (Lab scaling of the official code: ``L/50 - 1``, ``ab/110``).
   With ``adapt=N`` (ours, :mod:`colorlab.adapt`), a copy of the model is first fine-tuned for N steps on pairs
   cut from the reference alone, and that copy predicts; with ``adapt_options={"min_match": m}`` only when the
   reference matches the target (:meth:`Colorizer.match` >= m): adapting to a reference without the target's
   colours hurts. By default (``adapt=None``) the weights' own recommendation applies
   (:func:`resolve_adaptation`); ``adapt=0`` turns adaptation off.
4. **Guided upsampling** (ours): ab is brought to the full resolution *guided by the full-resolution L*, with
   He, Sun & Tang's guided filter (ECCV 2010 / TPAMI 2013) in its fast, upsampling form (He & Sun 2015, "Fast
   Guided Filter"): at the working size, each window fits ab as a linear function of L, ``ab ~ A L + B``; the
   coefficients are averaged, upsampled bilinearly (they vary slowly), and applied to the *full-resolution* L.
   Colour edges therefore snap to the sharp lightness edges of the original photo instead of the blurry 8x
   bilinear edges of the small prediction. Box filters via summed-area tables: linear time, NumPy only.
5. **Keep L exactly** (ours): the output's L* *is* the input's L*; where the new ab would leave the sRGB gamut at
   that lightness, chroma is reduced towards gray (:func:`colorlab.cie.lab_to_rgb_keep_l`) rather than
   clipping RGB, which would change L*. The only change to L* left is the final 8-bit rounding.

``strength`` scales ab before step 5: 0 gives the gray picture, 1 the model's colours, above 1 more saturated
colours (limited by the gamut).

Weights: ``weights=`` a ``.weights.h5`` file with a sibling ``.json`` holding
``{"config": Gray2ColorConfig.to_dict()}`` (``runs/x.weights.h5`` -> ``runs/x.json``, what the trainer writes), or
a built model. With ``weights=None`` the demo weights shipped in ``data/weights/demo.weights.h5`` are used — once
they are shipped; until then a :class:`~colorlab.errors.ColorlabError` says how to pass ``weights=``. Models built
from a file are cached per file, so the second call is fast (:mod:`colorlab.models.weights`).

Each step is a method of :class:`Colorizer`, which video (:mod:`colorlab.video`) and evaluation share; the NumPy
colour conversions are :mod:`colorlab.cie`'s.

Everything except the model call is NumPy, and the model call uses ``keras.ops`` only, so this runs on any Keras
backend (TensorFlow, JAX).

``colorlab.colorize`` is this module's :func:`colorize`, resolved lazily by the package (``import colorlab`` stays
light).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import warnings

import numpy as np
from PIL import Image

from colorlab.cie import image_lab_to_rgb8, image_lightness, is_colour, lab_to_rgb8, rgb_to_lab_np
from colorlab.errors import BudgetError, ConfigError
from colorlab.io import DEFAULT_MAX_PIXELS

__all__ = ["Colorizer", "colorize", "colorize_files", "resolve_adaptation", "guided_upsample", "bilinear_upsample",
           "box_mean", "WorkBudget", "WorkPlan", "matching_positions", "ColorTargetWarning", "WorkBudgetWarning",
           "GUIDED_RADIUS", "GUIDED_EPS", "MAX_ASPECT", "MAX_MATCHING"]

#: Guided filter window radius, in pixels of the working size (a 5 x 5 window). Ours: small enough to keep the
#: model's colour regions (1/128 of the picture per pixel at ``course``'s 128), large enough to fit A, B stably.
GUIDED_RADIUS = 2
#: Guided filter regulariser, in units of (L*/100)**2: ``1e-3`` means lightness changes smaller than about
#: sqrt(1e-3) * 100 ~ 3 L* units inside a window are treated as flat (ab is averaged there, not tied to L).
#: Ours, chosen on the synthetic edge test and sample photos.
GUIDED_EPS = 1e-3


#: Longest side over shortest side of a target, reference or video frame that is accepted (ours). The working size is
#: the *shorter* side, so the model's work grows with the aspect ratio: a 3000 x 1 picture would be worked on at
#: 64 x 192,000. Panoramas (4:1, phone sweeps up to about 10:1) pass; a strip of pixels is refused.
MAX_ASPECT = 16
#: Most matching work per image pair (ours): target positions x reference positions at the matching scale (half the
#: working size, padded to a multiple of 8). The model holds about six float32 matrices of that many entries at
#: once; measured on CPU (TensorFlow), 2**26 entries (a 64 x 512 target against a 64 x 512 reference) peak at
#: 2.5 GB of resident memory, 1.7 GB of it for matching. The paper's 128 x 128 pair costs 2**24. Above the limit
#: the working sizes are reduced (:meth:`WorkBudget.plan`).
MAX_MATCHING = 2 ** 26


class ColorTargetWarning(UserWarning):
    """The target given to :func:`colorize` is a colour image: its colours are discarded, only its L* is used."""


class WorkBudgetWarning(UserWarning):
    """The working sizes were reduced to keep the matching within :attr:`WorkBudget.max_matching`."""


# ----------------------------------------------------------------------------------------- image helpers
def _resize(channel: np.ndarray, height: int, width: int, resample) -> np.ndarray:
    """One float channel ``(h, w)`` -> ``(height, width)`` float32 with Pillow (mode "F")."""
    if channel.shape == (height, width):
        return np.asarray(channel, dtype=np.float32)
    image = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), mode="F")
    return np.asarray(image.resize((width, height), resample), dtype=np.float32)


def _working_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """Scales ``(height, width)`` so the shorter side is ``short_side``, keeping the aspect ratio (each side >= 8)."""
    scale = short_side / min(height, width)
    return max(8, round(height * scale)), max(8, round(width * scale))


def matching_positions(shape: tuple[int, int]) -> int:
    """Positions at the matching scale of a working shape ``(h, w)``: padded to a multiple of 8, then halved
    (the model's correspondence, :mod:`colorlab.models.correspondence`)."""
    return (-(-shape[0] // 8) * 4) * (-(-shape[1] // 8) * 4)


# ------------------------------------------------------------------------------------------- work budget
@dataclasses.dataclass(frozen=True)
class WorkPlan:
    """What one model call will work on (:meth:`WorkBudget.plan`).

    Attributes:
        target: ``(h, w)`` the target's (or frame's) working shape.
        reference: ``(h_r, w_r)`` the reference's working shape.
        matching: target positions x reference positions at the matching scale (:func:`matching_positions`).
        scale: 1.0, or the factor (< 1) the working sizes were reduced by to fit the budget.
    """

    target: tuple
    reference: tuple
    matching: int
    scale: float = 1.0

    def warn_if_reduced(self, target: str = "the target", reference: str = "the reference") -> None:
        """Issues a :class:`WorkBudgetWarning` naming ``target`` and ``reference`` if the sizes were reduced."""
        if self.scale < 1:
            warnings.warn(f"{target} against {reference}: working sizes reduced to {self.target[1]}×{self.target[0]} "
                          f"and {self.reference[1]}×{self.reference[0]} to keep the matching within the work budget",
                          WorkBudgetWarning, stacklevel=3)


@dataclasses.dataclass(frozen=True)
class WorkBudget:
    """Limits on the work of one model call, checked on the shapes alone, before any image is resized or any model
    is called: what keeps a few-byte file from asking for gigabytes.

    The model scales the *shorter* side of the target to its working size and the reference's to
    ``config.reference_size`` (keeping the aspect ratio), and its correspondence compares every target position
    with every reference position at half that size, so the memory grows with the product of the two working
    areas. :meth:`plan` refuses inputs with too many pixels or too long a shape, and reduces both working sizes
    (by one factor) when the matching would cost more than ``max_matching``.

    Attributes:
        max_pixels: most pixels (width x height) of a target, reference or frame at full resolution (the guided
            upsampling and the output are that size); default :data:`colorlab.io.DEFAULT_MAX_PIXELS`.
        max_aspect: most ``long side / short side`` (:data:`MAX_ASPECT`).
        max_matching: most target positions x reference positions (:data:`MAX_MATCHING`).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_aspect: float = MAX_ASPECT
    max_matching: int = MAX_MATCHING

    def __post_init__(self):
        for name in ("max_pixels", "max_aspect", "max_matching"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not value >= 1:
                raise ConfigError(f"WorkBudget: {name} must be a number >= 1, got {value!r}")

    def check_shape(self, shape: tuple[int, int], what: str) -> None:
        """Refuses a full-resolution ``(height, width)`` with more than :attr:`max_pixels` pixels, a side of 0, or
        an aspect ratio above :attr:`max_aspect`.

        Raises:
            BudgetError: one line naming ``what`` (e.g. ``"target 'a.png'"``), the shape and the limit.
        """
        height, width = int(shape[0]), int(shape[1])
        if height < 1 or width < 1:
            raise BudgetError(f"{what} is {width}×{height} pixels: nothing to colour")
        if height * width > self.max_pixels:
            raise BudgetError(f"{what} is {width}×{height} = {width * height:,} pixels, more than the limit of "
                              f"{self.max_pixels:,} (WorkBudget.max_pixels)")
        aspect = max(height, width) / min(height, width)
        if aspect > self.max_aspect:
            raise BudgetError(f"{what} is {width}×{height} pixels, an aspect ratio of {aspect:.0f}:1, more than the "
                              f"limit of {self.max_aspect:g}:1 (WorkBudget.max_aspect); crop or pad it to a less "
                              "elongated shape")

    def plan(self, target_shape: tuple[int, int], reference_shape: tuple[int, int], config,
             working_size: int | None = None, *, target: str = "the target",
             reference: str = "the reference") -> WorkPlan:
        """The working shapes of a target (or video frame) and a reference, within the budget.

        Args:
            target_shape, reference_shape: ``(height, width)`` at full resolution.
            config: the model's :class:`~colorlab.models.Gray2ColorConfig` (its ``image_size``,
                ``reference_size`` and ``gate``).
            working_size: the target's working size (shorter side); default ``config.image_size``.
            target, reference: how to name them in an error (``"target 'a.png'"``).

        Returns:
            :class:`WorkPlan`. The target's shorter side becomes ``working_size`` and the reference's
            ``config.reference_size`` (exactly ``reference_size`` squared for the ``"full_column"`` gate); if their
            matching would cost more than :attr:`max_matching`, both are reduced by one factor (never below 8
            pixels a side; the ``"full_column"`` reference stays as it is) until it fits.

        Raises:
            BudgetError: a shape refused by :meth:`check_shape`, or matching that does not fit even at 8 pixels.
        """
        self.check_shape(target_shape, target)
        self.check_shape(reference_shape, reference)
        size = int(working_size or config.image_size)
        fixed_reference = config.gate == "full_column"   # the paper's gate needs exactly reference_size squared

        def shapes(scale):
            t = _working_shape(*target_shape, max(8, int(size * scale)))
            if fixed_reference:
                r = (config.reference_size, config.reference_size)
            else:
                r = _working_shape(*reference_shape, max(8, int(config.reference_size * scale)))
            return t, r, matching_positions(t) * matching_positions(r)

        t, r, cost = shapes(1.0)
        if cost <= self.max_matching:
            return WorkPlan(t, r, cost)
        # cost ~ scale**4 when both sizes shrink (scale**2 with a fixed reference); then step down past rounding
        scale = (self.max_matching / cost) ** (0.5 if fixed_reference else 0.25)
        t, r, reduced = shapes(scale)
        while reduced > self.max_matching and (min(t) > 8 or (min(r) > 8 and not fixed_reference)):
            scale *= 0.99
            t, r, reduced = shapes(scale)
        if reduced > self.max_matching:
            raise BudgetError(f"{target} ({target_shape[1]}×{target_shape[0]}) against {reference} "
                              f"({reference_shape[1]}×{reference_shape[0]}): matching costs {reduced:,} positions² "
                              f"even at the smallest working size, more than the limit of {self.max_matching:,} "
                              "(WorkBudget.max_matching)")
        return WorkPlan(t, r, reduced, scale)


# -------------------------------------------------------------------------------------- guided upsampling
def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``x`` over the ``(2 radius + 1)**2`` window around each pixel, windows clipped at the borders.

    Summed-area tables, so the cost does not depend on ``radius``; at a border the mean is over the pixels that
    exist (He et al.'s normalisation by the window's pixel count).

    Args:
        x: ``(H, W)`` or ``(H, W, C)``.
        radius: window radius >= 0.

    Returns:
        float64, the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    height, width = x.shape[:2]
    s = np.zeros((height + 1, width + 1) + x.shape[2:])
    s[1:, 1:] = x.cumsum(0).cumsum(1)
    r0 = np.clip(np.arange(height) - radius, 0, height)
    r1 = np.clip(np.arange(height) + radius + 1, 0, height)
    c0 = np.clip(np.arange(width) - radius, 0, width)
    c1 = np.clip(np.arange(width) + radius + 1, 0, width)
    total = s[r1][:, c1] - s[r0][:, c1] - s[r1][:, c0] + s[r0][:, c0]
    count = ((r1 - r0)[:, None] * (c1 - c0)[None, :]).astype(np.float64)
    return total / (count if x.ndim == 2 else count[..., None])


def bilinear_upsample(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Plain bilinear resize of ``(h, w, C)`` to ``(height, width, C)`` (Pillow, pixel centres aligned); float32.

    The unguided way to bring the model's ab to full resolution: edges come out as wide as one working-size pixel.
    """
    x = np.asarray(x, dtype=np.float32)
    return np.stack([_resize(x[..., c], height, width, Image.Resampling.BILINEAR) for c in range(x.shape[-1])],
                    axis=-1)


def guided_upsample(ab_small: np.ndarray, guide_small: np.ndarray, guide_full: np.ndarray,
                    radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS) -> np.ndarray:
    """Upsamples ab guided by the full-resolution lightness: He et al.'s guided filter, fast upsampling form.

    At the small size, in each ``(2 radius + 1)**2`` window, ab is fitted as a linear function of the guide,
    ``ab = A * guide + B`` (least squares with ridge ``eps`` on ``A``); ``A`` and ``B`` are averaged over the
    windows covering each pixel, upsampled bilinearly to the full size (they vary slowly) and applied to the
    *full-resolution* guide: ``ab_full = A_up * guide_full + B_up``. (He, Sun & Tang, "Guided Image Filtering",
    ECCV 2010; He & Sun, "Fast Guided Filter", 2015.)

    Args:
        ab_small: ``(h, w, C)`` the values to upsample (ab in Lab units, C = 2).
        guide_small: ``(h, w)`` the guide at the small size (L*/100, the lightness the model saw).
        guide_full: ``(H, W)`` the guide at full size (L*/100 of the original photo).
        radius: window radius in small-size pixels.
        eps: regulariser in guide units squared (see :data:`GUIDED_EPS`).

    Returns:
        float32 ``(H, W, C)``.
    """
    ab_small = np.asarray(ab_small, dtype=np.float64)
    guide_small = np.asarray(guide_small, dtype=np.float64)
    if ab_small.ndim != 3 or guide_small.shape != ab_small.shape[:2] or np.ndim(guide_full) != 2:
        raise ConfigError(f"guided_upsample: needs ab_small (h, w, C), guide_small (h, w), guide_full (H, W); got "
                          f"{ab_small.shape}, {guide_small.shape}, {np.shape(guide_full)}")
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ConfigError(f"guided_upsample: radius must be an integer >= 0, got {radius!r}")
    if not eps > 0:
        raise ConfigError(f"guided_upsample: eps must be > 0, got {eps!r}")
    height, width = np.shape(guide_full)
    g = guide_small[..., None]
    mean_g = box_mean(g, radius)
    mean_p = box_mean(ab_small, radius)
    cov = box_mean(g * ab_small, radius) - mean_g * mean_p
    var = box_mean(g * g, radius) - mean_g * mean_g
    a = cov / (np.maximum(var, 0.0) + eps)
    b = mean_p - a * mean_g
    a_up = bilinear_upsample(box_mean(a, radius), height, width)
    b_up = bilinear_upsample(box_mean(b, radius), height, width)
    guide_full = np.asarray(guide_full, dtype=np.float32)
    out = a_up   # reuse the buffer: out = A_up * guide + B_up, in place, channel by channel
    for c in range(out.shape[-1]):
        np.multiply(out[..., c], guide_full, out=out[..., c])
        out[..., c] += b_up[..., c]
    return out


# ------------------------------------------------------------------------------------------- the pipeline
#: Adaptation is skipped when the reference matches the target worse than this (:meth:`Colorizer.match`: the mean
#: over target positions of the best cosine between the trained model's matching features). -1: always adapt. The
#: scale depends on the weights' features; for the demo weights on the corpus's dev split, other views of the
#: target's scene score 0.43 to 0.74 (median 0.56) and other photos 0.37 to 0.53 (median 0.43), and
#: ``min_match=0.44`` keeps adaptation from making "other photo" pairs worse (``docs/adapt_study.md``), which is
#: why the demo weights recommend it (:func:`resolve_adaptation`). This value applies to an explicit ``adapt=N``.
DEFAULT_MIN_MATCH = -1.0


def _check_options(strength, working_size, budget, adapt=0, seed=0) -> None:
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating, np.integer)) \
            or not np.isfinite(strength) or strength < 0:
        raise ConfigError(f"colorize: strength must be a number >= 0, got {strength!r}")
    if working_size is not None and (isinstance(working_size, bool)
                                     or not isinstance(working_size, (int, np.integer)) or working_size < 8):
        raise ConfigError(f"colorize: working_size must be an integer >= 8 (pixels), got {working_size!r}")
    if budget is not None and not isinstance(budget, WorkBudget):
        raise ConfigError(f"colorize: budget must be a WorkBudget or None, got {type(budget).__name__}")
    _check_count("adapt", adapt, none_ok=True)
    _check_count("seed", seed)


def _check_count(name: str, value, *, none_ok: bool = False) -> None:
    if none_ok and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"colorize: {name} must be an integer >= 0, got {value!r}")


def resolve_adaptation(weights, adapt: int | None, adapt_options: dict | None = None) -> tuple[int, dict]:
    """The adaptation a call asks for: ``(steps, adapt_options)``.

    ``adapt=None`` (the default everywhere) takes the recommendation stored beside the weights
    (:func:`colorlab.models.generator_adaptation`; the demo weights carry one, other weights usually none, which
    means no adaptation), with ``adapt_options`` overriding its options one by one; an integer is taken as it is,
    with ``adapt_options`` alone (0: no adaptation).

    Raises:
        ConfigError: ``adapt`` neither None nor an integer >= 0, or a bad ``"adapt"`` entry beside the weights.
    """
    _check_count("adapt", adapt, none_ok=True)
    if adapt is not None:
        return int(adapt), dict(adapt_options or {})
    from colorlab.models import generator_adaptation

    options = generator_adaptation(weights)
    steps = options.pop("steps", 0)
    options.update(adapt_options or {})
    return steps, options


class Colorizer:
    """The colorize pipeline in steps, around one model: what :func:`colorize`, :mod:`colorlab.video` and
    :mod:`colorlab.evaluate` share. Each step is one call (see the module docstring for what happens)::

        colorizer = Colorizer("runs/course/generator.weights.h5")
        reference_lab = colorizer.prepare_reference(reference_rgb)         # (h_r, w_r, 3), the model's Lab
        colorizer.use_reference(reference_lab)                              # adapts a copy if adapt > 0
        l_full = colorlab.cie.image_lightness(target_rgb)                   # (H, W) L*, full resolution
        l_small = colorizer.working_lightness(l_full)                      # (h, w) L*, the working size
        ab_small = colorizer.predict_ab(l_small[None], reference_lab)[0]   # (h, w, 2) ab, Lab units
        rgb8 = colorizer.finish(l_full, l_small, ab_small)                 # (H, W, 3) uint8, L* kept

    A video colours many ``l_small`` against one ``reference_lab`` and blends ``ab_small`` over time before
    :meth:`finish`. :meth:`plan` gives both working shapes within the work budget (:class:`WorkBudget`);
    :func:`colorize` and video pass them to :meth:`working_lightness` and :meth:`prepare_reference`.

    Args:
        weights: a ``.weights.h5`` path (config from its sibling ``.json``), a built
            :class:`~colorlab.models.Gray2ColorNet`, or ``None`` for the shipped demo weights
            (:func:`colorlab.models.load_generator`: a file is loaded once and cached).
        config: a :class:`~colorlab.models.Gray2ColorConfig` or config name, for a weights file without its
            ``.json``; ``None`` otherwise.
        strength: multiplies ab in :meth:`finish` (>= 0): 0 -> the gray picture, 1 -> the model's colours.
        working_size: the shorter side (pixels, >= 8) the target is scaled to for the model; default
            ``config.image_size`` (what the model was trained at).
        budget: the :class:`WorkBudget` of :meth:`plan`; default ``WorkBudget()``.
        adapt: optimiser steps that adapt a copy of the model to each reference before colouring
            (:meth:`use_reference`, :class:`colorlab.adapt.ReferenceAdapter`; ours); 0 colours with the trained
            weights as they are; ``None`` (default): what the weights recommend (:func:`resolve_adaptation`; for
            the demo weights a few steps, only for a reference that matches the target).
        seed: of the adaptation's training pairs (an adaptation is a function of the reference and the seed).
        adapt_options: other :class:`~colorlab.adapt.ReferenceAdapter` arguments (``learning_rate``,
            ``batch_size``, ``parts``, ``min_crop``, ``replay``, ``replay_bank``; ``None``: its defaults, or the
            weights' recommendation with ``adapt=None``), and ``min_match`` (default :data:`DEFAULT_MIN_MATCH`,
            -1: always adapt): when the target is known, adaptation is skipped for a reference whose :meth:`match`
            with it is lower.

    Attributes:
        trained: the :class:`~colorlab.models.Gray2ColorNet` as loaded; never modified.
        model: the network that colours: :attr:`trained`, or its copy adapted to the last reference.
        config: its :class:`~colorlab.models.Gray2ColorConfig`.
        strength: float.
        working_size: int.
        budget: :class:`WorkBudget`.
        adapt, seed: int (``adapt`` resolved: the steps each reference gets).
        adapt_options: dict, the adaptation's options as resolved (``min_match`` included).
        min_match: float.
        last_match: the :meth:`match` :meth:`use_reference` measured last (None if it measured none).

    Raises:
        ConfigError: bad ``strength``, ``working_size``, ``config``, ``weights`` or adaptation argument.
        ColorlabError: no weights (demo weights not shipped yet) or weights that cannot be loaded.
    """

    def __init__(self, weights=None, config=None, *, strength: float = 1.0, working_size: int | None = None,
                 budget: WorkBudget | None = None, adapt: int | None = None, seed: int = 0,
                 adapt_options: dict | None = None):
        from colorlab.models import load_generator

        _check_options(strength, working_size, budget, adapt, seed)
        adapt, options = resolve_adaptation(weights, adapt, adapt_options)
        self.adapt_options = dict(options)
        known = {"learning_rate", "batch_size", "parts", "min_crop", "min_match", "replay", "replay_bank"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"colorize: unknown adapt_options {unknown}; known: {', '.join(sorted(known))}")
        min_match = options.pop("min_match", DEFAULT_MIN_MATCH)
        if isinstance(min_match, bool) or not isinstance(min_match, (int, float, np.floating, np.integer)) \
                or not -1.0 <= float(min_match) <= 1.0:
            raise ConfigError(f"colorize: adapt_options min_match must be a number in [-1, 1] (a cosine; -1 "
                              f"always adapts), got {min_match!r}")
        self.min_match = float(min_match)
        self.trained = self.model = load_generator(weights, config)
        self.config = self.model.config
        self.strength = float(strength)
        self.working_size = int(working_size or self.config.image_size)
        self.budget = budget or WorkBudget()
        self.adapt = int(adapt)
        self.seed = int(seed)
        self._adapter = None
        if self.adapt:   # found now, so bad options fail before any work; it builds nothing until it adapts
            from colorlab.adapt import shared_adapter

            self._adapter = shared_adapter(self.trained, steps=self.adapt, seed=self.seed, **options)
        self._reference = None        # (key, array) of the reference self.model was adapted to
        self.last_match = None

    def plan(self, target_shape: tuple[int, int], reference_shape: tuple[int, int], *, target: str = "the target",
             reference: str = "the reference") -> WorkPlan:
        """Both working shapes within :attr:`budget` (:meth:`WorkBudget.plan`); ``target`` and ``reference`` name
        the inputs in an error. Raises :class:`~colorlab.errors.BudgetError`."""
        return self.budget.plan(target_shape, reference_shape, self.config, self.working_size, target=target,
                                reference=reference)

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        """The working size of a ``(height, width)`` target: the shorter side becomes :attr:`working_size`, the
        aspect ratio is kept (each side >= 8). Not budget-checked: :meth:`plan` is."""
        return _working_shape(height, width, self.working_size)

    def working_lightness(self, l_full: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
        """L* ``(H, W)`` in [0, 100] -> float32 ``(h, w)`` at ``shape`` (default :meth:`working_shape`; pass
        ``plan.target``), bicubic, clipped to [0, 100]."""
        h, w = shape or self.working_shape(*l_full.shape)
        return np.clip(_resize(l_full, h, w, Image.Resampling.BICUBIC), 0.0, 100.0)

    def prepare_reference(self, reference_rgb: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
        """The reference as the model reads it.

        Args:
            reference_rgb: ``(H', W', 3)`` float sRGB in [0, 1] (:func:`colorlab.io.load_image`), any size.
            shape: ``(h_r, w_r)`` to scale it to (pass ``plan.reference``); default: its shorter side becomes
                ``config.reference_size``, exactly ``reference_size`` squared for the paper's ``"full_column"`` gate.

        Returns:
            float32 ``(h_r, w_r, 3)``: ``(L/50 - 1, a/110, b/110)``, scaled (bicubic) to ``shape``.
        """
        cfg = self.config
        if shape is None:   # the paper's gate needs exactly reference_size x reference_size
            shape = ((cfg.reference_size, cfg.reference_size) if cfg.gate == "full_column"
                     else _working_shape(*reference_rgb.shape[:2], cfg.reference_size))
        small = np.stack([_resize(reference_rgb[..., c], *shape, Image.Resampling.BICUBIC) for c in range(3)],
                         axis=-1)
        lab = rgb_to_lab_np(np.clip(small, 0.0, 1.0))
        lab[..., 0] = lab[..., 0] / 50.0 - 1.0
        lab[..., 1:] /= 110.0
        return lab.astype(np.float32)

    def match(self, l_small: np.ndarray, reference_lab: np.ndarray) -> float:
        """How well the reference matches the target, in the trained model's eyes: for each target position the
        cosine of its best match among the reference positions (the correspondence of chapter 03), averaged over
        the target. High when the reference shows the target's scene, low for an unrelated photo.

        Args:
            l_small: ``(h, w)`` L* at the working size.
            reference_lab: ``(h_r, w_r, 3)`` from :meth:`prepare_reference`.

        Returns:
            A float in [-1, 1].
        """
        from colorlab.models import explain

        target_l = (np.asarray(l_small, dtype=np.float32) / 50.0 - 1.0)[None, ..., None]
        info = explain(self.trained, target_l, np.asarray(reference_lab, dtype=np.float32)[None], per_level=False)
        return float(np.mean(np.max(info["correlation"][0], axis=-1)))

    def use_reference(self, reference_lab: np.ndarray, l_small: np.ndarray | None = None, *,
                      progress: bool = False, saved=None):
        """Makes :attr:`model` the network for this reference: with :attr:`adapt` > 0, a copy of :attr:`trained`
        adapted to it (:class:`colorlab.adapt.ReferenceAdapter`, :attr:`adapt` steps on pairs cut from the
        reference alone; done once per reference: the same array again reuses the adapted copy, and every
        Colorizer of the same model and settings shares one adapter, :func:`colorlab.adapt.shared_adapter`, so
        the copy is built and its step traced once per process); with 0, the trained model. Given the target, a
        reference whose :meth:`match` is below :attr:`min_match` is not adapted to: the trained model colours it.

        Args:
            reference_lab: ``(h_r, w_r, 3)`` from :meth:`prepare_reference`.
            l_small: the target's ``(h, w)`` L* at the working size, or None (adapt without asking).
            progress: show the adaptation's progress bar (tqdm, stderr).
            saved: a ``.weights.h5`` path, or None: if the file exists, the adapted weights are loaded from it
                instead of adapting (:meth:`colorlab.adapt.ReferenceAdapter.restore`); otherwise they are written
                there after adapting. What lets a resumed video job colour with exactly the weights it started
                with (adapting again is not bit-for-bit repeatable on a multi-threaded CPU).

        Returns:
            :attr:`model`.

        Raises:
            ColorlabError: a ``saved`` file that cannot be loaded.
        """
        if self.adapt == 0:
            return self.model
        self.last_match = None
        if l_small is not None and self.min_match > -1.0:
            self.last_match = self.match(l_small, reference_lab)
            if self.last_match < self.min_match:
                self.model = self.trained
                return self.model
        from colorlab.adapt import reference_key

        self._reference = (reference_key(reference_lab), reference_lab)
        if saved is not None and os.path.isfile(saved):
            self._adapter.restore(saved, reference_lab)
        elif self._adapter.reference_key != self._reference[0]:
            self._adapter.adapt(reference_lab, progress=progress)
        if saved is not None and not os.path.isfile(saved):
            self._adapter.save(saved)
        self.model = self._adapter.adapted
        return self.model

    def colour(self, target_rgb: np.ndarray, reference_rgb: np.ndarray, *, progress: bool = False) -> np.ndarray:
        """The whole pipeline on two decoded images, as :func:`colorize` runs it (working sizes within
        :attr:`budget`, adapting to the reference first when :attr:`adapt` > 0).

        Args:
            target_rgb: ``(H, W, 3)`` float sRGB in [0, 1], or ``(H, W)`` gray; only its lightness is used.
            reference_rgb: ``(H', W', 3)`` float sRGB in [0, 1].
            progress: show the adaptation's progress bar.

        Returns:
            uint8 ``(H, W, 3)``.
        """
        if target_rgb.ndim == 2:
            target_rgb = np.repeat(target_rgb[..., None], 3, axis=-1)
        plan = self.plan(target_rgb.shape[:2], reference_rgb.shape[:2])
        plan.warn_if_reduced()
        return np.asarray(_colour(self, image_lightness(target_rgb), reference_rgb, plan, progress))

    def predict_ab(self, l_small: np.ndarray, reference_lab: np.ndarray, *, compiled: bool = False) -> np.ndarray:
        """Runs the model on a batch of same-size lightness maps against one reference.

        Args:
            l_small: ``(B, h, w)`` L* in [0, 100] at the working size.
            reference_lab: ``(h_r, w_r, 3)`` from :meth:`prepare_reference` (shared by the whole batch).
            compiled: use Keras' compiled ``predict_on_batch`` (traced once per input shape: worth it when many
                batches of one shape follow, as the frames of a video) instead of an eager call.

        Returns:
            ab ``(B, h, w, 2)`` float32 in Lab units.
        """
        from keras import ops

        if self._adapter is not None and self.model is self._adapter.adapted \
                and self._adapter.reference_key != self._reference[0]:
            self._adapter.adapt(self._reference[1])   # the adapter is shared: another Colorizer used it since
        model = self.model
        target_l = (np.asarray(l_small, dtype=np.float32) / 50.0 - 1.0)[..., None]
        reference = np.ascontiguousarray(np.broadcast_to(reference_lab[None],
                                                         (len(target_l),) + reference_lab.shape))
        if compiled:
            shape = (target_l.shape, reference.shape)
            if getattr(model, "_colorlab_predict_shape", None) != shape:
                # A fresh trace for exactly this shape: TensorFlow would otherwise re-trace a second shape with
                # unknown sizes, which the model's resizing layers cannot take.
                model.make_predict_function(force=True)
                model._colorlab_predict_shape = shape
            return np.asarray(model.predict_on_batch([target_l, reference])["ab"], dtype=np.float32) * 110.0
        outputs = model([ops.convert_to_tensor(target_l), ops.convert_to_tensor(reference)], training=False)
        return np.asarray(ops.convert_to_numpy(outputs["ab"]), dtype=np.float32) * 110.0

    def finish(self, l_full: np.ndarray, l_small: np.ndarray, ab_small: np.ndarray, *,
               fast: bool = False) -> np.ndarray:
        """Full resolution: ab upsampled guided by the full L* (:func:`guided_upsample`), times :attr:`strength`,
        then Lab -> 8-bit sRGB keeping L* (chroma reduced where a colour leaves the gamut).

        Args:
            l_full: ``(H, W)`` L* of the target at full resolution.
            l_small: ``(h, w)`` L* at the working size (what the model saw).
            ab_small: ``(h, w, 2)`` ab at the working size, Lab units.
            fast: convert with :func:`colorlab.cie.lab_to_rgb8` (float32 tables, within one 8-bit step; what video
                uses) instead of :func:`colorlab.cie.image_lab_to_rgb8` (float64).

        Returns:
            uint8 ``(H, W, 3)`` whose L* equals ``l_full`` up to 8-bit rounding; strength 0 gives R = G = B.
        """
        to_rgb8 = lab_to_rgb8 if fast else image_lab_to_rgb8
        if self.strength == 0:   # exactly gray (a* = b* = 0 is neutral in sRGB only to ~0.01/255)
            return to_rgb8(l_full, None)
        ab = guided_upsample(ab_small, l_small / 100.0, l_full / 100.0)      # (H, W, 2), Lab units
        if self.strength != 1:
            ab *= self.strength
        return to_rgb8(l_full, ab)


# ------------------------------------------------------------------------------------------------ colorize
def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    return f"({type(source).__name__})"


def colorize(target, reference, *, weights=None, config=None, strength: float = 1.0,
             working_size: int | None = None, budget: WorkBudget | None = None, adapt: int | None = None,
             seed: int = 0, adapt_options: dict | None = None, progress: bool = False) -> Image.Image:
    """Colours ``target`` with the colours of ``reference`` (Gray2ColorNet), at the target's full resolution.

    Args:
        target: the photo to colour: a path, a ``PIL.Image`` or an array (anything
            :func:`colorlab.io.load_image` reads), any size (each side >= 1) and aspect ratio. A colour image is
            accepted with a :class:`ColorTargetWarning`: only its lightness L* is used.
        reference: the colour exemplar, same kinds of input, any size and aspect ratio.
        weights: a ``.weights.h5`` path (config from its sibling ``.json``), a built
            :class:`~colorlab.models.Gray2ColorNet`, or ``None`` for the shipped demo weights.
        config: a :class:`~colorlab.models.Gray2ColorConfig` or config name, for a weights file without its
            ``.json``; ``None`` otherwise.
        strength: multiplies ab (>= 0): 0 -> the gray picture, 1 -> the model's colours.
        working_size: the shorter side (pixels, >= 8) the target is scaled to for the model; default
            ``config.image_size`` (what the model was trained at).
        budget: the limits on the work (:class:`WorkBudget`); default ``WorkBudget()``. Working sizes are reduced
            (with a :class:`WorkBudgetWarning`) when the matching would cost more than it allows.
        adapt: steps of reference-adaptive colorization (:mod:`colorlab.adapt`, ours): a copy of the model is
            first fine-tuned on pairs cut from the reference alone; 0 colours with the weights as they are;
            ``None`` (default) does what the weights recommend (:func:`resolve_adaptation`: with the demo
            weights, a few steps when the reference matches the target; ``docs/adapt_study.md``). The weights on
            disk and a model passed in are never changed.
        seed: of the adaptation's pairs.
        adapt_options: as for :class:`Colorizer`, e.g. ``{"min_match": 0.44}``: adapt only when the reference
            matches the target at least that well (:meth:`Colorizer.match`; ``docs/adapt_study.md``).
        progress: show the adaptation's progress bar (tqdm, stderr).

    Returns:
        ``PIL.Image`` in mode ``"RGB"``, the target's size, whose L* equals the target's L* up to 8-bit rounding.

    Both images are read and the budget is checked before the model is loaded.

    Raises:
        ImageLoadError: a target or reference that cannot be read.
        BudgetError: a target or reference with too many pixels or too long a shape (:class:`WorkBudget`).
        ConfigError: bad ``strength``, ``working_size``, ``budget``, ``config`` or ``weights`` argument.
        ColorlabError: no weights (demo weights not shipped yet) or weights that cannot be loaded.
    """
    from colorlab.io import load_image
    from colorlab.models import generator_config

    _check_options(strength, working_size, budget, adapt, seed)
    budget = budget or WorkBudget()
    target_rgb = load_image(target, mode="RGB", max_pixels=budget.max_pixels)
    reference_rgb = load_image(reference, mode="RGB", max_pixels=budget.max_pixels)
    names = {"target": f"target {_describe(target)}", "reference": f"reference {_describe(reference)}"}
    plan = budget.plan(target_rgb.shape[:2], reference_rgb.shape[:2], generator_config(weights, config),
                       working_size, **names)                                 # before the model is built
    plan.warn_if_reduced(**names)
    colorizer = Colorizer(weights, config, strength=strength, working_size=working_size, budget=budget,
                          adapt=adapt, seed=seed, adapt_options=adapt_options)
    if is_colour(target_rgb):
        warnings.warn(f"colorize: the target {_describe(target)} is a colour image; its colours are discarded "
                      "and only its lightness (CIE L*) is coloured", ColorTargetWarning, stacklevel=2)
    l_full = image_lightness(target_rgb)                                      # (H, W) in [0, 100]
    del target_rgb
    return _colour(colorizer, l_full, reference_rgb, plan, progress)


def _colour(colorizer: Colorizer, l_full: np.ndarray, reference_rgb: np.ndarray, plan: WorkPlan,
            progress: bool = False) -> Image.Image:
    """The pipeline from the target's L* ``(H, W)`` and the reference ``(H', W', 3)`` at the shapes of ``plan``."""
    l_small = colorizer.working_lightness(l_full, plan.target)                # (h, w)
    reference_lab = colorizer.prepare_reference(reference_rgb, plan.reference)  # (h_r, w_r, 3) normalised Lab
    colorizer.use_reference(reference_lab, l_small, progress=progress)        # adapts a copy when adapt > 0
    ab_small = colorizer.predict_ab(l_small[None], reference_lab)[0]          # (h, w, 2), Lab units
    return Image.fromarray(colorizer.finish(l_full, l_small, ab_small), mode="RGB")


# -------------------------------------------------------------------------------------------- many files
def colorize_files(targets, reference, output, *, weights=None, config=None, strength: float = 1.0,
                   overwrite: bool = False, progress: bool = True, budget: WorkBudget | None = None,
                   adapt: int | None = None, seed: int = 0, adapt_options: dict | None = None
                   ) -> list[pathlib.Path]:
    """Colours image files and writes the results (what ``colorlab colorize`` runs).

    Args:
        targets: list of target paths (at least one).
        reference: the reference (path, PIL image or array).
        output: for one target, the output file (or an existing folder, which then gets ``<stem>.png``);
            for several targets, a folder (created if missing) that gets one ``<target stem>.png`` each.
        weights, config, strength, budget, adapt, seed, adapt_options: as for :func:`colorize` (the model adapts
            once to the reference, for all targets, unless the work budget gives a target another reference size;
            with ``min_match``, each target is matched and a target that matches too poorly is coloured by the
            trained model).
        overwrite: replace existing output files (never an input); without it, nothing is computed if any output
            exists already.
        progress: show a progress bar (tqdm) when there are several targets.

    Returns:
        The paths written, in the order of ``targets``.

    Everything a user can get wrong is checked before the model loads (seconds): every output path
    (:func:`colorlab.io.check_output_path`), the reference (read whole), each target's header
    (:func:`colorlab.io.image_shape`), the weights' config and the work budget of every pair. Every output is
    written atomically (:func:`colorlab.io.save_image`): a failure never leaves half a file. On the first target
    that cannot be decoded, the error is raised (outputs finished before it are kept).

    Raises:
        ConfigError: no targets, two targets with the same file stem, output not a folder for several targets, an
            output that is an input, a missing or read-only output folder.
        OutputExistsError: an output exists (or is a dangling link) and ``overwrite`` is False.
        ImageLoadError, BudgetError, ColorlabError: as for :func:`colorize`.
    """
    from colorlab.io import check_output_path, image_shape, load_image, save_image

    targets = [pathlib.Path(t) for t in targets]
    if not targets:
        raise ConfigError("colorize: no target images given")
    _check_options(strength, None, budget, adapt, seed)
    budget = budget or WorkBudget()
    output = pathlib.Path(output)
    if len(targets) == 1 and not output.is_dir():
        outputs = [output]
    else:
        if output.exists() and not output.is_dir():
            raise ConfigError(f"colorize: with {len(targets)} targets the output {os.fspath(output)!r} must be a "
                              "folder, but it is a file")
        outputs = [output / (t.stem + ".png") for t in targets]
        seen: dict = {}
        for target, out in zip(targets, outputs):
            if out.name in seen:
                raise ConfigError(f"colorize: targets {os.fspath(seen[out.name])!r} and {os.fspath(target)!r} "
                                  f"would both be written to {os.fspath(out)!r}; rename one or run them separately")
            seen[out.name] = target
    inputs = [*targets, reference]
    for out in outputs:
        check_output_path(out, inputs=inputs, overwrite=overwrite, make_folder=len(targets) > 1)
    reference_rgb = load_image(reference, mode="RGB", max_pixels=budget.max_pixels)
    reference_name = f"reference {_describe(reference)}"
    shapes = [image_shape(target, max_pixels=budget.max_pixels) for target in targets]   # headers only
    from colorlab.models import generator_config   # imports Keras: only once the files and paths are known good

    model_config = generator_config(weights, config)
    for target, shape in zip(targets, shapes):
        budget.plan(shape, reference_rgb.shape[:2], model_config, target=f"target {_describe(target)}",
                    reference=reference_name)
    colorizer = Colorizer(weights, config, strength=strength, budget=budget, adapt=adapt, seed=seed,
                          adapt_options=adapt_options)                       # once, last
    if len(targets) > 1:
        output.mkdir(parents=True, exist_ok=True)

    pairs = list(zip(targets, outputs))
    if progress and len(pairs) > 1:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, desc="colorize", unit="image")
    written = []
    for target, out in pairs:
        l_full = image_lightness(load_image(target, mode="RGB", max_pixels=budget.max_pixels))   # (H, W)
        names = {"target": f"target {_describe(target)}", "reference": reference_name}
        plan = colorizer.plan(l_full.shape, reference_rgb.shape[:2], **names)
        plan.warn_if_reduced(**names)   # a colour target is fine on the command line: no ColorTargetWarning
        written.append(save_image(_colour(colorizer, l_full, reference_rgb, plan, progress), out,
                                  overwrite=overwrite))
    return written
