"""Exercises of chapter 02 (data and target/reference pairs), checked by :func:`check`.

In ``notebooks/02_data_and_pairs.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch02
    count_other_pairs = ch02.check("count_other_pairs", count_other_pairs)

Exercises (name: what the student writes), both plain Python/NumPy arithmetic:

* ``"count_other_pairs"``: ``count_other_pairs(labels, mode_ratio) -> int`` — how many targets
  :func:`colorlab.data.make_pairs` gives an ``"other"`` reference: ``round(mode_ratio * n)``, but at most the
  number of targets whose class has another image.
* ``"crop_box"``: ``crop_box(height, width, size) -> (new_h, new_w, top, left)`` — the arithmetic of
  :func:`colorlab.data.resize_and_crop`: scale the shorter side to ``size``, then cut the centre ``size x size``
  square.
"""

import numpy as np

from colorlab.exercises import Exercise, make_checker

__all__ = ["count_other_pairs", "crop_box", "EXERCISES", "check"]


def count_other_pairs(labels, mode_ratio):
    """How many of ``len(labels)`` targets get an ``"other"`` pair in :func:`colorlab.data.make_pairs`.

    ``make_pairs`` wants exactly ``round(mode_ratio * n)`` pairs of mode ``"other"`` (a different photo of the
    target's class as reference). Only a target whose class holds at least two images can have one, so the count
    is capped by the number of such "eligible" targets:

        n_other = min(round(mode_ratio * n), #{i : class of i has >= 2 images})

    ``round`` is Python's (ties go to the even integer: ``round(2.5) == 2``), as in ``make_pairs``.

    Args:
        labels: sequence of n int class labels, one per target.
        mode_ratio: fraction of ``"other"`` pairs asked for, in [0, 1].

    Returns:
        int: the number of ``"other"`` pairs; the other ``n - n_other`` targets get ``"same"`` pairs.
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    eligible = int((counts[inverse] >= 2).sum())
    return min(int(round(float(mode_ratio) * labels.size)), eligible)


def crop_box(height, width, size):
    """Where :func:`colorlab.data.resize_and_crop` cuts: the resized image's size and the crop's top-left corner.

    The shorter side is scaled to ``size`` (aspect ratio kept), then the centre ``size x size`` square is kept:

        s = size / min(H, W),  H' = max(size, round(H s)),  W' = max(size, round(W s)),
        top = (H' - size) // 2,  left = (W' - size) // 2

    (``max`` guards against a rounding just below ``size``; ``//`` puts the extra pixel of an odd margin at the
    bottom/right.)

    Args:
        height, width: the photo's size H, W in pixels.
        size: the working side S in pixels.

    Returns:
        int64 array ``[H', W', top, left]``: the crop is rows ``top .. top+S-1`` and columns
        ``left .. left+S-1`` of the resized ``(H', W')`` image.
    """
    scale = size / min(height, width)
    new_h = max(size, round(height * scale))
    new_w = max(size, round(width * scale))
    return np.array([new_h, new_w, (new_h - size) // 2, (new_w - size) // 2], dtype=np.int64)


def _cases():
    # Hand-checked counts: [0,0,1,1,1,2] at 0.5 -> round(3) = 3 (5 eligible); at 1.0 -> min(6, 5) = 5 (label 2 is
    # alone); [0,1,2,3] -> 0 eligible -> 0; five targets at 0.5 -> round(2.5) = 2 (ties to even).
    rng = np.random.default_rng(2)
    random_labels = rng.integers(0, 6, size=40)
    return [
        Exercise("count_other_pairs", count_other_pairs,
                 [([0, 0, 1, 1, 1, 2], 0.5), ([0, 0, 1, 1, 1, 2], 1.0), ([0, 1, 2, 3], 0.75),
                  ([0, 0, 0, 1, 1], 0.5), ([7], 0.0), (random_labels, 0.3), (random_labels, 0.8)],
                 rtol=0.0, atol=0.0),
        # Hand-checked boxes: (300, 200, 64) -> s = 0.32, H' = 96, top = 16; (256, 256, 128) -> no crop;
        # (375, 500, 128) -> W' = round(170.67) = 171, left = 21 (odd margin: 21 left, 22 right).
        Exercise("crop_box", crop_box,
                 [(300, 200, 64), (256, 256, 128), (375, 500, 128), (512, 341, 32), (100, 1000, 64)],
                 rtol=0.0, atol=0.0),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch02")
