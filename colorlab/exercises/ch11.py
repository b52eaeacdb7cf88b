"""Exercises of chapter 11 (adapting to the reference), checked by :func:`check`.

In ``notebooks/11_adaptation.ipynb`` the student writes each function in NumPy and calls::

    from colorlab.exercises import ch11
    self_pair = ch11.check("self_pair", self_pair)

Exercises (name: what the student writes):

* ``"self_pair"``: ``self_pair(reference_lab, top, left, side, mirror) -> (side, side, 3)`` — one self-supervised
  training pair cut from the reference: the square crop ``reference_lab[top:top+side, left:left+side]``, mirrored
  left-right when ``mirror``. Its L channel is the pair's gray target and its ab the answer
  (:func:`colorlab.adapt.reference_pairs` draws ``top``, ``left``, ``side`` and ``mirror`` at random, then resizes
  the crop to the model's size).
* ``"match_score"``: ``match_score(correlation) -> float`` — how well a reference matches a target in the
  model's eyes: for each target position the best cosine among the reference positions, averaged over the target
  positions (:meth:`colorlab.inference.Colorizer.match`, the statistic ``min_match`` compares).

The reference solutions are plain NumPy; ``tests/test_exercises_ch11.py`` checks them against the package.
"""

import numpy as np

from colorlab.exercises import Exercise, make_checker

__all__ = ["self_pair", "match_score", "EXERCISES", "check"]


def self_pair(reference_lab, top, left, side, mirror):
    """One square crop of the reference, optionally mirrored left-right.

    Args:
        reference_lab: ``(h, w, 3)`` Lab (any units).
        top, left: the crop's first row and column.
        side: its side in pixels (``top + side <= h``, ``left + side <= w``).
        mirror: flip the crop left-right.

    Returns:
        float64 ``(side, side, 3)``.
    """
    crop = np.asarray(reference_lab, dtype=np.float64)[top:top + side, left:left + side]
    return crop[:, ::-1].copy() if mirror else crop.copy()


def match_score(correlation):
    """The mean over target positions of the best cosine among the reference positions.

    Args:
        correlation: ``(P, Q)`` cosines between ``P`` target positions and ``Q`` reference positions.

    Returns:
        float (a 0-d float64 array) in [-1, 1].
    """
    return np.asarray(np.max(np.asarray(correlation, dtype=np.float64), axis=-1).mean())


def _cases():
    rng = np.random.default_rng(11)
    reference = rng.uniform(-1.0, 1.0, size=(9, 12, 3))
    # Hand value: rows [[0.2, 0.9, -0.1], [0.5, 0.4, 0.3]] -> best 0.9 and 0.5 -> mean 0.7.
    small = np.array([[0.2, 0.9, -0.1], [0.5, 0.4, 0.3]])
    cosines = np.clip(rng.normal(0.3, 0.3, size=(16, 24)), -1.0, 1.0)
    return [
        Exercise("self_pair", self_pair, [(reference, 1, 2, 6, False), (reference, 3, 6, 6, True),
                                          (reference, 0, 0, 9, True)], rtol=0.0, atol=0.0),
        Exercise("match_score", match_score, [(small,), (cosines,), (-np.abs(cosines),)], rtol=1e-9, atol=1e-12),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch11")
