"""Exercise checkers for the notebooks.

Each chapter module (``colorlab.exercises.ch01``, ...) defines, per exercise, a reference solution and a
list of test cases. In a notebook the student writes a function and calls :func:`check`::

    from colorlab.exercises import ch01
    chroma = ch01.check("chroma", my_chroma)

``check`` returns the function the rest of the notebook should use:

* a correct answer: prints ``✓ chroma: correct`` and returns the student's function;
* not written yet (the function raises ``NotImplementedError``, as the stubs of a student notebook do, or returns
  ``None``): prints one ✗ line and returns the reference solution, so a notebook of stubs runs to the end;
* a wrong answer, a wrong shape or any other exception: raises :class:`~colorlab.errors.ExerciseError` naming the
  case (chained to the student's own exception, whose traceback shows where), so "Run All" stops at the exercise
  instead of going on, unnoticed, with the reference solution. Fix the function, or make it raise
  ``NotImplementedError`` to go on without it.

Build-it exercises (:class:`BuildExercise`) work the same way with a Keras layer class, or a function written in
``keras.ops``, instead of a NumPy function::

    GatedFusion = ch04.check("GatedFusion", GatedFusion)   # the student's class, or the package's as a fallback

The class (or function) is checked against the package's on random inputs, values and gradients
(:mod:`colorlab.exercises.build`), and the chapter then runs on it (e.g. ``build_gray2colornet(..., pieces=...)``).

While ``colorlab course grade`` executes a notebook (:mod:`colorlab.course.kit`), the environment variable
:data:`GRADE_LOG` names a file: every check appends one JSON line to it (chapter, exercise, status, message), and a
wrong answer falls back to the reference solution instead of stopping, so each exercise is graded on its own.
"""

import json
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from colorlab.errors import ExerciseError


@dataclass(frozen=True)
class Exercise:
    """One exercise: a reference solution and the inputs it is checked on.

    Attributes:
        name: short identifier used in notebooks, e.g. ``"chroma"``.
        solution: the reference implementation.
        cases: argument tuples; the student's function must match ``solution`` on each.
        rtol, atol: tolerances for ``numpy.allclose``.
    """

    name: str
    solution: Callable
    cases: Sequence[tuple]
    rtol: float = 1e-4
    atol: float = 1e-4


@dataclass(frozen=True)
class Probe:
    """One call of a layer method (or of a function), made on the student's and on the package's.

    Attributes:
        label: what the call is, for messages, e.g. ``"correlation(target, reference)"``.
        run: ``run(layer, *inputs)`` -> a tensor or a tuple/list of tensors (for a function exercise ``layer`` is
            the function).
        inputs: NumPy arrays (float32 for the differentiable ones).
        differentiate: indices of the inputs the gradients are compared for (the layer's trainable weights
            always are).
        names: the inputs' names, for messages (default ``input 0``, ``input 1``, ...).
    """

    label: str
    run: Callable
    inputs: tuple
    differentiate: tuple = ()
    names: tuple = ()


@dataclass(frozen=True)
class BuildCase:
    """One construction of the layer and the calls made on it.

    Attributes:
        build: ``build(layer_class) -> layer``, the same arguments for the package's class and the student's (for
            a function exercise, ``lambda function: function``).
        probes: the :class:`Probe` calls.
    """

    build: Callable
    probes: Sequence[Probe]


@dataclass(frozen=True)
class BuildExercise:
    """A build-it exercise: the student writes a Keras layer class (or a ``keras.ops`` function) that must compute
    what ``reference`` does, with the same gradients.

    Attributes:
        name: identifier used in notebooks, e.g. ``"GatedFusion"``.
        reference: the package's class or function (what the notebook falls back to).
        cases: :class:`BuildCase` constructions and calls.
        rtol, atol: tolerances on the outputs; grad_rtol, grad_atol: on the gradients (float32).
    """

    name: str
    reference: type
    cases: Sequence[BuildCase]
    rtol: float = 1e-5
    atol: float = 1e-5
    grad_rtol: float = 1e-4
    grad_atol: float = 1e-4

    @property
    def solution(self):
        """The fallback: the package's class or function."""
        return self.reference

    @property
    def is_layer(self) -> bool:
        """True if the student writes a Keras layer class (whose weights are compared and copied)."""
        import keras

        return isinstance(self.reference, type) and issubclass(self.reference, keras.layers.Layer)


#: The end of every wrong-answer message: what to do next.
FIX_HINT = ("fix your code and run the cell again (or make it raise NotImplementedError to go on with the "
            "reference solution)")

#: The environment variable that names the grade log while ``colorlab course grade`` runs a notebook.
GRADE_LOG = "COLORLAB_GRADE_LOG"


def run_check(exercise: Exercise, candidate: Callable) -> tuple[str, str, BaseException | None]:
    """Compares ``candidate`` with the reference on every case.

    Returns:
        ``(status, one-line message, the student's exception or None)``; ``status`` is ``"correct"``,
        ``"unwritten"`` (it raised ``NotImplementedError`` or returned ``None``) or ``"wrong"``.
    """
    unwritten = f"✗ {exercise.name}: not written yet — the notebook goes on with the reference solution"
    for index, args in enumerate(exercise.cases):
        expected = np.asarray(exercise.solution(*args))
        try:
            got = candidate(*args)
        except NotImplementedError:
            return "unwritten", unwritten, None
        except Exception as error:  # the student's code: any failure is feedback, not a crash of the checker
            return "wrong", f"✗ {exercise.name}: case {index} raised {type(error).__name__}: {error}", error
        if got is None:
            return "unwritten", unwritten, None
        got = np.asarray(got)
        if got.shape != expected.shape:
            return "wrong", f"✗ {exercise.name}: case {index} has shape {got.shape}, expected {expected.shape}", None
        if not np.allclose(got, expected, rtol=exercise.rtol, atol=exercise.atol, equal_nan=True):
            worst = float(np.max(np.abs(got.astype(np.float64) - expected)))
            return "wrong", f"✗ {exercise.name}: case {index} is off by up to {worst:.3g}", None
    return "correct", f"✓ {exercise.name}: correct", None


def _log_grade(path: str, chapter: str, name: str, status: str, message: str) -> None:
    """Appends one check's result to the grade log (one JSON object per line)."""
    line = json.dumps({"chapter": chapter, "exercise": name, "status": status, "message": message},
                      ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def make_checker(exercises: Sequence[Exercise | BuildExercise], chapter: str) -> Callable:
    """Builds a chapter's ``check(name, candidate)`` function from its exercises.

    Args:
        exercises: the chapter's exercises.
        chapter: the chapter's name in notebooks and grade reports, e.g. ``"ch04"``.
    """
    by_name = {exercise.name: exercise for exercise in exercises}

    def check(name: str, candidate: Callable) -> Callable:
        if name not in by_name:
            raise KeyError(f"unknown exercise {name!r}; this chapter has {sorted(by_name)}")
        exercise = by_name[name]
        if isinstance(exercise, BuildExercise):
            from colorlab.exercises.build import run_build_check

            status, message, error = run_build_check(exercise, candidate)
        else:
            status, message, error = run_check(exercise, candidate)
        grade_log = os.environ.get(GRADE_LOG)
        if grade_log:
            _log_grade(grade_log, chapter, name, status, message)
        elif status == "wrong":
            raise ExerciseError(f"{message} — {FIX_HINT}") from error
        print(message)
        return candidate if status == "correct" else exercise.solution

    check.exercises = by_name
    return check
