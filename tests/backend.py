"""Gradients in tests on whichever Keras backend runs them (TensorFlow in the main job, JAX in the TensorFlow-free
one), through the package's own :func:`colorlab.step.value_and_grad`."""

import numpy as np
from keras import ops


def numpy(x) -> np.ndarray:
    """A backend tensor (or anything array-like) as a NumPy array."""
    return np.asarray(ops.convert_to_numpy(x))


def value_and_gradients(fn, *arrays):
    """``(float(fn(*arrays)), [d fn / d array, ...])`` for a scalar ``fn``, gradients as float32 NumPy arrays."""
    from colorlab.step import value_and_grad

    params = [ops.convert_to_tensor(np.asarray(a, dtype=np.float32)) for a in arrays]
    (value, _), grads = value_and_grad(lambda p: (fn(*p), None), params)
    return float(numpy(value)), [numpy(g) for g in grads]
