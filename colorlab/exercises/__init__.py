"""Exercise checkers for the notebooks.

Each chapter module (``colorlab.exercises.ch01``, ...) defines, per exercise, a reference solution and a
list of test cases. In a notebook the student writes a function and calls :func:`check`::

    from colorlab.exercises import ch01
    chroma = ch01.check("chroma", my_chroma)

``check`` prints one line — ``✓ chroma: correct`` or what is wrong — and returns the function the rest of
the notebook should use: the student's when it is correct, the reference solution otherwise, so the
notebook always runs to the end. A student function that returns ``None`` counts as "not written yet".
"""

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


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


def run_check(exercise: Exercise, candidate: Callable) -> tuple[bool, str]:
    """Compares ``candidate`` with the reference on every case; returns (passed, one-line message)."""
    for index, args in enumerate(exercise.cases):
        expected = np.asarray(exercise.solution(*args))
        try:
            got = candidate(*args)
        except Exception as error:  # the student's code: any failure is feedback, not a crash
            return False, f"✗ {exercise.name}: raised {type(error).__name__}: {error}"
        if got is None:
            return False, f"… {exercise.name}: not written yet — using the reference solution"
        got = np.asarray(got)
        if got.shape != expected.shape:
            return False, (f"✗ {exercise.name}: case {index} has shape {got.shape}, "
                           f"expected {expected.shape} — using the reference solution")
        if not np.allclose(got, expected, rtol=exercise.rtol, atol=exercise.atol, equal_nan=True):
            worst = float(np.max(np.abs(got.astype(np.float64) - expected)))
            return False, (f"✗ {exercise.name}: case {index} is off by up to {worst:.3g} "
                           "— using the reference solution")
    return True, f"✓ {exercise.name}: correct"


def make_checker(exercises: Sequence[Exercise]) -> Callable:
    """Builds a chapter's ``check(name, candidate)`` function from its exercises."""
    by_name = {exercise.name: exercise for exercise in exercises}

    def check(name: str, candidate: Callable) -> Callable:
        if name not in by_name:
            raise KeyError(f"unknown exercise {name!r}; this chapter has {sorted(by_name)}")
        exercise = by_name[name]
        passed, message = run_check(exercise, candidate)
        print(message)
        return candidate if passed else exercise.solution

    check.exercises = by_name
    return check
