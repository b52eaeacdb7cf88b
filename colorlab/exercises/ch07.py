"""Exercises of chapter 07 (the five losses), checked by :func:`check`.

In ``notebooks/07_losses.ipynb`` the student writes each function in NumPy and calls::

    from colorlab.exercises import ch07
    smooth_l1 = ch07.check("smooth_l1", smooth_l1)

Exercises (name: what the student writes):

* ``"smooth_l1"``: ``smooth_l1(x, delta=0.05) -> array like x`` — the smooth-L1 penalty of each error,
  ``½ x²/δ`` if ``|x| < δ`` else ``|x| − ½ δ`` (the per-element ℓ of :func:`colorlab.losses.smooth_l1`, which
  then takes the mean).
* ``"chi_square"``: ``chi_square(p, q, eps=1e-6) -> array (...)`` — ``½ Σ_k (p_k − q_k)² / (p_k + q_k + ε)``
  over the last axis (:func:`colorlab.losses.chi_square_distance`).
* ``"total_variation"``: ``total_variation(x) -> float`` — the mean absolute difference between vertical and
  horizontal neighbours of an ``(N, H, W, C)`` array, every pair counted once
  (:func:`colorlab.losses.total_variation`).

The reference solutions are plain NumPy, written independently of :mod:`colorlab.losses` (the tests compare the
two), so importing this module stays light.
"""

import numpy as np

from colorlab.exercises import Exercise, make_checker

__all__ = ["smooth_l1", "chi_square", "total_variation", "EXERCISES", "check"]


def smooth_l1(x, delta=0.05):
    """Smooth-L1 penalty of each error: quadratic below δ, linear above, meeting with equal value and slope.

    ``ℓ(x) = ½ x² / δ`` if ``|x| < δ``, else ``|x| − ½ δ``. At ``|x| = δ`` both branches give ``½ δ`` with
    slope ±1.

    Args:
        x: array of errors (prediction − target), any shape.
        delta: δ > 0, the switch point.

    Returns:
        float64 array, same shape as ``x``.
    """
    x = np.abs(np.asarray(x, dtype=np.float64))
    return np.where(x < delta, 0.5 * x ** 2 / delta, x - 0.5 * delta)


def chi_square(p, q, eps=1e-6):
    """Symmetric χ² distance between histograms along the last axis (with the ½: values in [0, 1]).

    ``χ²(p, q) = ½ Σ_k (p_k − q_k)² / (p_k + q_k + ε)``.

    Args:
        p, q: arrays (..., K) of the same shape, rows summing to 1.
        eps: ε > 0, keeps empty bins at 0 instead of 0/0.

    Returns:
        float64 array (...).
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    return 0.5 * np.sum((p - q) ** 2 / (p + q + eps), axis=-1)


def total_variation(x):
    """Anisotropic total variation: mean |difference| over all vertical and horizontal neighbour pairs.

    ``TV = (Σ |x[n,i+1,j,c] − x[n,i,j,c]| + Σ |x[n,i,j+1,c] − x[n,i,j,c]|) / (N·C·((H−1)·W + H·(W−1)))``.

    Args:
        x: array (N, H, W, C), H·W ≥ 2.

    Returns:
        float (a 0-d float64 array).
    """
    x = np.asarray(x, dtype=np.float64)
    n, h, w, c = x.shape
    vertical = np.abs(np.diff(x, axis=1)).sum()
    horizontal = np.abs(np.diff(x, axis=2)).sum()
    return np.asarray((vertical + horizontal) / (n * c * ((h - 1) * w + h * (w - 1))))


def _cases():
    rng = np.random.default_rng(7)
    # Hand values (δ = 0.05): ℓ(0) = 0, ℓ(0.02) = 0.004, ℓ(−0.05) = 0.025, ℓ(0.1) = 0.075, ℓ(−0.3) = 0.275.
    errors = np.array([0.0, 0.02, -0.05, 0.1, -0.3])
    random_errors = rng.normal(0.0, 0.2, size=(3, 4, 2))
    # Hand value: p = (½, ½, 0, 0), q = (¼, ¼, ½, 0) → ½ (1/12 + 1/12 + ½) = 1/3 (up to ε).
    p_hand = np.array([[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    q_hand = np.array([[0.25, 0.25, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0]])
    p_random = rng.uniform(0.0, 1.0, size=(3, 441)) ** 4
    q_random = rng.uniform(0.0, 1.0, size=(3, 441)) ** 4
    p_random /= p_random.sum(-1, keepdims=True)
    q_random /= q_random.sum(-1, keepdims=True)
    # Hand value: one 2×2 channel [[0, 1], [0, 1]]: vertical jumps 0, 0; horizontal 1, 1 → 2 / 4 pairs = 0.5.
    tv_hand = np.array([[0.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 2, 1)
    tv_random = rng.normal(0.0, 0.3, size=(2, 5, 4, 2))
    return [
        Exercise("smooth_l1", smooth_l1, [(errors,), (random_errors, 0.2)], rtol=1e-6, atol=1e-9),
        Exercise("chi_square", chi_square, [(p_hand, q_hand), (p_random, q_random)], rtol=1e-4, atol=1e-6),
        Exercise("total_variation", total_variation, [(tv_hand,), (tv_random,)], rtol=1e-6, atol=1e-9),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch07")
