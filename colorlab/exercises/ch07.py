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

Build it, in ``keras.ops`` (functions checked by values and gradients against :mod:`colorlab.losses`; the
chapter's training runs then use them through ``train_briefly(..., loss_pieces=...)``):

* ``"histogram_loss"``: ``histogram_loss(pred_ab, reference_ab) -> scalar`` — the mean χ² between the soft
  21 x 21 ab histograms (Gaussian binning, σ = 5.5 Lab units) of ``(N, H, W, 2)`` and ``(N, h, w, 2)`` ab in
  model units (:func:`colorlab.losses.histogram_loss`).
* ``"generator_adversarial_loss"``: ``(fake_logits) -> scalar`` — the non-saturating ``mean(softplus(−f))``.
* ``"discriminator_loss"``: ``(real_logits, fake_logits) -> scalar`` — ``mean(softplus(−r)) + mean(softplus(f))``.

The reference solutions of the NumPy exercises are written independently of :mod:`colorlab.losses` (the tests
compare the two).
"""

import numpy as np

from colorlab import losses
from colorlab.exercises import BuildCase, BuildExercise, Exercise, Probe, make_checker

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


def _function_exercise(name, reference, probes):
    return BuildExercise(name, reference, [BuildCase(lambda function: function, probes)],
                         rtol=1e-4, atol=1e-5, grad_rtol=1e-3, grad_atol=1e-4)


def _loss_probes(rng):
    pred = rng.uniform(-0.9, 0.9, size=(2, 6, 5, 2)).astype("float32")
    reference = rng.uniform(-0.6, 0.6, size=(2, 4, 4, 2)).astype("float32")
    real = rng.normal(0.0, 2.0, size=(2, 3, 3, 1)).astype("float32")
    fake = rng.normal(0.0, 2.0, size=(2, 3, 3, 1)).astype("float32")
    histogram = [Probe("histogram_loss(pred_ab, reference_ab)", lambda f, a, b: f(a, b), (pred, reference), (0, 1),
                       ("pred_ab", "reference_ab")),
                 Probe("histogram_loss(pred_ab, pred_ab)", lambda f, a: f(a, a), (pred,), (0,), ("pred_ab",))]
    # Confident logits (|f| = 100): log(sigmoid(f)) underflows to log(0) in float32; softplus does not.
    confident = np.array([100.0, -100.0, 3.0, -3.0], "float32").reshape(1, 2, 2, 1)
    generator = [Probe("generator_adversarial_loss(fake_logits)", lambda f, x: f(x), (fake,), (0,), ("fake_logits",)),
                 Probe("generator_adversarial_loss(confident logits)", lambda f, x: f(x), (confident,), (0,),
                       ("fake_logits",))]
    discriminator = [Probe("discriminator_loss(real_logits, fake_logits)", lambda f, r, x: f(r, x), (real, fake),
                           (0, 1), ("real_logits", "fake_logits")),
                     Probe("discriminator_loss(confident logits)", lambda f, r, x: f(r, x), (confident, -confident),
                           (0, 1), ("real_logits", "fake_logits"))]
    return histogram, generator, discriminator


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
    histogram, generator, discriminator = _loss_probes(rng)
    return [
        Exercise("smooth_l1", smooth_l1, [(errors,), (random_errors, 0.2)], rtol=1e-6, atol=1e-9),
        Exercise("chi_square", chi_square, [(p_hand, q_hand), (p_random, q_random)], rtol=1e-4, atol=1e-6),
        Exercise("total_variation", total_variation, [(tv_hand,), (tv_random,)], rtol=1e-6, atol=1e-9),
        _function_exercise("histogram_loss", losses.histogram_loss, histogram),
        _function_exercise("generator_adversarial_loss", losses.generator_adversarial_loss, generator),
        _function_exercise("discriminator_loss", losses.discriminator_loss, discriminator),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch07")
