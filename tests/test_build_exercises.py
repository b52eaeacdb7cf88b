"""Build-it exercises: a student's Keras layer class (or keras.ops function) is checked against the package's,
values and gradients.

Every :class:`~colorlab.exercises.BuildExercise` of every chapter is run against mutants of the package's own
class or function: it passes itself; a stub falls back; outputs shifted by 0.01 are wrong values; outputs whose
gradient is stopped are right values with a wrong gradient; an extra weight is a wrong structure (layers). The
notebooks' own solutions are run by ``tests/test_course_kit.py``.
"""

import functools
import importlib
import json

import numpy as np
import pytest

import keras
from keras import ops

from colorlab.errors import ExerciseError
from colorlab.exercises import FIX_HINT, GRADE_LOG, BuildExercise
from exercise_params import exercise_params

# The methods a probe may call; a mutant wraps each one the package's class has.
METHODS = ("call", "correlation", "attention", "warp", "gradients")


BUILD_EXERCISES = exercise_params(BuildExercise)


def test_chapters_03_to_08_each_have_a_build_it_exercise():
    chapters = {p.values[0].rsplit(".", 1)[-1] for p in BUILD_EXERCISES}
    assert {"ch03", "ch04", "ch05", "ch06", "ch07", "ch08"} <= chapters


def _chapter(module_name, name):
    module = importlib.import_module(module_name)
    return module.check, module.check.exercises[name]


def _map(result, transform):
    if isinstance(result, dict):
        return {key: _map(value, transform) for key, value in result.items()}
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return type(result)(*(_map(item, transform) for item in result))
    if isinstance(result, (tuple, list)):
        return type(result)(_map(item, transform) for item in result)
    return None if result is None else transform(result)


def _mutant(base, transform):
    """A subclass of ``base`` whose probed methods return ``transform`` of the package's result (for a function:
    a function returning ``transform`` of its result)."""
    if not isinstance(base, type):
        return lambda *args: _map(base(*args), transform)

    def wrap(method):
        @functools.wraps(getattr(base, method))      # keeps the signature, which Keras reads to build the layer
        def mutated(self, *args, **kwargs):
            return _map(getattr(super(mutant, self), method)(*args, **kwargs), transform)
        return mutated

    mutant = type(f"Mutant{base.__name__}", (base,),
                  {method: wrap(method) for method in METHODS if hasattr(base, method)})
    return mutant


@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES)
def test_the_package_class_passes_and_is_returned(module_name, name, capsys):
    check, exercise = _chapter(module_name, name)
    assert check(name, exercise.reference) is exercise.reference
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"✓ {name}: correct (values within")
    differentiable = exercise.is_layer or any(probe.differentiate for case in exercise.cases for probe in case.probes)
    if keras.backend.backend() in ("tensorflow", "jax") and differentiable:
        assert "gradients within" in out


@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES)
def test_an_exact_copy_passes_and_the_students_class_is_returned(module_name, name, capsys):
    check, exercise = _chapter(module_name, name)
    copy = _mutant(exercise.reference, lambda t: t)
    assert check(name, copy) is copy
    assert capsys.readouterr().out.startswith(f"✓ {name}: correct")


@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES)
def test_a_stub_falls_back_to_the_package_class(module_name, name, capsys):
    check, exercise = _chapter(module_name, name)

    def stub(*args, **kwargs):
        raise NotImplementedError

    if isinstance(exercise.reference, type):
        unwritten = type("Stub", (exercise.reference,), {method: stub for method in METHODS
                                                         if hasattr(exercise.reference, method)})
    else:
        unwritten = stub
    assert check(name, unwritten) is exercise.reference
    what = "layer" if exercise.is_layer else "class" if isinstance(exercise.reference, type) else "function"
    assert capsys.readouterr().out.strip() == (
        f"✗ {name}: not written yet — the notebook goes on with the package's {what}")


@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES)
def test_wrong_values_stop_the_notebook_naming_the_call(module_name, name, capsys):
    check, exercise = _chapter(module_name, name)
    with pytest.raises(ExerciseError) as raised:
        check(name, _mutant(exercise.reference, lambda t: t + 0.01))
    message = str(raised.value)
    assert message.startswith(f"✗ {name}: case 0, "), message
    assert "is off by up to 0.01" in message
    assert message.endswith(FIX_HINT)
    assert capsys.readouterr().out == ""


@pytest.mark.skipif(keras.backend.backend() not in ("tensorflow", "jax"), reason="gradients: TF and JAX only")
@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES)
def test_right_values_with_a_blocked_gradient_are_wrong(module_name, name):
    check, exercise = _chapter(module_name, name)
    if not exercise.is_layer and not any(probe.differentiate for case in exercise.cases for probe in case.probes):
        pytest.skip("nothing to differentiate: the values are the check (e.g. a training step's gradients)")
    with pytest.raises(ExerciseError, match="the gradient with respect to .* is off by up to"):
        check(name, _mutant(exercise.reference, ops.stop_gradient))


@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES)
def test_an_extra_weight_is_a_wrong_structure(module_name, name):
    check, exercise = _chapter(module_name, name)
    if not exercise.is_layer:
        pytest.skip("a function has no weights")
    base = exercise.reference

    def init(self, *args, **kwargs):
        base.__init__(self, *args, **kwargs)
        self.extra = self.add_weight(shape=(3,), initializer="zeros", name="extra")

    Extra = type("Extra", (base,), {"__init__": init})
    with pytest.raises(ExerciseError, match="the layer's weights have shapes .* create the same sublayers"):
        check(name, Extra)


@pytest.mark.parametrize("candidate", [keras.layers.ReLU(), lambda *args: None], ids=["instance", "function"])
def test_an_instance_or_a_function_is_not_a_class(candidate):
    from colorlab.exercises import ch04

    with pytest.raises(ExerciseError, match="pass the class itself"):
        ch04.check("GatedFusion", candidate)


@pytest.mark.parametrize("candidate", [keras.layers.ReLU, 3], ids=["class", "number"])
def test_a_function_exercise_wants_a_function(candidate):
    from colorlab.exercises import ch07

    with pytest.raises(ExerciseError, match="pass the function itself"):
        ch07.check("discriminator_loss", candidate)


def test_a_log_sigmoid_discriminator_loss_fails_on_confident_logits():
    from colorlab.exercises import ch07

    def naive(real_logits, fake_logits):
        return -ops.mean(ops.log(ops.sigmoid(real_logits))) - ops.mean(ops.log(1.0 - ops.sigmoid(fake_logits)))

    with pytest.raises(ExerciseError, match=r"confident logits\) holds inf or nan"):
        ch07.check("discriminator_loss", naive)


@pytest.mark.parametrize("module_name, name", BUILD_EXERCISES[:1])
def test_while_grading_a_wrong_layer_is_logged_and_falls_back(module_name, name, tmp_path, monkeypatch, capsys):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG, str(log))
    check, exercise = _chapter(module_name, name)
    assert check(name, _mutant(exercise.reference, lambda t: t + 0.01)) is exercise.reference
    assert check(name, exercise.reference) is exercise.reference
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [row["status"] for row in rows] == ["wrong", "correct"]


def test_a_crash_in_the_students_layer_is_reported_with_its_cause():
    from colorlab.exercises import ch04

    class Crashes(keras.layers.Layer):
        def call(self, warped, global_vector, omega):
            raise ValueError("boom")

    with pytest.raises(ExerciseError) as raised:
        ch04.check("GatedFusion", Crashes)
    assert str(raised.value).startswith("✗ GatedFusion: case 0 raised ValueError: boom")
    assert isinstance(raised.value.__cause__, ValueError)


def test_a_correspondence_that_ignores_the_temperature_is_caught():
    from colorlab.exercises import ch03
    from colorlab.models import Correspondence

    class FixedTemperature(Correspondence):
        def attention(self, correlation, reference_mask=None):
            return Correspondence(0.5).attention(correlation, reference_mask)

    with pytest.raises(ExerciseError, match=r"case 1, attention\(correlation\) is off"):
        ch03.check("Correspondence", FixedTemperature)


def test_a_correspondence_that_ignores_the_mask_is_caught():
    from colorlab.exercises import ch03
    from colorlab.models import Correspondence

    class NoMask(Correspondence):
        def attention(self, correlation, reference_mask=None):
            return super().attention(correlation)

    with pytest.raises(ExerciseError, match=r"attention\(correlation, reference_mask\) is off"):
        ch03.check("Correspondence", NoMask)


def test_probe_gradients_match_a_finite_difference():
    """The gradient machinery itself: d sum(out * C) / d omega of the fusion, against central differences."""
    from colorlab.exercises import ch04
    from colorlab.exercises.build import probe_outputs
    from colorlab.models import GatedFusion

    if keras.backend.backend() not in ("tensorflow", "jax"):
        pytest.skip("gradients: TF and JAX only")
    probe = ch04.check.exercises["GatedFusion"].cases[0].probes[0]
    layer = GatedFusion()
    outputs, gradients = probe_outputs(layer, probe, seed=7)
    outputs = [array for _, array in outputs]
    cotangent = np.random.default_rng(7).normal(size=outputs[0].shape).astype("float32")
    warped, global_vector, omega = (np.asarray(x, np.float64) for x in probe.inputs)

    def loss(o):
        return float(np.sum((warped * o + global_vector[:, None, None, :] * (1 - o)) * cotangent))

    step = 1e-3
    index = (1, 2, 3, 0)
    plus, minus = omega.copy(), omega.copy()
    plus[index] += step
    minus[index] -= step
    numeric = (loss(plus) - loss(minus)) / (2 * step)
    assert gradients[2][index] == pytest.approx(numeric, rel=1e-3, abs=1e-3)
    assert np.allclose(outputs[0], warped * omega + global_vector[:, None, None, :] * (1 - omega), atol=1e-5)
