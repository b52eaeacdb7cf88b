"""Exercises of chapter 04 (GCFN, the gated colour fusion), checked by :func:`check`.

In ``notebooks/04_gcfn.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch04
    gated_fusion = ch04.check("gated_fusion", gated_fusion)

Exercises (name: what the student writes), in NumPy:

* ``"entropy"``: ``entropy(attention) -> H`` — the normalised entropy of each attention row,
  ``-sum_j A_ij log A_ij / log Lr`` with ``0 log 0 = 0``: 0 for a one-hot row, 1 for a uniform one.
* ``"gated_fusion"``: ``gated_fusion(warped, global_, omega) -> fused`` —
  ``warped * omega + global_ * (1 - omega)``, with ``warped`` ``(..., C)``, ``global_`` ``(C,)`` (the same
  vector for every position) and ``omega`` ``(...)`` (one gate value per position).

Build it, in Keras (a layer class, checked by values and gradients against the package's):

* ``"GatedFusion"``: a ``keras.layers.Layer`` whose ``call(warped, global_vector, omega)`` fuses one scale of a
  batch — ``warped`` ``(N, h, w, C)``, ``global_vector`` ``(N, C)``, ``omega`` ``(N, h, w, 1)`` — as
  :class:`colorlab.models.GatedFusion` does. The notebook then builds its model with it.
"""

import numpy as np

from colorlab.exercises import BuildCase, BuildExercise, Exercise, Probe, make_checker
from colorlab.models.gcfn import GatedFusion

__all__ = ["entropy", "gated_fusion", "EXERCISES", "check"]


def entropy(attention):
    """Normalised entropy of each row: ``H_i = -sum_j A_ij log A_ij / log(Lr)``, in [0, 1].

    Zero entries contribute 0 (the limit of ``a log a`` as ``a -> 0``), so a one-hot row gives exactly 0 — take
    care not to compute ``0 * log 0 = 0 * -inf = nan``.

    Args:
        attention: ``(..., Lr)``, rows summing to 1, ``Lr >= 2``.

    Returns:
        float64 ``(...)``.
    """
    attention = np.asarray(attention, dtype=np.float64)
    safe = np.where(attention > 0, attention, 1.0)
    return -(attention * np.log(safe)).sum(axis=-1) / np.log(attention.shape[-1])


def gated_fusion(warped, global_, omega):
    """``fused = warped * omega + global_ * (1 - omega)``, the gate broadcast over channels.

    Args:
        warped: ``(..., C)`` warped colour features, one vector per target position.
        global_: ``(C,)`` the global colour feature (the same for every position).
        omega: ``(...)`` the gate per position, in [0, 1].

    Returns:
        float64 ``(..., C)``.
    """
    omega = np.asarray(omega, dtype=np.float64)[..., None]
    return np.asarray(warped, np.float64) * omega + np.asarray(global_, np.float64) * (1.0 - omega)


def _fusion_probe(shape, rng):
    n, h, w, c = shape
    inputs = (rng.normal(size=shape).astype("float32"), rng.normal(size=(n, c)).astype("float32"),
              rng.uniform(size=(n, h, w, 1)).astype("float32"))
    return Probe(f"call(warped {shape}, global_vector {(n, c)}, omega {(n, h, w, 1)})",
                 lambda layer, warped, global_vector, omega: layer(warped, global_vector, omega), inputs, (0, 1, 2),
                 ("warped", "global_vector", "omega"))


def _cases():
    rng = np.random.default_rng(4)
    hand = np.array([[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])   # 0, 1, 0.5
    random_rows = rng.dirichlet(np.ones(9), size=(2, 3))
    warped = rng.normal(size=(3, 4, 5))
    return [
        Exercise("entropy", entropy, [(hand,), (random_rows,)]),
        Exercise("gated_fusion", gated_fusion,
                 [(np.array([[2.0, 4.0], [1.0, -1.0]]), np.array([0.0, 10.0]), np.array([1.0, 0.25])),
                  (warped, rng.normal(size=5), rng.uniform(size=(3, 4)))]),
        BuildExercise("GatedFusion", GatedFusion,
                      [BuildCase(lambda cls: cls(), [_fusion_probe((2, 3, 4, 5), rng),
                                                     _fusion_probe((1, 2, 2, 3), rng)])]),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch04")
