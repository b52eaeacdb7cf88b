"""Exercises of chapter 01 (the Lab colour space), checked by :func:`check`.

In ``notebooks/01_lab_color_space.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch01
    chroma_hue = ch01.check("chroma_hue", chroma_hue)

Exercises (name: what the student writes):

* ``"chroma_hue"``: ``chroma_hue(ab) -> (chroma, hue_degrees)`` — polar coordinates of the ab plane.
* ``"ab_to_bin"``: ``ab_to_bin(ab, bins=21, ab_max=110.0) -> int index`` — which of the 21×21 histogram bins
  an ab value falls in (nearest bin centre, a-major order, the convention of
  :func:`colorlab.color.hard_ab_histogram`).
* ``"make_gray"``: ``make_gray(rgb) -> rgb`` — the gray version of a photo: keep L, set a = b = 0.

The reference solutions below are what the checker falls back to; they are NumPy except ``make_gray``, which
uses :mod:`colorlab.color` (imported on first call, so importing this module stays light).
"""

import numpy as np

from colorlab.exercises import Exercise, make_checker

__all__ = ["chroma_hue", "ab_to_bin", "make_gray", "EXERCISES", "check"]


def chroma_hue(ab):
    """Chroma and hue angle of ab values: the ab plane in polar coordinates.

    Chroma ``C = sqrt(a² + b²)`` is how far a colour is from gray (the distance from the ab origin); the hue
    angle ``h = atan2(b, a)``, in degrees in [0, 360), says which colour it is (0° points to +a, reddish;
    90° to +b, yellowish; 180° to −a, greenish; 270° to −b, bluish).

    Args:
        ab: array (..., 2) of a and b in Lab units.

    Returns:
        ``(chroma, hue)``: two float arrays of shape (...); hue in degrees in [0, 360) (0 at a = b = 0).
    """
    ab = np.asarray(ab, dtype=np.float64)
    a, b = ab[..., 0], ab[..., 1]
    chroma = np.sqrt(a ** 2 + b ** 2)
    hue = np.mod(np.degrees(np.arctan2(b, a)), 360.0)
    return chroma, hue


def ab_to_bin(ab, bins=21, ab_max=110.0):
    """Index of the ab histogram bin each ab value falls in (nearest bin centre, a-major order).

    Bin centres lie at ``linspace(-ab_max, ab_max, bins)`` on each axis, so they are ``w = 2·ab_max/(bins−1)``
    apart (11 Lab units for the defaults). Along one axis the bin is ``i = round((x + ab_max) / w)`` clipped to
    ``[0, bins−1]`` (values outside ±ab_max go to the border bin); the flat index is ``i_a · bins + i_b``.

    Args:
        ab: array (..., 2) of a and b in Lab units.
        bins: bins per axis (21 → 441 bins in all).
        ab_max: centre of the last bin; the histogram covers about [−ab_max − w/2, ab_max + w/2].

    Returns:
        int64 array (...) of flat bin indices in ``[0, bins²)``.
    """
    ab = np.asarray(ab, dtype=np.float64)
    width = 2.0 * ab_max / (bins - 1)
    index = np.clip(np.floor((ab + ab_max) / width + 0.5), 0, bins - 1).astype(np.int64)
    return index[..., 0] * bins + index[..., 1]


def make_gray(rgb):
    """Gray version of an sRGB image: convert to Lab, set a = b = 0, convert back.

    Keeps every pixel's lightness L exactly and removes its colour; the result has R = G = B (up to float
    round-off), because a = b = 0 is the D65 white point's neutral axis.

    Args:
        rgb: float array (H, W, 3) in [0, 1].

    Returns:
        float32 NumPy array (H, W, 3) in [0, 1].
    """
    import keras

    from colorlab import color

    lab = keras.ops.convert_to_numpy(color.rgb_to_lab(np.asarray(rgb, dtype=np.float32))).copy()
    lab[..., 1:] = 0.0
    return keras.ops.convert_to_numpy(color.lab_to_rgb(lab)).astype(np.float32)


def _cases():
    rng = np.random.default_rng(1)
    hand_ab = np.array([[0.0, 0.0], [30.0, 40.0], [-20.0, 0.0], [0.0, -50.0], [-60.0, 80.0], [12.5, -7.5]])
    random_ab = rng.uniform(-110.0, 110.0, size=(4, 5, 2))
    # Hand-checked bins (defaults): (0,0) → 10·21+10 = 220; (110,110) → 440; (−110,110) → 20;
    # (300,−300) clips to (20, 0) → 420; (5.4,−5.6) → (round(10.49), round(9.49)) = (10, 9) → 219.
    bin_ab = np.array([[0.0, 0.0], [110.0, 110.0], [-110.0, 110.0], [300.0, -300.0], [5.4, -5.6]])
    pixels = rng.uniform(0.0, 1.0, size=(3, 4, 3)).astype(np.float32)
    primaries = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 1, 1], [0, 0, 0], [0.5, 0.5, 0.5]]],
                         dtype=np.float32)
    return [
        Exercise("chroma_hue", chroma_hue, [(hand_ab,), (random_ab,)]),
        Exercise("ab_to_bin", ab_to_bin, [(bin_ab,), (random_ab,), (random_ab, 5, 100.0)], rtol=0.0, atol=0.0),
        # Looser: a student may convert with another correct library (e.g. scikit-image), ~1e-4 apart.
        Exercise("make_gray", make_gray, [(primaries,), (pixels,)], rtol=0.0, atol=2e-3),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch01")
