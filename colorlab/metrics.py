"""Evaluation metrics for colorization: fidelity, colour, histogram match, lightness and video consistency.

None of these metrics is Gray2ColorNet's own: the paper (Lu et al., ACM MM 2020) reports PSNR, SSIM and its own
histogram-intersection similarity (HIS); the others are the usual ones of the colorization literature, which
chapter 09 explains. Every function here is plain NumPy (float64 inside), so it is exact enough to compare methods
and cheap enough for full-resolution photos; importing this module does not import Keras (only
:func:`histogram_intersection` does, for :func:`colorlab.color.hard_ab_histogram`).

Conventions:

* Images are float sRGB in [0, 1], shape ``(H, W, 3)``, channels last (what :func:`colorlab.io.load_image` gives).
  Functions marked "batches" also take ``(N, H, W, 3)`` and then return one value per image, shape ``(N,)``.
* A gray image is ``(H, W)`` in [0, 1]: the sRGB gray value, i.e. the colour ``(g, g, g)``; an L* channel
  (``(H, W)`` in [0, 100]) is passed with ``is_l=True`` where a function accepts one.
* Lab is CIELAB (D65, 2-degree observer), converted with :mod:`colorlab.cie`'s float64 NumPy functions (the
  twins of :mod:`colorlab.color`'s Keras ones). Ours: a NumPy path, because evaluation needs no gradients and
  float64 keeps CIEDE2000 and "L* is preserved exactly" checks free of float32 rounding.

Video metrics take frames ``(T, H, W, 3)``. :func:`warping_error` needs OpenCV (the ``video`` extra) only to
estimate optical flow; pass your own flows to use it without OpenCV.
"""

from __future__ import annotations

import math

import numpy as np

from colorlab.cie import as_float64, lightness, rgb_to_lab_np
from colorlab.errors import ColorlabError, ConfigError

__all__ = [
    "psnr", "ssim", "ciede2000", "mean_ciede2000", "colourfulness", "histogram_intersection", "l_preservation",
    "cdc", "js_divergence", "warping_error", "farneback_flows", "warp", "evaluate",
]


# --------------------------------------------------------------------------------------------- checks

def _rgb(x, name, batch=True) -> np.ndarray:
    """Checks an RGB image ``(H, W, 3)`` (or a batch ``(N, H, W, 3)`` when ``batch``); returns float64."""
    x = as_float64(x, name)
    ndims = (3, 4) if batch else (3,)
    if x.ndim not in ndims or x.shape[-1] != 3:
        wanted = "(H, W, 3) or (N, H, W, 3)" if batch else "(H, W, 3)"
        raise ConfigError(f"{name} must have shape {wanted} (RGB, channels last), got shape {x.shape}")
    if x.shape[-2] == 0 or x.shape[-3] == 0:
        raise ConfigError(f"{name} is empty, shape {x.shape}")
    return x


def _same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ConfigError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}")


def _per_image(fn, *images):
    """Applies ``fn`` (on single images) to one image or to each image of a batch (first axis)."""
    if images[0].ndim == 3:
        return float(fn(*images))
    return np.array([fn(*parts) for parts in zip(*images)], dtype=np.float64)


# -------------------------------------------------------------------------------------------- fidelity

def psnr(pred, target, data_range=1.0):
    """Peak signal-to-noise ratio on RGB, in dB (batches).

    ``PSNR = 10 log10(data_range**2 / MSE)``, ``MSE = mean over pixels and the 3 channels of (pred - target)**2``.
    Identical images give ``inf``.

    Args:
        pred, target: ``(H, W, 3)`` or ``(N, H, W, 3)`` float RGB.
        data_range: the largest possible value minus the smallest (1 for images in [0, 1]).

    Returns:
        float, or ``(N,)`` array for a batch.
    """
    pred, target = _rgb(pred, "pred"), _rgb(target, "target")
    _same_shape(pred, target, "pred", "target")
    if not data_range > 0:
        raise ConfigError(f"data_range must be positive, got {data_range!r}")

    def one(p, t):
        mse = np.mean((p - t) ** 2)
        return math.inf if mse == 0 else 10.0 * math.log10(data_range ** 2 / mse)

    return _per_image(one, pred, target)


_SSIM_SIGMA = 1.5
_SSIM_RADIUS = int(3.5 * _SSIM_SIGMA + 0.5)   # truncate at 3.5 sigma, as scipy.ndimage / scikit-image: 5


def _gaussian_blur(x):
    """Separable Gaussian blur (sigma 1.5, radius 5) of ``(H, W, C)`` with half-sample symmetric borders."""
    offsets = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1)
    kernel = np.exp(-0.5 * (offsets / _SSIM_SIGMA) ** 2)
    kernel /= kernel.sum()
    r = _SSIM_RADIUS
    padded = np.pad(x, ((r, r), (0, 0), (0, 0)), mode="symmetric")
    x = sum(w * padded[i:i + x.shape[0]] for i, w in enumerate(kernel))
    padded = np.pad(x, ((0, 0), (r, r), (0, 0)), mode="symmetric")
    return sum(w * padded[:, i:i + x.shape[1]] for i, w in enumerate(kernel))


def ssim(pred, target, data_range=1.0):
    """Structural similarity (Wang et al. 2004) on RGB, Gaussian window, mean over channels (batches).

    Per channel, with local means, variances and covariance taken under a Gaussian window (sigma = 1.5,
    truncated at 3.5 sigma, i.e. 11 x 11; population statistics, as in Wang et al.)::

        SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x**2 + mu_y**2 + C1)(sigma_x**2 + sigma_y**2 + C2))

    with ``C1 = (0.01 L)**2``, ``C2 = (0.03 L)**2``, ``L = data_range``. The map is averaged over the pixels at
    least 5 px from the border (where the window fits; borders are mirrored for the filtering) and over the three
    channels. This reproduces ``skimage.metrics.structural_similarity(pred, target, channel_axis=-1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``.

    Args:
        pred, target: ``(H, W, 3)`` or ``(N, H, W, 3)``, H and W at least 11.

    Returns:
        float in [-1, 1] (1 for identical images), or ``(N,)`` for a batch.
    """
    pred, target = _rgb(pred, "pred"), _rgb(target, "target")
    _same_shape(pred, target, "pred", "target")
    window = 2 * _SSIM_RADIUS + 1
    if min(pred.shape[-3:-1]) < window:
        raise ConfigError(f"ssim needs images of at least {window} x {window} px, got {pred.shape[-3:-1]}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def one(x, y):
        mx, my = _gaussian_blur(x), _gaussian_blur(y)
        vx = _gaussian_blur(x * x) - mx * mx
        vy = _gaussian_blur(y * y) - my * my
        cxy = _gaussian_blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        r = _SSIM_RADIUS
        return s[r:-r, r:-r].mean(axis=(0, 1)).mean()

    return _per_image(one, pred, target)


# ----------------------------------------------------------------------------------------- CIEDE2000

def ciede2000(lab1, lab2, k_l=1.0, k_c=1.0, k_h=1.0) -> np.ndarray:
    """CIEDE2000 colour difference per pixel, in the formulation of Sharma, Wu & Dalal (2005).

    With ``C = sqrt(a**2 + b**2)`` and ``Cm`` the mean of the two C's: ``G = 0.5 (1 - sqrt(Cm**7 / (Cm**7 +
    25**7)))``, ``a' = (1 + G) a``, ``C' = sqrt(a'**2 + b**2)``, ``h' = atan2(b, a')`` in [0, 360). Then::

        dE00 = sqrt((dL'/(kL SL))**2 + (dC'/(kC SC))**2 + (dH'/(kH SH))**2 + RT (dC'/(kC SC)) (dH'/(kH SH)))

    with ``dH' = 2 sqrt(C1' C2') sin(dh'/2)``, ``SL = 1 + 0.015 (L'm - 50)**2 / sqrt(20 + (L'm - 50)**2)``,
    ``SC = 1 + 0.045 C'm``, ``SH = 1 + 0.015 C'm T``, ``RT = -sin(2 dtheta) RC`` (T, dtheta, RC as in the paper).
    Hue differences and mean hues follow Sharma's rules for the 360-degree wrap and for zero chroma.

    Args:
        lab1, lab2: Lab colours ``(..., 3)`` of the same shape.
        k_l, k_c, k_h: parametric weights (1 for the reference conditions).

    Returns:
        float64 array ``(...)`` of colour differences (>= 0).
    """
    lab1, lab2 = as_float64(lab1, "lab1"), as_float64(lab2, "lab2")
    if lab1.ndim == 0 or lab1.shape[-1] != 3:
        raise ConfigError(f"lab1 must have shape (..., 3), got shape {lab1.shape}")
    _same_shape(lab1, lab2, "lab1", "lab2")
    L1, a1, b1 = np.moveaxis(lab1, -1, 0)
    L2, a2, b2 = np.moveaxis(lab2, -1, 0)
    c_mean = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = c_mean ** 7
    g = 0.5 * (1.0 - np.sqrt(c7 / (c7 + 25.0 ** 7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_zero = (c1p * c2p) == 0

    dl = L2 - L1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    d_big_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_mean = 0.5 * (L1 + L2)
    cp_mean = 0.5 * (c1p + c2p)
    h_sum = h1p + h2p
    h_mean = np.where(np.abs(h1p - h2p) <= 180.0, 0.5 * h_sum,
                      np.where(h_sum < 360.0, 0.5 * (h_sum + 360.0), 0.5 * (h_sum - 360.0)))
    h_mean = np.where(chroma_zero, h_sum, h_mean)
    t = (1.0 - 0.17 * np.cos(np.radians(h_mean - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_mean))
         + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0)))
    d_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    cp7 = cp_mean ** 7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + 25.0 ** 7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    tl, tc, th = dl / (k_l * s_l), dc / (k_c * s_c), d_big_h / (k_h * s_h)
    return np.sqrt(np.maximum(tl * tl + tc * tc + th * th + r_t * tc * th, 0.0))


def mean_ciede2000(pred_rgb, target_rgb):
    """Mean CIEDE2000 between two RGB images, over pixels (batches).

    ``mean over pixels of ciede2000(Lab(pred), Lab(target))``; 0 for identical images; about 1 is the smallest
    difference a careful observer sees side by side (a rule of thumb, not a threshold).

    Args:
        pred_rgb, target_rgb: ``(H, W, 3)`` or ``(N, H, W, 3)`` float RGB in [0, 1].

    Returns:
        float, or ``(N,)`` for a batch.
    """
    pred, target = _rgb(pred_rgb, "pred_rgb"), _rgb(target_rgb, "target_rgb")
    _same_shape(pred, target, "pred_rgb", "target_rgb")
    return _per_image(lambda p, t: ciede2000(rgb_to_lab_np(p), rgb_to_lab_np(t)).mean(), pred, target)


# -------------------------------------------------------------------------------------------- colour

def colourfulness(rgb):
    """Colourfulness of Hasler & Süsstrunk (2003) (batches).

    On 0-255 values, the signed opponent channels ``rg = R - G`` and ``yb = (R + G)/2 - B``; over the pixels::

        M = sqrt(std(rg)**2 + std(yb)**2) + 0.3 sqrt(mean(rg)**2 + mean(yb)**2)

    (population standard deviations). 0 for any gray image; about 33 is "moderately", 59 "quite", 82 "highly"
    colourful on the paper's scale.

    Args:
        rgb: ``(H, W, 3)`` or ``(N, H, W, 3)`` float RGB in [0, 1].

    Returns:
        float >= 0, or ``(N,)`` for a batch.
    """
    rgb = _rgb(rgb, "rgb")

    def one(x):
        x = 255.0 * x
        rg = x[..., 0] - x[..., 1]
        yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
        return math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())

    return _per_image(one, rgb)


def histogram_intersection(pred_rgb, reference_rgb, bins=21, ab_max=110.0):
    """Histogram intersection similarity (HIS) of ab histograms, as Gray2ColorNet's paper evaluates (batches).

    ``HIS = sum over the bins * bins cells of min(p, q)``, where p and q are the hard ab histograms
    (:func:`colorlab.color.hard_ab_histogram`: nearest of ``bins`` centres per axis over ``+-ab_max``, values
    outside clipped to the edge bins, normalised to sum 1) of the output and of the reference. 1 for the same
    colour distribution, 0 when no bin is shared. The two images may differ in size.

    Args:
        pred_rgb: ``(H, W, 3)`` or ``(N, H, W, 3)``.
        reference_rgb: ``(H', W', 3)`` or ``(N, H', W', 3)`` (same N).

    Returns:
        float in [0, 1], or ``(N,)`` for a batch.
    """
    from colorlab.color import hard_ab_histogram  # imports Keras; only needed here

    pred, ref = _rgb(pred_rgb, "pred_rgb"), _rgb(reference_rgb, "reference_rgb")
    if pred.ndim != ref.ndim or (pred.ndim == 4 and pred.shape[0] != ref.shape[0]):
        raise ConfigError(f"pred_rgb and reference_rgb must both be single images or batches of the same size, "
                          f"got shapes {pred.shape} and {ref.shape}")

    def one(p, r):
        hp = hard_ab_histogram(rgb_to_lab_np(p)[None, ..., 1:], bins=bins, ab_max=ab_max)[0]
        hr = hard_ab_histogram(rgb_to_lab_np(r)[None, ..., 1:], bins=bins, ab_max=ab_max)[0]
        return np.minimum(hp, hr).sum()

    return _per_image(one, pred, ref)


def l_preservation(pred_rgb, input_gray_or_l, is_l=False):
    """Mean absolute L* difference between the output and the input's lightness (0 = L kept exactly).

    ``mean over pixels of |L*(pred) - L*(input)|``. A colorization should only add ab, so anything above rounding
    (about 0.01 for 8-bit images) means the method changed the lightness.

    Args:
        pred_rgb: ``(H, W, 3)`` float RGB in [0, 1].
        input_gray_or_l: the input: gray ``(H, W)`` or ``(H, W, 1)`` in [0, 1]; an RGB image ``(H, W, 3)``
            (its L* is used, e.g. the ground-truth colour image); or L* in [0, 100] with ``is_l=True``.
        is_l: the single-channel input is L* rather than a gray value.

    Returns:
        float >= 0, in L* units.
    """
    pred = _rgb(pred_rgb, "pred_rgb", batch=False)
    l_in = lightness(input_gray_or_l, is_l=is_l, name="input_gray_or_l")
    if l_in.shape != pred.shape[:2]:
        raise ConfigError(f"input_gray_or_l must be {pred.shape[:2]} like pred_rgb, got L* of shape {l_in.shape}")
    return float(np.mean(np.abs(rgb_to_lab_np(pred)[..., 0] - l_in)))


# --------------------------------------------------------------------------------------------- video

def _frames(frames, name="frames") -> np.ndarray:
    x = as_float64(frames, name)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ConfigError(f"{name} must have shape (T, H, W, 3), got shape {x.shape}")
    if x.shape[0] < 2:
        raise ConfigError(f"{name} needs at least 2 frames, got {x.shape[0]}")
    return x


def js_divergence(p, q, axis=-1) -> np.ndarray:
    """Jensen–Shannon divergence in bits (log base 2, so it lies in [0, 1]) between distributions on ``axis``.

    ``JS(p, q) = KL(p || m)/2 + KL(q || m)/2``, ``m = (p + q)/2``, with ``0 log 0 = 0``; p and q are normalised
    to sum 1 along ``axis`` first.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=axis, keepdims=True), 1e-300)
    m = 0.5 * (p + q)

    def kl(x):
        ratio = np.where(x > 0, x / np.where(m > 0, m, 1.0), 1.0)
        return np.sum(np.where(x > 0, x * np.log2(ratio), 0.0), axis=axis)

    return np.maximum(0.5 * kl(p) + 0.5 * kl(q), 0.0)


def cdc(frames, steps=(1, 2, 4)):
    """Colour distribution consistency of a video (lower = steadier colours; 0 for identical frames).

    For each frame t and channel c in R, G, B: ``h_c(t)`` = the 256-bin histogram of the channel's 8-bit values
    ``round(255 x)``, normalised to sum 1. For each step k in ``steps``::

        CDC_k = mean over t in [0, T-k) and the 3 channels of JS(h_c(t), h_c(t+k))

    (JS in bits, :func:`js_divergence`, so every term lies in [0, 1]), and ``CDC = mean of CDC_k`` over the steps
    k < T. The steps 1, 2, 4 follow the video-colorization literature's CDC; the base-2 logarithm is our choice
    (stated so numbers can be compared; multiply by ln 2 for nats).

    Args:
        frames: ``(T, H, W, 3)`` float RGB in [0, 1], T >= 2.
        steps: frame distances to compare.

    Returns:
        float >= 0.
    """
    x = _frames(frames)
    if not steps or any(int(k) < 1 for k in steps):
        raise ConfigError(f"steps must be positive frame distances, got {steps!r}")
    codes = np.clip(np.rint(x * 255.0), 0, 255).astype(np.int64)          # (T, H, W, 3)
    t_count = x.shape[0]
    hists = np.zeros((t_count, 3, 256))
    for t in range(t_count):
        for c in range(3):
            hists[t, c] = np.bincount(codes[t, ..., c].ravel(), minlength=256)
    hists /= hists.sum(axis=-1, keepdims=True)
    per_step = [js_divergence(hists[:-k], hists[k:]).mean() for k in map(int, steps) if k < t_count]
    return float(np.mean(per_step))


def warp(image, flow) -> np.ndarray:
    """Backward warping with bilinear interpolation: ``out(p) = image(p + flow(p))``.

    Args:
        image: ``(H, W, C)`` array.
        flow: ``(H, W, 2)`` displacements in pixels, ``(dx, dy)`` = (column, row) order, as OpenCV's flows.

    Returns:
        ``(H, W, C)`` float64; sample positions outside the image are clamped to the border.
    """
    image = np.asarray(image, dtype=np.float64)
    flow = np.asarray(flow, dtype=np.float64)
    h, w = image.shape[:2]
    if flow.shape != (h, w, 2):
        raise ConfigError(f"flow must have shape {(h, w, 2)} to warp an image of shape {image.shape}, "
                          f"got {flow.shape}")
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    x = np.clip(cols + flow[..., 0], 0, w - 1)
    y = np.clip(rows + flow[..., 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def farneback_flows(frames):
    """Forward and backward optical flows between consecutive frames (Farnebäck 2003, via OpenCV).

    The flow is computed on 8-bit gray versions of the frames (OpenCV's RGB -> gray weights), with the
    parameters of OpenCV's tutorial (pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5,
    poly_sigma 1.2) — our choice, a common default.

    Args:
        frames: ``(T, H, W, 3)`` float RGB in [0, 1].

    Returns:
        ``(forward, backward)``, each ``(T-1, H, W, 2)`` float32 in pixels ``(dx, dy)``: ``forward[t]`` maps frame
        t to t+1 (``frame_t(p) ~ frame_{t+1}(p + forward[t](p))``), ``backward[t]`` maps frame t+1 to t.

    Raises:
        ColorlabError: if OpenCV is not installed (``pip install "colorlab[video]"``).
    """
    x = _frames(frames)
    try:
        import cv2
    except ImportError:
        raise ColorlabError("optical flow needs OpenCV: install the video extra, pip install \"colorlab[video]\" "
                            "(or pass flows=(forward, backward) yourself)") from None
    gray = [cv2.cvtColor(np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in x]
    params = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    forward = [cv2.calcOpticalFlowFarneback(gray[t], gray[t + 1], None, **params) for t in range(len(x) - 1)]
    backward = [cv2.calcOpticalFlowFarneback(gray[t + 1], gray[t], None, **params) for t in range(len(x) - 1)]
    return np.stack(forward), np.stack(backward)


def warping_error(frames, flows=None):
    """Temporal warping error: how much the colours change along the motion (lower = steadier).

    For each pair (t, t+1): frame t is warped onto frame t+1 with the backward flow,
    ``W_t(p) = frame_t(p + b(p))`` (:func:`warp`), and compared where the flow is reliable::

        E_t = mean over non-occluded pixels p and the 3 channels of |frame_{t+1}(p) - W_t(p)|

    A pixel counts as occluded when the forward-backward check fails (Sundaram et al. 2010):
    ``|b(p) + f(p + b(p))|**2 > 0.01 (|b(p)|**2 + |f(p + b(p))|**2) + 0.5``. The result is the mean of E_t over
    the pairs (a pair whose pixels are all occluded is skipped), in [0, 1] RGB units.

    Args:
        frames: ``(T, H, W, 3)`` float RGB in [0, 1], T >= 2.
        flows: optional ``(forward, backward)``, each ``(T-1, H, W, 2)`` in pixels ``(dx, dy)``, as
            :func:`farneback_flows` returns; when omitted, they are estimated with OpenCV.

    Returns:
        float >= 0 (``nan`` if every pixel of every pair is occluded).

    Raises:
        ColorlabError: if ``flows`` is omitted and OpenCV is not installed.
    """
    x = _frames(frames)
    expected = (x.shape[0] - 1, *x.shape[1:3], 2)
    if flows is None:
        forward, backward = farneback_flows(x)
    else:
        try:
            forward, backward = flows
        except (TypeError, ValueError):
            raise ConfigError("flows must be a pair (forward, backward) of arrays (T-1, H, W, 2)") from None
        forward, backward = np.asarray(forward, np.float64), np.asarray(backward, np.float64)
        for name, flow in (("forward", forward), ("backward", backward)):
            if flow.shape != expected:
                raise ConfigError(f"flows: {name} must have shape {expected}, got {flow.shape}")
    errors = []
    for t in range(x.shape[0] - 1):
        b = backward[t]
        f_at = warp(forward[t], b)                       # forward flow sampled where the backward flow lands
        mismatch = np.sum((b + f_at) ** 2, axis=-1)
        valid = mismatch <= 0.01 * (np.sum(b ** 2, axis=-1) + np.sum(f_at ** 2, axis=-1)) + 0.5
        if not valid.any():
            continue
        diff = np.abs(x[t + 1] - warp(x[t], b))
        errors.append(diff[valid].mean())
    return float(np.mean(errors)) if errors else math.nan


# ---------------------------------------------------------------------------------------------- all

def evaluate(pred_rgb, target_rgb, reference_rgb=None) -> dict:
    """Every image metric at once, for one output against its ground truth (and its reference).

    Args:
        pred_rgb: the colorized output ``(H, W, 3)`` in [0, 1].
        target_rgb: the ground-truth colour image ``(H, W, 3)``; its L* is the input's lightness.
        reference_rgb: the colour reference ``(H', W', 3)``, if any.

    Returns:
        dict with ``psnr`` (dB), ``ssim``, ``ciede2000`` (mean), ``colourfulness`` (of the output),
        ``colourfulness_target`` (of the ground truth, for scale), ``l_preservation`` (mean |dL*| to the
        target) and, with a reference, ``his`` (histogram intersection with the reference); all Python floats.
    """
    pred = _rgb(pred_rgb, "pred_rgb", batch=False)
    target = _rgb(target_rgb, "target_rgb", batch=False)
    _same_shape(pred, target, "pred_rgb", "target_rgb")
    result = {
        "psnr": psnr(pred, target),
        "ssim": ssim(pred, target),
        "ciede2000": mean_ciede2000(pred, target),
        "colourfulness": colourfulness(pred),
        "colourfulness_target": colourfulness(target),
        "l_preservation": l_preservation(pred, target),
    }
    if reference_rgb is not None:
        result["his"] = histogram_intersection(pred, _rgb(reference_rgb, "reference_rgb", batch=False))
    return result
