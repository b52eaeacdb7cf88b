"""The exercises of every chapter module, as pytest parameters (for tests/test_exercises.py and
tests/test_build_exercises.py)."""

import importlib

import pytest

#: Every chapter module with exercises; a new chapter adds its module here.
CHAPTERS = [f"colorlab.exercises.ch{number:02d}" for number in range(1, 12)]


def exercise_params(kind):
    """``pytest.param(module_name, name)`` for every exercise of type ``kind``, ids like ``ch04-entropy``."""
    params = []
    for module_name in CHAPTERS:
        module = importlib.import_module(module_name)
        for name, exercise in module.check.exercises.items():
            if isinstance(exercise, kind):
                params.append(pytest.param(module_name, name, id=f"{module_name.rsplit('.', 1)[-1]}-{name}"))
    return params
