"""Non-learned baselines to show beside Gray2ColorNet: gray, global mean ab, and Welsh et al. (2002).

Every baseline has the signature ``baseline(target, reference) -> rgb`` (``gray`` ignores the reference):

* ``target``: the image to colour, gray ``(H, W)`` or ``(H, W, 1)`` in [0, 1] (the sRGB gray value g, i.e. the
  colour (g, g, g)), or RGB ``(H, W, 3)`` in [0, 1], whose colours are thrown away and only its L* is used;
* ``reference``: a colour photo ``(H', W', 3)`` in [0, 1], any size;
* the result: float32 RGB ``(H, W, 3)`` in [0, 1] at the target's size, whose CIE L* **is the target's L***.

Keeping L* exactly (ours, and what a colorization should do: it only adds ab) needs care where the new ab would
leave the sRGB gamut at that lightness: clipping RGB would change L*. :func:`colorlab.cie.lab_to_rgb_keep_l`
instead pulls the ab of such a pixel towards gray (same hue, less chroma) until the colour fits; gray (a = b = 0)
fits at every L*.

All of it is NumPy (float64 inside); Lab is CIELAB through :mod:`colorlab.cie`.
"""

from __future__ import annotations

import numpy as np

from colorlab.cie import as_float64, lab_to_rgb_keep_l, lightness, rgb_to_lab_np
from colorlab.errors import ConfigError

__all__ = ["gray", "global_mean_ab", "welsh", "local_std", "BASELINES"]

_CHUNK = 1 << 15   # target pixels per block of the (pixels x samples) distance matrix in welsh()


# --------------------------------------------------------------------------------------------- helpers

def _target_l(target) -> np.ndarray:
    """L* ``(H, W)`` of a gray ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)`` target."""
    x = as_float64(target, "target")
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3))):
        raise ConfigError(f"target must be gray (H, W) or (H, W, 1), or RGB (H, W, 3), in [0, 1]; "
                          f"got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(f"target is empty, shape {x.shape}")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ConfigError(f"target must lie in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]")
    return lightness(x, name="target")


def _reference_lab(reference) -> np.ndarray:
    x = as_float64(reference, "reference")
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ConfigError(f"reference must be an RGB image (H, W, 3) in [0, 1], got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ConfigError(f"reference is empty, shape {x.shape}")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ConfigError(f"reference must lie in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]")
    return rgb_to_lab_np(x)


def local_std(x, window=5) -> np.ndarray:
    """Standard deviation of ``x`` ``(H, W)`` over the ``window x window`` neighbourhood of each pixel.

    Population std, ``sqrt(mean(x**2) - mean(x)**2)`` over the window, with borders mirrored (half-sample
    symmetric), computed with summed-area tables, so the cost does not depend on ``window``.

    Returns:
        float64 ``(H, W)``, >= 0.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
        raise ConfigError(f"window must be an odd positive integer, got {window!r}")
    x = np.asarray(x, dtype=np.float64)
    r = window // 2
    padded = np.pad(x, r, mode="symmetric")

    def box_mean(v):
        s = np.zeros((v.shape[0] + 1, v.shape[1] + 1))
        s[1:, 1:] = v.cumsum(0).cumsum(1)
        h, w = x.shape
        total = s[window:window + h, window:window + w] - s[:h, window:window + w] \
            - s[window:window + h, :w] + s[:h, :w]
        return total / (window * window)

    mean = box_mean(padded)
    return np.sqrt(np.maximum(box_mean(padded * padded) - mean * mean, 0.0))


def _finish(L, ab) -> np.ndarray:
    return lab_to_rgb_keep_l(L, ab).astype(np.float32)


# ------------------------------------------------------------------------------------------ baselines

def gray(target, reference=None) -> np.ndarray:
    """The do-nothing baseline: the target's lightness as a gray RGB image (a = b = 0).

    Args:
        target: gray ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)`` in [0, 1].
        reference: ignored (accepted so every baseline has the same signature).

    Returns:
        float32 ``(H, W, 3)``; for a gray target exactly ``(g, g, g)``.
    """
    L = _target_l(target)
    x = np.asarray(target)
    if x.ndim == 2 or x.shape[-1] == 1:
        g = x.reshape(x.shape[:2]).astype(np.float32)
        return np.repeat(g[..., None], 3, axis=-1)
    return _finish(L, np.zeros(L.shape + (2,)))


def global_mean_ab(target, reference) -> np.ndarray:
    """One colour cast everywhere: the reference's mean ab on the target's L* (Reinhard et al. 2001, reduced).

    Reinhard et al. match each channel's mean and standard deviation of the target to the reference's (in their
    l-alpha-beta space). On a gray target the chroma channels are constant, so their standard deviation is 0 and
    there is nothing to scale: what is left of Reinhard's transfer is the mean. Exactly what we do (our reduction,
    in CIELAB): ``a = mean(a_ref)``, ``b = mean(b_ref)`` over all reference pixels, at every target pixel, and
    L* = the target's (Reinhard would also shift L; we keep it, as every colorization here does). Where that
    colour does not fit the sRGB gamut at a pixel's L*, its chroma is reduced (:func:`~colorlab.cie.lab_to_rgb_keep_l`).

    Args:
        target: gray ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)`` in [0, 1].
        reference: RGB ``(H', W', 3)`` in [0, 1].

    Returns:
        float32 ``(H, W, 3)`` in [0, 1].
    """
    L = _target_l(target)
    mean_ab = _reference_lab(reference)[..., 1:].reshape(-1, 2).mean(axis=0)
    return _finish(L, np.broadcast_to(mean_ab, L.shape + (2,)))


def _jittered_grid(height, width, samples, rng) -> tuple[np.ndarray, np.ndarray]:
    """One random pixel in each cell of a ``rows x cols`` grid (rows * cols ~ samples, cells ~ square)."""
    rows = int(np.clip(round(np.sqrt(samples * height / width)), 1, height))
    cols = int(np.clip(round(samples / rows), 1, width))
    row_edges = np.linspace(0, height, rows + 1).astype(np.int64)
    col_edges = np.linspace(0, width, cols + 1).astype(np.int64)
    r = rng.integers(row_edges[:-1][:, None], row_edges[1:][:, None], size=(rows, cols))
    c = rng.integers(col_edges[:-1][None, :], col_edges[1:][None, :], size=(rows, cols))
    return r.ravel(), c.ravel()


def welsh(target, reference, samples=200, window=5, seed=0) -> np.ndarray:
    """Welsh, Ashikhmin & Mueller (2002), "Transferring color to greyscale images", global matching version.

    The paper's steps, as we implement them:

    1. **Luminance remapping**: the reference's lightness is shifted and scaled to the target's mean and standard
       deviation, ``L_ref' = (L_ref - mu_ref) * sigma_tgt / sigma_ref + mu_tgt`` (sigma over all pixels), so the
       two are compared on the same scale.
    2. **Jittered sampling**: the reference is cut into a grid of about ``samples`` roughly square cells and one
       random pixel is taken in each (the paper uses about 200 samples).
    3. **Matching**: every pixel and every sample is described by its (remapped) lightness and the standard
       deviation of lightness in its ``window x window`` neighbourhood (5 x 5 in the paper); each target pixel
       takes the sample that minimises ``0.5 (L_t - L_s)**2 + 0.5 (sigma_t - sigma_s)**2``. The paper says the
       match uses "a weighted average" of the two with equal weights; the squared-difference form is our reading.
    4. **Transfer**: the pixel gets the sample's chroma; its own lightness is kept.

    Ours: the paper works in Ruderman's l-alpha-beta space and transfers alpha-beta; we work in CIELAB and transfer
    a*b* (the package's colour space; both separate lightness from chroma). Not implemented: the paper's second,
    user-guided mode with swatches. Out-of-gamut results get their chroma reduced
    (:func:`~colorlab.cie.lab_to_rgb_keep_l`). The search is a dense (pixels x samples) distance, computed in blocks
    of pixels (the samples are few, so no search tree is needed).

    Args:
        target: gray ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)`` in [0, 1].
        reference: RGB ``(H', W', 3)`` in [0, 1].
        samples: about how many reference pixels to sample (the grid has ``rows * cols`` ~ samples cells).
        window: odd neighbourhood size for the standard deviation.
        seed: seed of the jitter; the same seed gives the same output.

    Returns:
        float32 ``(H, W, 3)`` in [0, 1] whose L* is the target's.
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ConfigError(f"samples must be a positive integer, got {samples!r}")
    L_t = _target_l(target)
    lab_r = _reference_lab(reference)
    L_r = lab_r[..., 0]
    sigma_t, sigma_r = L_t.std(), L_r.std()
    scale = sigma_t / sigma_r if sigma_r > 0 else 1.0
    L_r = (L_r - L_r.mean()) * scale + L_t.mean()

    rng = np.random.default_rng(seed)
    rows, cols = _jittered_grid(*L_r.shape, samples, rng)
    std_r = local_std(L_r, window)
    feats_s = np.stack([L_r[rows, cols], std_r[rows, cols]], axis=-1)          # (S, 2)
    ab_s = lab_r[rows, cols, 1:]                                               # (S, 2)
    feats_t = np.stack([L_t, local_std(L_t, window)], axis=-1).reshape(-1, 2)  # (P, 2)

    # argmin_s 0.5 (L_t - L_s)**2 + 0.5 (sd_t - sd_s)**2 = argmin_s [L_s**2 + sd_s**2 - 2 L_t L_s - 2 sd_t sd_s]
    # (the equal weights factor out); float32 is plenty to rank distances of values in [0, 100].
    bias = (feats_s ** 2).sum(axis=1).astype(np.float32)                     # (S,)
    twice_l, twice_sd = (-2.0 * feats_s.T).astype(np.float32)               # (S,) each
    feats_t = feats_t.astype(np.float32)
    best = np.empty(feats_t.shape[0], dtype=np.int64)
    for start in range(0, feats_t.shape[0], _CHUNK):
        block = feats_t[start:start + _CHUNK]
        scores = block[:, :1] * twice_l
        scores += block[:, 1:] * twice_sd
        scores += bias
        best[start:start + _CHUNK] = np.argmin(scores, axis=1)
    ab = ab_s[best].reshape(L_t.shape + (2,))
    return _finish(L_t, ab)


#: The baselines by name, for loops in notebooks and evaluation scripts.
BASELINES = {"gray": gray, "global_mean_ab": global_mean_ab, "welsh": welsh}
