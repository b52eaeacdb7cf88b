"""Exercises of chapter 03 (the encoder and the correspondence), checked by :func:`check`.

In ``notebooks/03_encoder_correspondence.ipynb`` the student writes each function and calls::

    from colorlab.exercises import ch03
    softmax_temperature = ch03.check("softmax_temperature", softmax_temperature)

Exercises (name: what the student writes), all in NumPy, for one image pair (no batch axis):

* ``"cosine_correlation"``: ``cosine_correlation(target, reference) -> C`` — L2-normalise each position's feature
  vector, then take all dot products: ``(Lt, C), (Lr, C) -> (Lt, Lr)``.
* ``"softmax_temperature"``: ``softmax_temperature(correlation, tau) -> A`` — softmax over the last axis of
  ``correlation / tau``, computed stably (subtract each row's maximum first).
* ``"warp"``: ``warp(attention, values) -> warped`` — ``A @ V``: ``(Lt, Lr), (Lr, C) -> (Lt, C)``.

Build it, in Keras (a layer class, checked by values and gradients against the package's):

* ``"Correspondence"``: a subclass of :class:`colorlab.models.Correspondence` whose three methods the student
  writes in ``keras.ops``, for a batch: ``correlation(target_features, reference_features)``
  ``(N, Ht, Wt, C), (N, Hr, Wr, C) -> (N, Ht*Wt, Hr*Wr)``; ``attention(correlation, reference_mask=None)`` (softmax
  of ``correlation / self.temperature``; masked reference positions get exactly 0); ``warp(attention, values,
  target_grid)`` ``-> (N, Ht, Wt, Cv)``. The notebook then builds its model with it.
"""

import numpy as np

from colorlab.exercises import BuildCase, BuildExercise, Exercise, Probe, make_checker
from colorlab.models.correspondence import Correspondence

__all__ = ["cosine_correlation", "softmax_temperature", "warp", "EXERCISES", "check"]


def cosine_correlation(target, reference):
    """Cosine similarity of every target position with every reference position.

    ``C_ij = <t_i, r_j> / (|t_i| |r_j|)``: divide each row (a position's feature vector) by its L2 norm, then
    ``C = T_hat @ R_hat^T``. A tiny epsilon (1e-12) under the square root keeps an all-zero vector at zero
    instead of dividing by 0, as :func:`colorlab.models.l2_normalize` does.

    Args:
        target: ``(Lt, C)`` feature vectors of the target positions.
        reference: ``(Lr, C)`` feature vectors of the reference positions.

    Returns:
        float64 ``(Lt, Lr)``, values in [-1, 1].
    """
    def normalize(x):
        x = np.asarray(x, dtype=np.float64)
        return x / np.sqrt((x ** 2).sum(axis=-1, keepdims=True) + 1e-12)

    return normalize(target) @ normalize(reference).T


def softmax_temperature(correlation, tau):
    """``softmax(correlation / tau)`` over the last axis, rows summing to 1.

    Computed as ``exp((C - max C) / tau) / sum exp((C - max C) / tau)`` per row: the shift leaves the result
    unchanged and keeps ``exp`` from overflowing when ``tau`` is small (``exp(1 / 0.001)`` is infinite in float64).

    Args:
        correlation: ``(..., Lr)``.
        tau: temperature > 0.

    Returns:
        float64 ``(..., Lr)``.
    """
    logits = np.asarray(correlation, dtype=np.float64) / tau
    logits = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def warp(attention, values):
    """Carries reference values to the target: each target position gets the attention-weighted average.

    Args:
        attention: ``(Lt, Lr)``, rows summing to 1.
        values: ``(Lr, C)``, one value vector per reference position (e.g. its ab).

    Returns:
        float64 ``(Lt, C)`` = ``attention @ values``.
    """
    return np.asarray(attention, dtype=np.float64) @ np.asarray(values, dtype=np.float64)


def _correspondence_probes(rng):
    """Calls of the three methods on a batch of 2, target grid 3 x 4, reference grid 5 x 2."""
    t = rng.normal(size=(2, 3, 4, 6)).astype("float32")
    r = rng.normal(size=(2, 5, 2, 6)).astype("float32")
    cosines = np.tanh(rng.normal(size=(2, 12, 10))).astype("float32")
    mask = (rng.uniform(size=(2, 5, 2)) > 0.3).astype("float32")
    mask[:, 0, 0] = 1.0                                  # every reference keeps a real position
    attention = rng.dirichlet(np.ones(10), size=(2, 12)).astype("float32")
    values = rng.normal(size=(2, 5, 2, 3)).astype("float32")
    return [
        Probe("correlation(target_features, reference_features)", lambda layer, a, b: layer.correlation(a, b),
              (t, r), (0, 1), ("target_features", "reference_features")),
        Probe("attention(correlation)", lambda layer, c: layer.attention(c), (cosines,), (0,), ("correlation",)),
        Probe("attention(correlation, reference_mask)", lambda layer, c, m: layer.attention(c, m),
              (cosines, mask), (0,), ("correlation", "reference_mask")),
        Probe("warp(attention, values, (3, 4))", lambda layer, a, v: layer.warp(a, v, (3, 4)),
              (attention, values), (0, 1), ("attention", "values")),
    ]


def _cases():
    rng = np.random.default_rng(3)
    # Hand-checkable: orthogonal and opposite vectors, a scaled copy (cosine 1), a zero vector (cosine 0).
    hand_t = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    hand_r = np.array([[2.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.6, 0.8, 0.0]])
    feats_t, feats_r = rng.normal(size=(6, 5)), rng.normal(size=(9, 5))
    cosines = np.tanh(rng.normal(size=(4, 7)))
    near_one = 1.0 - 0.002 * rng.uniform(size=(3, 6))     # tau = 0.001: exp(1000) overflows without the shift
    attention = softmax_temperature(rng.normal(size=(5, 8)), 0.5)
    one_hot = np.eye(4)[[2, 0, 3]]
    return [
        Exercise("cosine_correlation", cosine_correlation, [(hand_t, hand_r), (feats_t, feats_r)]),
        Exercise("softmax_temperature", softmax_temperature,
                 [(cosines, 1.0), (cosines, 0.01), (near_one, 0.001), (np.array([0.9, 0.8, 0.5]), 0.1)]),
        Exercise("warp", warp, [(one_hot, rng.normal(size=(4, 2))), (attention, rng.normal(size=(8, 3)))]),
        # Two temperatures, so a softmax that ignores self.temperature fails.
        BuildExercise("Correspondence", Correspondence,
                      [BuildCase(lambda cls: cls(0.5), _correspondence_probes(rng)),
                       BuildCase(lambda cls: cls(0.1), _correspondence_probes(rng))]),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch03")
