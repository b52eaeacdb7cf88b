"""Exercises of chapter 09 (evaluation), checked by :func:`check`.

In ``notebooks/09_evaluation.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch09
    psnr = ch09.check("psnr", psnr)

Exercises (name: what the student writes):

* ``"psnr"``: ``psnr(pred, target) -> float`` — peak signal-to-noise ratio of two RGB images in [0, 1], in dB.
* ``"colourfulness"``: ``colourfulness(rgb) -> float`` — Hasler & Süsstrunk's (2003) colourfulness.

The reference solutions are plain NumPy and agree with :func:`colorlab.metrics.psnr` and
:func:`colorlab.metrics.colourfulness` (tested in ``tests/test_exercises.py``).
"""

import numpy as np

from colorlab.exercises import Exercise, make_checker

__all__ = ["psnr", "colourfulness", "EXERCISES", "check"]


def psnr(pred, target):
    """Peak signal-to-noise ratio in dB, for images in [0, 1] (peak value 1).

    ``MSE = mean over all pixels and the 3 channels of (pred - target)²``, ``PSNR = 10 · log10(1 / MSE)``
    (``inf`` for identical images).

    Args:
        pred, target: float arrays (H, W, 3) in [0, 1], the same shape.

    Returns:
        float (dB).
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mse = np.mean((pred - target) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def colourfulness(rgb):
    """Colourfulness of Hasler & Süsstrunk (2003).

    On 0–255 values: ``rg = R − G``, ``yb = (R + G)/2 − B`` per pixel; then
    ``M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²)`` with the population standard deviations σ and the
    means μ over the pixels. 0 for any gray image.

    Args:
        rgb: float array (H, W, 3) in [0, 1].

    Returns:
        float ≥ 0.
    """
    x = 255.0 * np.asarray(rgb, dtype=np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _cases():
    rng = np.random.default_rng(9)
    a = rng.uniform(0.0, 1.0, size=(6, 5, 3))
    b = np.clip(a + rng.normal(0.0, 0.05, size=a.shape), 0.0, 1.0)
    gray = np.repeat(rng.uniform(0.0, 1.0, size=(4, 4, 1)), 3, axis=-1)
    flat = np.zeros((2, 2, 3))
    half = np.full((2, 2, 3), 0.5)
    two = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    return [
        # flat vs half: MSE = 0.25 -> 10 log10(4) = 6.0206 dB (hand value)
        Exercise("psnr", psnr, [(flat, half), (b, a), (a[:4, :4], gray)], rtol=1e-6, atol=1e-6),
        Exercise("colourfulness", colourfulness, [(two,), (a,), (gray,)], rtol=1e-6, atol=1e-6),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch09")
