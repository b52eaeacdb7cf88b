"""NumPy colour science: the CIE / sRGB constants and every NumPy colour conversion colorlab uses.

:mod:`colorlab.color` holds the Keras version (differentiable, for the model and the losses) and imports its
constants from here. This module is NumPy only, so metrics, baselines, inference and video share one set of
conversions without importing Keras. Lab is CIELAB (D65, 2-degree observer), the matrix and white of
scikit-image; sRGB values are floats in [0, 1] unless a name says 8 bits.

Four families:

* **Reference conversions**, float64: :func:`rgb_to_lab_np` / :func:`lab_to_rgb_np` (the twins of
  :func:`colorlab.color.rgb_to_lab` / :func:`colorlab.color.lab_to_rgb`; the tests check they agree),
  :func:`lightness` (L* of RGB or gray images, checked) and :func:`lab_to_rgb_keep_l` (Lab -> sRGB keeping L*
  exactly: out-of-gamut chroma is reduced towards gray). Evaluation needs no gradients, and float64 keeps
  CIEDE2000 and "L* is kept exactly" checks free of float32 rounding.
* **Training batches**, float32: :func:`normalised_lab`, the model's normalised Lab computed per pixel, so a batch
  is the same bits on any backend, thread or worker process. What :mod:`colorlab.data` uses.
* **Whole photos**, the same float64 arithmetic in row blocks of about a megapixel (bounded memory at any size):
  :func:`image_lightness`, :func:`image_lab_to_rgb8`, :func:`is_colour`. What :func:`colorlab.colorize` uses.
* **Video frames**, fast: float32 and 8-bit lookup tables, within one 8-bit step of the float64 path:
  :func:`frame_lightness`, :func:`lab_to_rgb8`. What :mod:`colorlab.video` uses for every frame.
"""

from __future__ import annotations

import sys

import numpy as np

from colorlab.errors import ConfigError

__all__ = ["D65_WHITE", "XYZ_FROM_RGB", "RGB_FROM_XYZ", "EPSILON", "KAPPA", "DELTA", "SRGB_IN_KNEE",
           "SRGB_OUT_KNEE", "L_SCALE", "AB_SCALE", "as_float64", "normalised_lab", "rgb_to_lab_np", "lab_to_rgb_np", "lightness", "lab_to_rgb_keep_l",
           "image_lightness", "image_lab_to_rgb8", "is_colour", "frame_lightness", "lab_to_rgb8"]

#: D65 reference white for the 2-degree observer, as in scikit-image (Y normalised to 1).
D65_WHITE = (0.95047, 1.0, 1.08883)

#: Linear sRGB -> XYZ (D65), row i gives X, Y, Z from (R, G, B); the matrix scikit-image uses.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
#: XYZ -> linear sRGB, the exact inverse of :data:`XYZ_FROM_RGB`.
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)

EPSILON = 216.0 / 24389.0   # CIE: (6/29)^3, where f(t) switches from linear to cube root
KAPPA = 24389.0 / 27.0      # CIE: (29/3)^3, slope of L = kappa * Y/Yn near black
DELTA = 6.0 / 29.0          # f(EPSILON) = DELTA
SRGB_IN_KNEE = 0.04045      # sRGB encoded value where the transfer curve switches to the power law
SRGB_OUT_KNEE = 0.0031308   # the same knee in linear light (0.04045 / 12.92)

#: The model's Lab normalisation, from the official Gray2ColorNet code: ``L / 50 - 1`` and ``ab / 110``.
L_SCALE = 50.0
AB_SCALE = 110.0

_WHITE = np.array(D65_WHITE)
_CHUNK_PIXELS = 1 << 20     # whole-photo work is done in row blocks of about this many pixels
_ENCODE_STEPS = 1 << 16     # linear-light steps of the 8-bit encoding table: 1/20 of an 8-bit step at black
_TABLES = None


# --------------------------------------------------------------------------------------------- checks

def as_float64(x, name: str) -> np.ndarray:
    """Checks that ``x`` holds finite floats and returns it as a float64 NumPy array.

    Accepts NumPy arrays, lists, Python numbers and backend tensors (converted when Keras is loaded already).

    Raises:
        ConfigError: integer or boolean data (8-bit images must be divided by 255 first), a non-float dtype, NaN
            or infinity; the message names ``name``.
    """
    if not isinstance(x, (np.ndarray, list, tuple, float, int)) and "keras" in sys.modules:
        from keras import ops  # a backend tensor: only possible when Keras is loaded already
        if ops.is_tensor(x):
            x = ops.convert_to_numpy(x)
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        raise ConfigError(f"{name} must hold floats in [0, 1], got dtype {x.dtype}; "
                          "convert 8-bit images first, e.g. image.astype('float32') / 255")
    if x.dtype.kind != "f":
        raise ConfigError(f"{name} must be a float array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.size and not np.all(np.isfinite(x)):
        raise ConfigError(f"{name} contains NaN or infinity")
    return x


# ------------------------------------------------------------------------------- reference conversions

def rgb_to_lab_np(rgb) -> np.ndarray:
    """sRGB in [0, 1] -> CIELAB, float64 NumPy; the twin of :func:`colorlab.color.rgb_to_lab`.

    Args:
        rgb: ``(..., 3)`` float sRGB (outside [0, 1] extrapolated, like colorlab.color).

    Returns:
        ``(..., 3)`` float64: L in [0, 100], a, b in Lab units.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim == 0 or rgb.shape[-1] != 3:
        raise ConfigError(f"rgb must have shape (..., 3), got shape {rgb.shape}")
    linear = np.where(rgb > SRGB_IN_KNEE, ((np.maximum(rgb, SRGB_IN_KNEE) + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    t = (linear @ XYZ_FROM_RGB.T) / _WHITE
    f = np.where(t > EPSILON, np.cbrt(t), (KAPPA * t + 16.0) / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                     200.0 * (f[..., 1] - f[..., 2])], axis=-1)


#: Rows of the sRGB -> XYZ matrix divided by the white: linear RGB -> (X/Xn, Y/Yn, Z/Zn), float32.
_T_FROM_RGB = (XYZ_FROM_RGB / _WHITE[:, None]).astype(np.float32)


def normalised_lab(rgb) -> np.ndarray:
    """sRGB in [0, 1] -> the model's normalised Lab ``(L/50 - 1, a/110, b/110)``, in float32 NumPy.

    The formulas of :func:`colorlab.color.rgb_to_lab` and :func:`colorlab.color.normalize_lab` (the same matrix,
    white and CIE constants, from :mod:`colorlab.cie`; the tests check they agree to 2e-6), written with NumPy so
    that preparing a batch needs no Keras (worker processes import NumPy and Pillow only) and gives the same values
    whatever the Keras backend. Every operation is elementwise (the 3 x 3 matrix is applied as sums of scaled
    channels, not as a matrix product whose summation order may depend on the array), so a pixel's value does not
    depend on what else is in the array: one photo or a whole batch, on any thread or worker process, the result is
    the same bit for bit. Within 1e-6 of the float64 conversion (:func:`colorlab.cie.rgb_to_lab_np`).

    Args:
        rgb: ``(..., 3)`` float sRGB in [0, 1] (values outside are extrapolated, as in colorlab.color).

    Returns:
        float32 ``(..., 3)``: ``L/50 - 1`` in [-1, 1], ``a/110`` and ``b/110`` (sRGB colours land in about [-1, 1]).

    Raises:
        ConfigError: the last axis is not 3, or the values are not floats (divide 8-bit images by 255 first).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim == 0 or rgb.shape[-1] != 3:
        raise ConfigError(f"normalised_lab: rgb must have shape (..., 3), got {rgb.shape}")
    if rgb.dtype.kind != "f":
        raise ConfigError(f"normalised_lab: rgb must hold floats in [0, 1], got dtype {rgb.dtype}")
    f32 = np.float32
    planes = np.moveaxis(rgb.astype(np.float32, copy=False), -1, 0).copy()   # (3, ...), contiguous
    linear = np.maximum(planes, f32(SRGB_IN_KNEE))                         # the sRGB transfer curve
    linear += f32(0.055)
    linear /= f32(1.055)
    np.power(linear, f32(2.4), out=linear)
    np.divide(planes, f32(12.92), out=linear, where=planes <= f32(SRGB_IN_KNEE))
    t = np.empty_like(linear)                                              # X/Xn, Y/Yn, Z/Zn
    for row in range(3):
        np.multiply(linear[0], _T_FROM_RGB[row, 0], out=t[row])
        t[row] += linear[1] * _T_FROM_RGB[row, 1]
        t[row] += linear[2] * _T_FROM_RGB[row, 2]
    f = np.maximum(t, f32(EPSILON))                                        # CIE f(t)
    np.power(f, f32(1.0 / 3.0), out=f)
    below = t <= f32(EPSILON)
    t *= f32(KAPPA / 116.0)
    t += f32(16.0 / 116.0)
    np.copyto(f, t, where=below)
    lab = np.empty(planes.shape[1:] + (3,), np.float32)
    lab[..., 0] = f[1] * f32(116.0 / L_SCALE) - f32(16.0 / L_SCALE + 1.0)
    lab[..., 1] = (f[0] - f[1]) * f32(500.0 / AB_SCALE)
    lab[..., 2] = (f[1] - f[2]) * f32(200.0 / AB_SCALE)
    return lab


def lab_to_rgb_np(lab, clip=True) -> np.ndarray:
    """CIELAB -> sRGB, float64 NumPy; the twin of :func:`colorlab.color.lab_to_rgb`.

    Args:
        lab: ``(..., 3)`` Lab colours.
        clip: clip the result to [0, 1] (default) or return raw sRGB (outside [0, 1] when out of gamut).

    Returns:
        ``(..., 3)`` float64 sRGB.
    """
    lab = np.asarray(lab, dtype=np.float64)
    if lab.ndim == 0 or lab.shape[-1] != 3:
        raise ConfigError(f"lab must have shape (..., 3), got shape {lab.shape}")
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    t = np.where(f > DELTA, f * f * f, (116.0 * f - 16.0) / KAPPA)
    linear = (t * _WHITE) @ RGB_FROM_XYZ.T
    rgb = np.where(linear > SRGB_OUT_KNEE, 1.055 * np.maximum(linear, SRGB_OUT_KNEE) ** (1.0 / 2.4) - 0.055,
                   12.92 * linear)
    return np.clip(rgb, 0.0, 1.0) if clip else rgb


def lightness(image, is_l=False, name="image") -> np.ndarray:
    """CIE L* of an image, float64 ``(H, W)`` (or ``(N, H, W)`` for a batch of RGB images).

    Args:
        image: RGB ``(H, W, 3)`` / ``(N, H, W, 3)`` in [0, 1]; or gray ``(H, W)`` / ``(H, W, 1)`` in [0, 1]
            (the sRGB gray value g, i.e. the colour (g, g, g)); or, with ``is_l=True``, an L* channel
            ``(H, W)`` / ``(H, W, 1)`` in [0, 100].
        is_l: the single-channel input is already L* (not a gray value in [0, 1]).
        name: the argument's name, for error messages.
    """
    x = as_float64(image, name)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        if is_l:
            if x.size and (x.min() < -1e-6 or x.max() > 100.0 + 1e-6):
                raise ConfigError(f"{name} (L*) must lie in [0, 100], got [{x.min():.4g}, {x.max():.4g}]")
            return x
        return rgb_to_lab_np(np.repeat(x[..., None], 3, axis=-1))[..., 0]
    if x.ndim in (3, 4) and x.shape[-1] == 3:
        if is_l:
            raise ConfigError(f"{name}: is_l=True needs a single-channel L* image, got shape {x.shape}")
        return rgb_to_lab_np(x)[..., 0]
    raise ConfigError(f"{name} must be gray (H, W) or (H, W, 1), or RGB (H, W, 3), got shape {x.shape}")


def lab_to_rgb_keep_l(L, ab, iterations=20) -> np.ndarray:
    """Lab -> sRGB that keeps L* exactly: out-of-gamut ab are scaled towards gray until the colour fits.

    For each pixel the largest ``s`` in [0, 1] with ``lab_to_rgb(L, s * ab)`` inside [0, 1] is found by bisection
    (``iterations`` halvings: ``s`` to within 2**-20), so hue is kept and only chroma is reduced. Pixels already in
    gamut are untouched (s = 1). Ours: a simple, exact-L gamut mapping; clipping RGB instead would shift L* by up
    to tens of units for saturated colours.

    Args:
        L: ``(...)`` lightness in [0, 100].
        ab: ``(..., 2)`` chroma in Lab units.

    Returns:
        float64 ``(..., 3)`` sRGB in [0, 1]; its L* equals ``L`` to about 1e-4.
    """
    L = np.asarray(L, dtype=np.float64)
    ab = np.asarray(ab, dtype=np.float64)
    if ab.shape != L.shape + (2,):
        raise ConfigError(f"ab must have shape L.shape + (2,) = {L.shape + (2,)}, got {ab.shape}")
    tol = 1e-7

    def fits(lv, abv):
        # In gamut <=> linear RGB in [0, 1] (the sRGB curve is monotone), so the test skips the curve.
        fy = (lv + 16.0) / 116.0
        f = np.stack([fy + abv[..., 0] / 500.0, fy, fy - abv[..., 1] / 200.0], axis=-1)
        xyz = np.where(f > 6.0 / 29.0, f * f * f, (116.0 * f - 16.0) * (27.0 / 24389.0)) * _WHITE
        linear = xyz @ RGB_FROM_XYZ.T
        return np.all((linear >= -tol) & (linear <= 1.0 + tol), axis=-1)

    inside = fits(L, ab)
    if not inside.all():
        out = ~inside
        lv, abv = L[out], ab[out]
        low, high = np.zeros(lv.shape), np.ones(lv.shape)
        for _ in range(iterations):
            mid = 0.5 * (low + high)
            ok = fits(lv, abv * mid[:, None])
            low = np.where(ok, mid, low)
            high = np.where(ok, high, mid)
        ab = ab.copy()
        ab[out] = abv * low[:, None]
    rgb = lab_to_rgb_np(np.concatenate([L[..., None], ab], axis=-1), clip=False)
    return np.clip(rgb, 0.0, 1.0)


# ------------------------------------------------------------------------------------------ whole photos

def _rows(height: int, width: int) -> list[slice]:
    """Row blocks of about _CHUNK_PIXELS pixels: ``slice`` objects covering ``range(height)``."""
    step = max(1, _CHUNK_PIXELS // max(width, 1))
    return [slice(start, min(start + step, height)) for start in range(0, height, step)]


def image_lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of a photo: ``(H, W)`` float32 in [0, 100] from sRGB ``(H, W, 3)`` in [0, 1].

    :func:`rgb_to_lab_np` (float64) in row blocks, so memory stays bounded for any size.
    """
    out = np.empty(rgb.shape[:2], dtype=np.float32)
    for rows in _rows(*rgb.shape[:2]):
        out[rows] = rgb_to_lab_np(rgb[rows])[..., 0]
    return out


def image_lab_to_rgb8(lightness: np.ndarray, ab: np.ndarray | None) -> np.ndarray:
    """L* ``(H, W)`` + ab ``(H, W, 2)`` -> uint8 sRGB ``(H, W, 3)`` keeping L*, float64, in row blocks.

    :func:`lab_to_rgb_keep_l` (chroma reduced where the colour leaves the gamut), rounded to 8 bits.
    ``ab=None``: gray, R = G = B exactly (the mean of the three channels of ``(L*, 0, 0)``, which is neutral in
    sRGB only to ~0.01/255).
    """
    out = np.empty(lightness.shape + (3,), dtype=np.uint8)
    for rows in _rows(*lightness.shape):
        block = lightness[rows]
        if ab is None:
            rgb = lab_to_rgb_keep_l(block, np.zeros(block.shape + (2,))).mean(axis=-1, keepdims=True)
        else:
            rgb = lab_to_rgb_keep_l(block, ab[rows])
        out[rows] = np.round(rgb * 255.0).astype(np.uint8)
    return out


def is_colour(rgb: np.ndarray, tolerance: float = 2.0 / 255.0) -> bool:
    """True when some pixel's channels differ by more than ``tolerance`` (JPEG noise on a gray photo stays below).

    Args:
        rgb: ``(H, W, 3)`` sRGB in [0, 1].
    """
    for rows in _rows(*rgb.shape[:2]):
        block = rgb[rows]
        if np.abs(block[..., 0] - block[..., 1]).max() > tolerance or \
                np.abs(block[..., 1] - block[..., 2]).max() > tolerance:
            return True
    return False


# ------------------------------------------------------------------------------------------ video frames

def _tables():
    """Cached lookup tables: uint8 sRGB -> linear light (256,), linear light step -> uint8 sRGB."""
    global _TABLES
    if _TABLES is None:
        codes = np.arange(256) / 255.0
        decode = np.where(codes > SRGB_IN_KNEE, ((codes + 0.055) / 1.055) ** 2.4, codes / 12.92)
        linear = np.arange(_ENCODE_STEPS) / (_ENCODE_STEPS - 1)
        encoded = np.where(linear > SRGB_OUT_KNEE, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear)
        _TABLES = decode.astype(np.float32), np.round(encoded * 255).astype(np.uint8)
    return _TABLES


def frame_lightness(rgb8: np.ndarray) -> np.ndarray:
    """CIE L* of an 8-bit sRGB frame, fast: a 256-entry decoding table, then the CIE formula in float32.

    Args:
        rgb8: uint8 ``(H, W, 3)``.

    Returns:
        float32 ``(H, W)`` in [0, 100], equal to :func:`rgb_to_lab_np`'s L* to ~1e-3.
    """
    decode, _ = _tables()
    y = decode[rgb8] @ XYZ_FROM_RGB[1].astype(np.float32)          # (H, W) relative luminance, Yn = 1
    return np.where(y > EPSILON, 116.0 * np.cbrt(y) - 16.0, KAPPA * y).astype(np.float32)


def lab_to_rgb8(lightness: np.ndarray, ab: np.ndarray | None) -> np.ndarray:
    """L* + ab -> 8-bit sRGB keeping L*, fast (float32 and an encoding table) for whole frames.

    Pixels inside the sRGB gamut are converted directly; the others go through :func:`lab_to_rgb_keep_l` (chroma
    reduced towards gray at the same L*), as in :func:`image_lab_to_rgb8`. Agrees with that float64 conversion
    to one 8-bit step.

    Args:
        lightness: ``(H, W)`` L* in [0, 100].
        ab: ``(H, W, 2)`` in Lab units, or ``None`` for gray (R = G = B).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    _, encode = _tables()
    lightness = np.asarray(lightness, dtype=np.float32)
    fy = (lightness + 16.0) / 116.0
    if ab is None:
        y = np.where(fy > DELTA, fy ** 3, (116.0 * fy - 16.0) / KAPPA)
        gray = encode[np.clip(np.rint(y * (_ENCODE_STEPS - 1)), 0, _ENCODE_STEPS - 1).astype(np.int32)]
        return np.repeat(gray[..., None], 3, axis=-1)
    ab = np.asarray(ab, dtype=np.float32)
    f = np.stack([fy + ab[..., 0] / 500.0, fy, fy - ab[..., 1] / 200.0], axis=-1)
    t = np.where(f > DELTA, f * f * f, (116.0 * f - 16.0) / KAPPA) * np.asarray(D65_WHITE, np.float32)
    linear = t @ RGB_FROM_XYZ.T.astype(np.float32)                   # (H, W, 3)
    out = encode[np.clip(np.rint(linear * (_ENCODE_STEPS - 1)), 0, _ENCODE_STEPS - 1).astype(np.int32)]
    outside = np.any((linear < -1e-6) | (linear > 1.0 + 1e-6), axis=-1)
    if outside.any():
        rgb = lab_to_rgb_keep_l(lightness[outside], ab[outside])
        out[outside] = np.round(rgb * 255.0).astype(np.uint8)
    return out
