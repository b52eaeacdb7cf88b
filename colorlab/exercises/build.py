"""Checking a student's Keras layer (or ``keras.ops`` function) against the package's: values and gradients.

A build-it exercise (:class:`colorlab.exercises.BuildExercise`) gives the student a layer to write in
``keras.ops`` — the gated fusion, one decoder stage, ... — or a function such as a loss, and checks what they
wrote (a function exercise skips the weights):

1. Both classes are constructed with the same arguments (:attr:`BuildCase.build`). If the layer has weights, the
   student's must have the same shapes in the same order; the package's values are copied into it, so both compute
   with identical weights.
2. Every :class:`Probe` calls a method of both layers on the same random inputs. The outputs must agree within the
   exercise's ``rtol``/``atol`` (float32 arithmetic in another order differs by about 1e-6).
3. The gradients must agree too: of ``sum(output * C)``, for a fixed random ``C`` of the output's shape, with
   respect to the probe's differentiable inputs and the layer's trainable weights. A layer that computes the right
   values with an operation that blocks or bends the gradient (a cast to int, ``stop_gradient``, a NumPy round
   trip) fails here, where training would quietly fail later.

Gradients are computed with the backend's own machinery (``tf.GradientTape`` on TensorFlow, ``jax.grad`` on JAX);
the weights are swapped in with ``keras.StatelessScope``, so the same code differentiates any method of any layer.
On other backends only the values are checked, and the message says so.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

import keras
from keras import ops

__all__ = ["run_build_check", "probe_outputs"]


def _flatten(result, path=""):
    """A probe's result as a list of ``(name, tensor)``: a tensor, or nested named tuples, tuples, lists and dicts
    of tensors (dicts in the order of their sorted keys; None left out). Names read like ``discriminator[3]``."""
    if isinstance(result, dict):
        return [item for key in sorted(result) for item in _flatten(result[key], f"{path}[{key!r}]")]
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return [item for field, value in zip(result._fields, result)
                for item in _flatten(value, f"{path}.{field}" if path else field)]
    if isinstance(result, (tuple, list)):
        return [item for index, value in enumerate(result)
                for item in _flatten(value, f"{path}[{index}]" if path else f"output {index}")]
    return [] if result is None else [(path, result)]


def _tensors(result):
    return [tensor for _, tensor in _flatten(result)]


def _cotangents(outputs, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=tuple(o.shape)).astype("float32") for o in outputs]


def probe_outputs(layer, probe, weights=None, inputs=None, seed=0):
    """Runs one probe on ``layer`` and returns ``(outputs, gradients)`` as NumPy arrays.

    Args:
        layer: a built layer.
        probe: the :class:`~colorlab.exercises.Probe` to run.
        weights: values for ``layer.trainable_variables`` (default: their current values).
        inputs: the probe's inputs (default: ``probe.inputs``).
        seed: seeds the cotangent ``C``.

    Returns:
        ``outputs``: list of ``(name, float64 array)`` (names as :func:`_flatten` gives them); ``gradients``: list
        of float64 arrays, one per differentiable input (in ``probe.differentiate`` order) then one per trainable
        weight — an empty list when there is nothing to differentiate, None on a backend this module cannot
        differentiate.
    """
    variables = list(getattr(layer, "trainable_variables", []))
    weights = [ops.convert_to_numpy(v) for v in variables] if weights is None else weights
    inputs = list(probe.inputs if inputs is None else inputs)
    named = _flatten(probe.run(layer, *inputs))
    plain = [np.asarray(ops.convert_to_numpy(o), np.float64) for _, o in named]
    cotangents = _cotangents(plain, seed)
    diff = list(probe.differentiate)

    def loss(weight_values, diff_values):
        args = list(inputs)
        for index, value in zip(diff, diff_values):
            args[index] = value
        with keras.StatelessScope(state_mapping=list(zip(variables, weight_values))):
            outputs = _tensors(probe.run(layer, *args))
        return sum(ops.sum(ops.cast(o, "float32") * c) for o, c in zip(outputs, cotangents))

    outputs = [(name, array) for (name, _), array in zip(named, plain)]
    if not diff and not variables:
        return outputs, []
    backend = keras.backend.backend()
    diff_values = [np.asarray(inputs[i], "float32") for i in diff]
    if backend == "tensorflow":
        import tensorflow as tf

        w = [tf.convert_to_tensor(v) for v in weights]
        x = [tf.convert_to_tensor(v) for v in diff_values]
        with tf.GradientTape() as tape:
            tape.watch(w + x)
            value = loss(w, x)
        grads = tape.gradient(value, x + w)
        sources = x + w
    elif backend == "jax":
        import jax

        grad_x, grad_w = jax.grad(lambda xs, ws: loss(ws, xs), argnums=(0, 1))(diff_values, list(weights))
        grads = list(grad_x) + list(grad_w)
        sources = diff_values + list(weights)
    else:
        return outputs, None
    gradients = [np.zeros(np.shape(s)) if g is None else np.asarray(ops.convert_to_numpy(g), np.float64)
                 for g, s in zip(grads, sources)]
    return outputs, gradients


@contextlib.contextmanager
def _plain_errors():
    """Student code raises its own exception (not Keras' wrapped, filtered one), and Keras' build warnings about a
    half-written layer stay off the page; both are restored afterwards."""
    filtering = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        if filtering:
            keras.config.enable_traceback_filtering()


def _worst(got, expected):
    return float(np.max(np.abs(got - expected))) if got.size else 0.0


def run_build_check(exercise, candidate):
    """Compares the class ``candidate`` with ``exercise.reference`` on every case.

    Returns ``(status, one-line message, the student's exception or None)``, as
    :func:`colorlab.exercises.run_check` does.
    """
    with _plain_errors():
        return _compare(exercise, candidate)


def _compare(exercise, candidate):
    name = exercise.name
    is_class = isinstance(exercise.reference, type)
    what = "layer" if exercise.is_layer else "class" if is_class else "function"
    unwritten = f"✗ {name}: not written yet — the notebook goes on with the package's {what}"
    if exercise.is_layer and not (isinstance(candidate, type) and issubclass(candidate, keras.layers.Layer)):
        return "wrong", (f"✗ {name}: pass the class itself (a keras.layers.Layer subclass), got "
                         f"{type(candidate).__name__}"), None
    if is_class and not exercise.is_layer and not (isinstance(candidate, type)
                                                   and issubclass(candidate, exercise.reference)):
        return "wrong", (f"✗ {name}: pass the class itself (a subclass of {exercise.reference.__module__}."
                         f"{exercise.reference.__name__}), got {type(candidate).__name__}"), None
    if not is_class and (isinstance(candidate, type) or not callable(candidate)):
        return "wrong", f"✗ {name}: pass the function itself, got {type(candidate).__name__}", None
    gradients_unchecked, gradients_compared = False, False
    for case_index, case in enumerate(exercise.cases):
        reference = case.build(exercise.reference)
        try:
            student = case.build(candidate)
            for probe in case.probes:          # build both (weights are created on the first call)
                probe.run(reference, *probe.inputs)
                if probe.run(student, *probe.inputs) is None:
                    return "unwritten", unwritten, None
        except NotImplementedError:
            return "unwritten", unwritten, None
        except Exception as error:  # the student's code: any failure is feedback, not a crash of the checker
            return "wrong", f"✗ {name}: case {case_index} raised {type(error).__name__}: {error}", error
        if exercise.is_layer:
            expected_shapes = [tuple(w.shape) for w in reference.weights]
            got_shapes = [tuple(w.shape) for w in student.weights]
            if got_shapes != expected_shapes:
                return "wrong", (f"✗ {name}: case {case_index}: the layer's weights have shapes {got_shapes}, the "
                                 f"package's {expected_shapes}: create the same sublayers, in the same order"), None
            student.set_weights(reference.get_weights())
        for probe_index, probe in enumerate(case.probes):
            seed = 1000 * case_index + probe_index
            want, want_grads = probe_outputs(reference, probe, seed=seed)
            try:
                got, got_grads = probe_outputs(student, probe, seed=seed)
            except NotImplementedError:
                return "unwritten", unwritten, None
            except Exception as error:  # the student's code again
                return "wrong", f"✗ {name}: {probe.label} raised {type(error).__name__}: {error}", error
            where = f"case {case_index}, {probe.label}"
            if len(got) != len(want):
                return "wrong", f"✗ {name}: {where} returns {len(got)} tensors, expected {len(want)}", None
            for (_, g), (output_name, w) in zip(got, want):
                label = f" {output_name}" if output_name else ""
                if g.shape != w.shape:
                    return "wrong", f"✗ {name}: {where}{label} has shape {g.shape}, expected {w.shape}", None
                if not np.all(np.isfinite(g)) and np.all(np.isfinite(w)):
                    return "wrong", (f"✗ {name}: {where}{label} holds inf or nan where the package's is finite "
                                     "(an overflow, or the log of 0?)"), None
                if not np.allclose(g, w, rtol=exercise.rtol, atol=exercise.atol, equal_nan=True):
                    return "wrong", f"✗ {name}: {where}{label} is off by up to {_worst(g, w):.3g}", None
            if want_grads is None:
                gradients_unchecked = True
                continue
            gradients_compared = gradients_compared or bool(want_grads)
            names = probe.names or tuple(f"input {i}" for i in range(len(probe.inputs)))
            labels = [names[i] for i in probe.differentiate] + [
                f"weight {w.path}" for w in getattr(reference, "trainable_variables", [])]
            for g, w, label in zip(got_grads, want_grads, labels):
                if not np.allclose(g, w, rtol=exercise.grad_rtol, atol=exercise.grad_atol):
                    return "wrong", (f"✗ {name}: {where}: the gradient with respect to {label} is off by up to "
                                     f"{_worst(g, w):.3g} (the values agree: is something blocking or bending the "
                                     "gradient?)"), None
    if gradients_unchecked:
        checked = (f"values within {exercise.atol:g} of the package's (gradients are not checked on the "
                   f"{keras.backend.backend()} backend)")
    elif gradients_compared:
        checked = f"values within {exercise.atol:g} and gradients within {exercise.grad_atol:g} of the package's"
    else:
        checked = f"values within {exercise.atol:g} of the package's"
    return "correct", f"✓ {name}: correct ({checked}, on random inputs)", None
