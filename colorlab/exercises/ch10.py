"""Exercises of chapter 10 (video), checked by :func:`check`.

In ``notebooks/10_video.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch10
    confidence = ch10.check("confidence", confidence)

Exercises (name: what the student writes):

* ``"confidence"``: ``confidence(l_now, l_warp, inside, sigma) -> (h, w)`` — the lightness-consistency confidence
  of a warped previous frame, ``c = exp(-(L_t - L_warp)**2 / (2 sigma**2))``, and 0 where the flow points outside
  the previous frame.
* ``"blend"``: ``blend(ab_warp, ab_model, confidence, weight, cut_threshold) -> (h, w, 2)`` — the recursive blend
  ``ab_t = w c ab_warp + (1 - w c) ab_model``, or the model's colours alone when the mean confidence is below
  ``cut_threshold`` (a scene cut).

These are steps 3 to 5 of :class:`colorlab.video.TemporalPropagation` (see the module docstring of
:mod:`colorlab.video`); the reference solutions are plain NumPy and agree with it (tested in
``tests/test_exercises_ch10.py``).
"""

import numpy as np

from colorlab.exercises import Exercise, make_checker

__all__ = ["confidence", "blend", "EXERCISES", "check"]


def confidence(l_now, l_warp, inside, sigma):
    """Per-pixel confidence of the previous frame warped onto the current one.

    ``c = exp(-(L_t - L_warp)**2 / (2 sigma**2))`` where the flow lands inside the previous frame, 0 elsewhere.

    Args:
        l_now: ``(h, w)`` the current frame's L* in [0, 100].
        l_warp: ``(h, w)`` the previous frame's L* warped onto the current frame along the flow.
        inside: ``(h, w)`` bool, False where the flow points outside the previous frame.
        sigma: the spread of the lightness check in L* units (> 0).

    Returns:
        float64 ``(h, w)`` in [0, 1].
    """
    l_now = np.asarray(l_now, dtype=np.float64)
    l_warp = np.asarray(l_warp, dtype=np.float64)
    return np.exp(-((l_now - l_warp) ** 2) / (2.0 * float(sigma) ** 2)) * np.asarray(inside, dtype=bool)


def blend(ab_warp, ab_model, confidence, weight, cut_threshold):
    """The propagated colours of one frame.

    If ``mean(confidence) < cut_threshold`` the frame starts a new shot and takes ``ab_model``; otherwise
    ``ab = w c ab_warp + (1 - w c) ab_model`` per pixel, with ``w = weight``.

    Args:
        ab_warp: ``(h, w, 2)`` the previous *output* colours warped onto the current frame.
        ab_model: ``(h, w, 2)`` the model's colours for the current frame.
        confidence: ``(h, w)`` from :func:`confidence`.
        weight: ``w`` in [0, 1).
        cut_threshold: the scene-cut threshold on the mean confidence.

    Returns:
        float64 ``(h, w, 2)``.
    """
    ab_warp = np.asarray(ab_warp, dtype=np.float64)
    ab_model = np.asarray(ab_model, dtype=np.float64)
    c = np.asarray(confidence, dtype=np.float64)
    if c.mean() < cut_threshold:
        return ab_model.copy()
    alpha = float(weight) * c[..., None]
    return alpha * ab_warp + (1.0 - alpha) * ab_model


def _cases():
    rng = np.random.default_rng(10)
    h, w = 6, 7
    l_now = rng.uniform(0.0, 100.0, size=(h, w))
    l_warp = l_now + rng.normal(0.0, 5.0, size=(h, w))          # mostly close, some pixels far off
    inside = np.ones((h, w), dtype=bool)
    inside[:, -2:] = False                                      # new content entering at the right edge
    flat = np.full((3, 4), 50.0)
    ab_warp = rng.uniform(-60.0, 60.0, size=(h, w, 2))
    ab_model = rng.uniform(-60.0, 60.0, size=(h, w, 2))
    high = np.clip(rng.uniform(0.6, 1.0, size=(h, w)), 0, 1)     # mean ~0.8: propagate
    low = rng.uniform(0.0, 0.3, size=(h, w))                    # mean ~0.15: a scene cut
    return [
        # flat + sigma vs flat: c = exp(-1/2) = 0.60653 everywhere (hand value)
        Exercise("confidence", confidence, [(l_now, l_warp, inside, 4.0), (flat + 4.0, flat, np.ones((3, 4), bool),
                                                                            4.0), (l_now, l_warp, inside, 2.0)],
                 rtol=1e-5, atol=1e-6),
        Exercise("blend", blend, [(ab_warp, ab_model, high, 0.85, 0.35), (ab_warp, ab_model, low, 0.85, 0.35),
                                  (ab_warp, ab_model, high, 0.5, 0.35)], rtol=1e-5, atol=1e-4),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch10")
