"""Colour conversions: sRGB <-> CIELAB, the model's Lab normalisation, and ab histograms.

Everything here is written with ``keras.ops`` only, so it runs on TensorFlow and on JAX and is
differentiable (losses compare colours in Lab, and the histogram loss differentiates through
:func:`soft_ab_histogram`). Functions take NumPy arrays, Python lists or backend tensors with the
colour channels on the **last axis**, shape ``(..., 3)``, and return backend tensors; call
``keras.ops.convert_to_numpy`` to get NumPy back. :func:`hard_ab_histogram` is the one NumPy-only
function: it is the plain reference the soft histogram is checked against, and what evaluation uses.

Precision: inputs are cast to ``keras.config.floatx()`` (float32 unless changed). Ours, because
float32 is what the model consumes; it is accurate to about 1e-5 in L, far below what the eye sees.

The conversion chain (standard colour science, nothing from the paper):

1. sRGB -> linear RGB: the sRGB transfer curve (IEC 61966-2-1) is linear near black, a power law above:
   ``c / 12.92`` if ``c <= 0.04045`` else ``((c + 0.055) / 1.055) ** 2.4``.
2. linear RGB -> XYZ: a 3x3 matrix. We use the same matrix (sRGB primaries, D65 white) and the same
   D65 reference white (Xn, Yn, Zn) = (0.95047, 1.0, 1.08883) as scikit-image, so results agree with
   ``skimage.color.rgb2lab`` (our tests check this). The matrix's white (its row sums) differs from
   (Xn, Yn, Zn) in the 5th digit, so sRGB white comes out as L=100, a=-0.0025, b=0.0047, not exactly 0
   (scikit-image gives the same), and Lab white maps back to sRGB 1 + 4e-5.
3. XYZ -> Lab: with ``t = X/Xn`` (and Y/Yn, Z/Zn), ``f(t) = t ** (1/3)`` if ``t > eps`` else
   ``(kappa * t + 16) / 116`` with the CIE's exact constants ``eps = 216/24389`` and
   ``kappa = 24389/27`` (the two branches meet exactly at ``eps``). scikit-image uses the rounded
   constants 0.008856 and 7.787; the difference is below 1e-4 in L, a and b.
   ``L = 116 f(Y/Yn) - 16``, ``a = 500 (f(X/Xn) - f(Y/Yn))``, ``b = 200 (f(Y/Yn) - f(Z/Zn))``.

Numerical safety (ours): ``keras.ops.where`` differentiates *both* branches, so a cube root or a power
evaluated at 0 or at a negative number would put inf or NaN into the gradient even where the other
branch is selected. Each power branch therefore sees its input clamped into the region where it is
used (``maximum(t, eps)`` etc.), and the inverse of ``f`` uses ``t * t * t``, defined everywhere.
Gradients are finite at black, white, gray and out of gamut.

Out of range (ours, and the same as scikit-image): :func:`rgb_to_lab` does **not** clip inputs
outside [0, 1]; it extrapolates (linear branch below 0, power branch above 1), so an RGB value of
-0.1 or 1.2 gives a finite Lab colour, and the map stays invertible and differentiable. Clip first
if you want clipping. :func:`lab_to_rgb` clips to [0, 1] by default (``clip=True``, what a displayable
image needs); with ``clip=False`` it returns the raw sRGB values, which lie outside [0, 1] for Lab
colours that no sRGB display can show (e.g. L=50, a=110, b=110). :func:`in_gamut` flags those.
Unlike scikit-image, ``clip=False`` also keeps a negative Z (no silent clipping, no warning).
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

from colorlab.errors import ConfigError

__all__ = [
    "L_SCALE", "AB_SCALE", "D65_WHITE", "XYZ_FROM_RGB", "RGB_FROM_XYZ",
    "rgb_to_lab", "lab_to_rgb", "in_gamut",
    "normalize_l", "denormalize_l", "normalize_ab", "denormalize_ab", "normalize_lab", "denormalize_lab",
    "soft_ab_histogram", "hard_ab_histogram",
]

from colorlab.cie import AB_SCALE, D65_WHITE, L_SCALE, RGB_FROM_XYZ, XYZ_FROM_RGB  # noqa: E402  (re-exported)
from colorlab.cie import DELTA as _DELTA, EPSILON as _EPSILON, KAPPA as _KAPPA  # noqa: E402
from colorlab.cie import SRGB_IN_KNEE as _SRGB_IN_KNEE, SRGB_OUT_KNEE as _SRGB_OUT_KNEE  # noqa: E402


# --------------------------------------------------------------------------------------------- helpers

def _as_float(x, name, last_dim=None, allow_int=True):
    """Converts ``x`` (array, list or tensor) to a floatx backend tensor and checks its last axis."""
    if not isinstance(x, keras.KerasTensor) and not ops.is_tensor(x):
        x = np.asarray(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not allow_int and (dtype.startswith(("int", "uint")) or dtype == "bool"):
        raise ConfigError(f"{name} must hold floats in [0, 1], got dtype {dtype}; "
                          "convert 8-bit images first, e.g. image.astype('float32') / 255")
    shape = tuple(x.shape)
    if last_dim is not None and (len(shape) == 0 or (shape[-1] is not None and shape[-1] != last_dim)):
        raise ConfigError(f"{name} must have shape (..., {last_dim}) with channels last, got shape {shape}")
    floatx = keras.config.floatx()
    if isinstance(x, keras.KerasTensor):
        return ops.cast(x, floatx)
    return ops.convert_to_tensor(x, dtype=floatx) if isinstance(x, np.ndarray) else ops.cast(x, floatx)


def _mix(m, c0, c1, c2):
    """Applies the 3x3 matrix ``m`` to three channel tensors; returns the three output channels."""
    return [float(m[i, 0]) * c0 + float(m[i, 1]) * c1 + float(m[i, 2]) * c2 for i in range(3)]


def _srgb_to_linear(c):
    """sRGB-encoded values -> linear light, elementwise. Extrapolates outside [0, 1], never NaN."""
    power = ops.power((ops.maximum(c, _SRGB_IN_KNEE) + 0.055) / 1.055, 2.4)
    return ops.where(c > _SRGB_IN_KNEE, power, c / 12.92)


def _linear_to_srgb(c):
    """Linear light -> sRGB-encoded values, elementwise. Extrapolates outside [0, 1], never NaN."""
    power = 1.055 * ops.power(ops.maximum(c, _SRGB_OUT_KNEE), 1.0 / 2.4) - 0.055
    return ops.where(c > _SRGB_OUT_KNEE, power, 12.92 * c)


def _lab_f(t):
    """CIE f(t): cube root above eps, the linear segment below (defined and differentiable for all t)."""
    cube_root = ops.power(ops.maximum(t, _EPSILON), 1.0 / 3.0)
    return ops.where(t > _EPSILON, cube_root, (_KAPPA * t + 16.0) / 116.0)


def _lab_f_inv(f):
    """Inverse of :func:`_lab_f`: ``f**3`` above 6/29, the linear segment below."""
    return ops.where(f > _DELTA, f * f * f, (116.0 * f - 16.0) / _KAPPA)


# ------------------------------------------------------------------------------------ conversions

def rgb_to_lab(rgb):
    """sRGB -> CIELAB (D65 white, 2-degree observer).

    Args:
        rgb: sRGB values in [0, 1], shape ``(..., 3)``, float (NumPy array, list or backend tensor).
            Values outside [0, 1] are extrapolated, not clipped (see the module docstring).
            Integer arrays are rejected: divide 8-bit images by 255 first.

    Returns:
        Backend tensor ``(..., 3)`` of floatx: L in [0, 100], a and b in Lab units (roughly
        -86..98 and -108..95 for sRGB colours).

    Raises:
        ConfigError: if the last axis is not 3 or the dtype is an integer type.
    """
    rgb = _as_float(rgb, "rgb", last_dim=3, allow_int=False)
    r, g, b = ops.unstack(_srgb_to_linear(rgb), num=3, axis=-1)
    x, y, z = _mix(XYZ_FROM_RGB, r, g, b)
    fx = _lab_f(x / D65_WHITE[0])
    fy = _lab_f(y / D65_WHITE[1])
    fz = _lab_f(z / D65_WHITE[2])
    return ops.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab, clip=True):
    """CIELAB (D65, 2-degree observer) -> sRGB.

    Args:
        lab: Lab colours, shape ``(..., 3)``: L in [0, 100], a and b in Lab units.
        clip: if True (default), clip the result to [0, 1] (a displayable image). If False, return the
            raw sRGB values, which lie outside [0, 1] for colours outside the sRGB gamut; the values
            are always finite.

    Returns:
        Backend tensor ``(..., 3)`` of floatx, sRGB.

    Raises:
        ConfigError: if the last axis is not 3.
    """
    lab = _as_float(lab, "lab", last_dim=3)
    L, a, b = ops.unstack(lab, num=3, axis=-1)
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    x = D65_WHITE[0] * _lab_f_inv(fx)
    y = D65_WHITE[1] * _lab_f_inv(fy)
    z = D65_WHITE[2] * _lab_f_inv(fz)
    rgb = _linear_to_srgb(ops.stack(_mix(RGB_FROM_XYZ, x, y, z), axis=-1))
    return ops.clip(rgb, 0.0, 1.0) if clip else rgb


def in_gamut(lab, tol=1e-3):
    """Which Lab colours an sRGB display can show.

    Args:
        lab: Lab colours, shape ``(..., 3)``.
        tol: slack allowed outside [0, 1], for rounding.

    Returns:
        Boolean backend tensor ``(...)``: True where every channel of ``lab_to_rgb(lab, clip=False)``
        lies in ``[-tol, 1 + tol]``.
    """
    rgb = lab_to_rgb(lab, clip=False)
    inside = ops.logical_and(rgb >= -tol, rgb <= 1.0 + tol)
    return ops.all(inside, axis=-1)


# ---------------------------------------------------------------------------------- normalisation

def normalize_l(L):
    """L in [0, 100] -> [-1, 1], as the official Gray2ColorNet code does (``L / 50 - 1``). Any shape."""
    return _as_float(L, "L") / L_SCALE - 1.0


def denormalize_l(x):
    """Inverse of :func:`normalize_l`: [-1, 1] -> L in [0, 100]. Any shape."""
    return (_as_float(x, "x") + 1.0) * L_SCALE


def normalize_ab(ab):
    """ab in Lab units -> ``ab / 110`` (the official code's scale; sRGB colours land in about [-1, 1]).

    The model's decoder ends in tanh, so its outputs live in (-1, 1) on this scale. Any shape.
    """
    return _as_float(ab, "ab") / AB_SCALE


def denormalize_ab(x):
    """Inverse of :func:`normalize_ab`: model scale -> ab in Lab units. Any shape."""
    return _as_float(x, "x") * AB_SCALE


def normalize_lab(lab):
    """Lab ``(..., 3)`` -> model normalisation ``(..., 3)``: ``(L/50 - 1, a/110, b/110)``."""
    lab = _as_float(lab, "lab", last_dim=3)
    return ops.concatenate([normalize_l(lab[..., :1]), normalize_ab(lab[..., 1:])], axis=-1)


def denormalize_lab(x):
    """Inverse of :func:`normalize_lab`: ``(..., 3)`` model scale -> ``(..., 3)`` Lab."""
    x = _as_float(x, "x", last_dim=3)
    return ops.concatenate([denormalize_l(x[..., :1]), denormalize_ab(x[..., 1:])], axis=-1)


# ------------------------------------------------------------------------------------- histograms

def _check_bins(bins, ab_max):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ConfigError(f"bins must be an integer >= 2, got {bins!r}")
    if not np.isfinite(ab_max) or ab_max <= 0:
        raise ConfigError(f"ab_max must be a positive number, got {ab_max!r}")


def bin_centers(bins=21, ab_max=110.0):
    """Histogram bin centres on each of the a and b axes: ``linspace(-ab_max, ab_max, bins)`` (NumPy).

    With the defaults: -110, -99, ..., 99, 110 (21 centres, width 11).
    """
    _check_bins(bins, ab_max)
    return np.linspace(-ab_max, ab_max, bins)


def soft_ab_histogram(ab, bins=21, ab_max=110.0, sigma=None, weights=None):
    """Differentiable ab histogram, as used by Gray2ColorNet's colour-distribution branch and histogram loss.

    The paper's choice: a 21 x 21 = 441-bin histogram of the ab channels over the range +-110. Our
    choices: how each pixel is spread over the bins (below).

    Each pixel spreads a mass of exactly 1 over the bins with a Gaussian kernel on its distance to each
    bin centre, ``exp(-d**2 / (2 sigma**2))``, normalised per pixel. The 2-D Gaussian factorises, so a
    pixel's share of bin (i, j) is ``p_a[i] * p_b[j]``, with ``p_a = softmax(-(a - c)**2 / (2 sigma**2))``
    over the centres ``c`` (the softmax keeps it finite even far outside the range, where all the mass
    goes to the edge bin, as in :func:`hard_ab_histogram`'s clipping).

    Default ``sigma`` = half a bin width (5.5 for the defaults), our choice: a pixel on a bin centre keeps
    about 79% of its mass on each axis in that bin (62% in 2-D), so the soft histogram stays close to the
    hard one that evaluation uses (HIS), while a pixel between two centres splits its mass between them
    smoothly, so the gradient with respect to ab is non-zero everywhere between centres. A much smaller
    sigma approaches the hard histogram with gradients that vanish except near bin edges; a much larger
    one blurs neighbouring colours together.

    Args:
        ab: ab channels in Lab units, shape ``(N, H, W, 2)``.
        bins: bins per axis (total ``bins * bins``).
        ab_max: centres run from ``-ab_max`` to ``+ab_max``.
        sigma: kernel width in Lab units; default half a bin width, ``ab_max / (bins - 1)``.
        weights: optional non-negative per-pixel weights ``(N, H, W)`` (e.g. a 0/1 mask); pixels with
            weight 0 are ignored. A row whose weights are all 0 comes out all zeros.

    Returns:
        Backend tensor ``(N, bins * bins)``; rows sum to 1. Order is a-major:
        ``index = i_a * bins + i_b``, where ``i_a`` indexes the centres on the a axis.

    Raises:
        ConfigError: on a bad shape or a bad ``bins``, ``ab_max`` or ``sigma``.
    """
    _check_bins(bins, ab_max)
    width = 2.0 * ab_max / (bins - 1)
    sigma = 0.5 * width if sigma is None else sigma
    if not np.isfinite(sigma) or sigma <= 0:
        raise ConfigError(f"sigma must be a positive number, got {sigma!r}")
    ab = _as_float(ab, "ab", last_dim=2)
    shape = tuple(ab.shape)
    if len(shape) != 4:
        raise ConfigError(f"ab must have shape (N, H, W, 2), got shape {shape}")
    n = ops.shape(ab)[0]
    pixels = ops.reshape(ab, (n, -1, 2))                                      # (N, P, 2)
    centres = ops.convert_to_tensor(bin_centers(bins, ab_max), dtype=keras.config.floatx())
    logits = -ops.square(pixels[..., None] - centres) / (2.0 * sigma * sigma)  # (N, P, 2, bins)
    shares = ops.softmax(logits, axis=-1)                                     # each pixel: mass 1 per axis
    share_a, share_b = shares[:, :, 0, :], shares[:, :, 1, :]                 # (N, P, bins) each
    if weights is None:
        weight = ops.ones_like(pixels[..., 0])                                # (N, P)
    else:
        weights = _as_float(weights, "weights")
        if tuple(weights.shape) != shape[:3] and None not in shape[:3]:
            raise ConfigError(f"weights must have shape (N, H, W) = {shape[:3]}, got {tuple(weights.shape)}")
        weight = ops.reshape(weights, (n, -1))
    hist = ops.matmul(ops.transpose(share_a * weight[..., None], (0, 2, 1)), share_b)  # (N, bins, bins)
    total = ops.sum(weight, axis=1)                                           # (N,)
    hist = ops.reshape(hist, (n, bins * bins))
    return hist / ops.maximum(total, 1e-12)[:, None]


def hard_ab_histogram(ab, bins=21, ab_max=110.0):
    """Plain NumPy ab histogram: each pixel counts 1 in its nearest bin; values outside the range are
    clipped to the edge bins; rows normalised to sum 1.

    The reference :func:`soft_ab_histogram` is tested against, and the histogram evaluation (HIS) uses.

    Args:
        ab: ab channels in Lab units, shape ``(N, H, W, 2)`` (NumPy array or tensor).
        bins, ab_max: as in :func:`soft_ab_histogram` (centres ``linspace(-ab_max, ab_max, bins)``).

    Returns:
        NumPy float64 array ``(N, bins * bins)``, a-major (``index = i_a * bins + i_b``).
    """
    _check_bins(bins, ab_max)
    ab = np.asarray(ops.convert_to_numpy(ab) if ops.is_tensor(ab) else ab, dtype=np.float64)
    if ab.ndim != 4 or ab.shape[-1] != 2:
        raise ConfigError(f"ab must have shape (N, H, W, 2), got shape {ab.shape}")
    width = 2.0 * ab_max / (bins - 1)
    index = np.clip(np.floor((ab + ab_max) / width + 0.5), 0, bins - 1).astype(np.int64)  # (N, H, W, 2)
    flat = (index[..., 0] * bins + index[..., 1]).reshape(ab.shape[0], -1)                 # (N, P)
    hist = np.zeros((ab.shape[0], bins * bins))
    for row, cells in enumerate(flat):
        hist[row] = np.bincount(cells, minlength=bins * bins)
    return hist / max(flat.shape[1], 1)
