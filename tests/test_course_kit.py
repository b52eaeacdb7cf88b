"""The instructor kit: `colorlab course release` writes student notebooks, `colorlab course grade` grades them."""

import csv
import glob
import importlib
import io
import json
import os
import re
from contextlib import redirect_stdout

import numpy as np
import pytest

from colorlab.cli import main
from colorlab.course import kit
from colorlab.errors import CourseError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def _cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _source(cell):
    return "".join(cell["source"])


# --- strip_solutions ----------------------------------------------------------------------------------------------

def test_each_solution_block_becomes_one_stub_at_its_indentation():
    source = ("def f(x):\n    # YOUR CODE HERE\n    # BEGIN SOLUTION\n    y = x + 1\n\n    return y\n"
              "    # END SOLUTION\n\n\ndef g(x):\n  # BEGIN SOLUTION\n  return 2 * x\n  # END SOLUTION\n\nf = check(f)\n")
    student, blocks = kit.strip_solutions(source)
    assert blocks == 2
    assert student == ("def f(x):\n    # YOUR CODE HERE\n    " + kit.STUB + "\n\n\ndef g(x):\n  " + kit.STUB
                       + "\n\nf = check(f)\n")
    namespace = {}
    exec(student.replace("f = check(f)", ""), namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


@pytest.mark.parametrize("source, message", [
    ("    # BEGIN SOLUTION\n    return 1\n", "without '# END SOLUTION'"),
    ("    return 1\n    # END SOLUTION\n", "line 2: '# END SOLUTION' without"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "line 2: '# BEGIN SOLUTION' inside"),
])
def test_unbalanced_markers_are_refused_naming_the_line(source, message):
    with pytest.raises(CourseError, match=re.escape(message)):
        kit.strip_solutions(source, where="nb, cell 3")


def test_a_marker_in_a_string_or_after_code_is_not_a_marker():
    source = 'text = "# BEGIN SOLUTION"\nx = 1  # END SOLUTION\n'
    assert kit.strip_solutions(source) == (source, 0)


# --- release on the course's own notebooks --------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_release_removes_every_solution_and_keeps_everything_else(path):
    with open(path, encoding="utf-8") as handle:
        notebook = json.load(handle)
    before = json.dumps(notebook, sort_keys=True)
    student, removed = kit.release_notebook(notebook, name=path)
    assert json.dumps(notebook, sort_keys=True) == before, "the course notebook must not change"
    marked = sum(_source(cell).count(kit.BEGIN) for cell in _cells(notebook))
    assert removed == marked
    if os.path.basename(path) != "00_tour.ipynb":
        assert removed >= len(kit.exercises_in(notebook)) >= 2, "every chapter has exercises with solutions"
    assert len(student["cells"]) == len(notebook["cells"])
    for original, released in zip(notebook["cells"], student["cells"]):
        if original["cell_type"] == "code" and kit.BEGIN in _source(original):
            assert kit.BEGIN not in _source(released) and kit.STUB in _source(released)
            assert released["outputs"] == [] and released["execution_count"] is None
        else:
            assert released == original


@pytest.mark.parametrize("path", NOTEBOOKS[1:], ids=os.path.basename)
def test_released_exercises_fall_back_and_the_solutions_pass(path, capsys):
    """Each exercise cell, run on its own: the course's solution passes its check; the student's stub falls back."""
    import keras

    from colorlab import color, losses, models, step

    with open(path, encoding="utf-8") as handle:
        notebook = json.load(handle)
    student, _ = kit.release_notebook(notebook)
    for original, released in zip(notebook["cells"], student["cells"]):
        if original["cell_type"] != "code" or kit.BEGIN not in _source(original):
            continue
        chapter = re.search(r"\b(ch\d\d)\.check\(", _source(original)).group(1)
        for cell, expected in ((original, "✓ {}: correct"), (released, "✗ {}: not written yet")):
            namespace = {"np": np, "to_numpy": keras.ops.convert_to_numpy, "color": color, "keras": keras,
                         "ops": keras.ops, "models": models, "losses": losses, "step": step,
                         chapter: importlib.import_module(f"colorlab.exercises.{chapter}")}
            exec(_source(cell), namespace)
            printed = capsys.readouterr().out.splitlines()
            names = re.findall(r"\.check\(\"(\w+)\"", _source(cell))
            assert [line[:len(expected.format(name))] for line, name in zip(printed, names)] == \
                [expected.format(name) for name in names]


def test_release_cli_writes_student_notebooks_and_never_overwrites_silently(tmp_path, capsys):
    out = tmp_path / "students"
    assert main(["course", "release", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.ipynb")) == [os.path.basename(p) for p in NOTEBOOKS]
    assert "04_gcfn.ipynb: 3 solutions replaced by stubs" in capsys.readouterr().out
    released = json.loads((out / "04_gcfn.ipynb").read_text(encoding="utf-8"))
    assert not any(kit.BEGIN in _source(cell) for cell in _cells(released))

    (out / "04_gcfn.ipynb").write_text("a student's work", encoding="utf-8")
    assert main(["course", "release", str(out), NOTEBOOKS[4]]) == 2
    assert "file exists already (pass --overwrite" in capsys.readouterr().err
    assert (out / "04_gcfn.ipynb").read_text(encoding="utf-8") == "a student's work"
    assert main(["course", "release", str(out), NOTEBOOKS[4], "--overwrite"]) == 0


@pytest.mark.parametrize("content, message", [
    (None, "no such notebook or folder"),
    ("not json", "not a Jupyter notebook"),
    ('{"cells": [{"cell_type": "code", "source": "# BEGIN SOLUTION\\n"}]}', "cell 0: '# BEGIN SOLUTION' without"),
])
def test_release_refuses_bad_notebooks_in_one_line_writing_nothing(tmp_path, capsys, content, message):
    source = tmp_path / "bad.ipynb"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    assert main(["course", "release", str(tmp_path / "out"), str(source)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
    assert not (tmp_path / "out").exists()


# --- grade ----------------------------------------------------------------------------------------------------------

def _notebook(*sources):
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": f"cell-{index}", "metadata": {},
                       "outputs": [], "source": source} for index, source in enumerate(sources)],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def test_grade_runs_handed_in_notebooks_and_writes_one_row_per_exercise(tmp_path, capsys):
    """Four outcomes in one small notebook (chapter 03's NumPy exercises, no Keras): correct, wrong, unwritten,
    and a check never reached because a cell before it failed; a second notebook that is all stubs."""
    pytest.importorskip("nbclient")
    handed_in = _notebook(
        "import numpy as np\nfrom colorlab.exercises import ch03",
        "def warp(attention, values):\n    return attention @ values\n\nwarp = ch03.check('warp', warp)",
        "def cosine_correlation(t, r):\n    return t @ r.T\n\n"
        "cosine_correlation = ch03.check('cosine_correlation', cosine_correlation)",
        "print(undefined_name)",
        "def softmax_temperature(c, tau):\n    raise NotImplementedError\n\n"
        "softmax_temperature = ch03.check('softmax_temperature', softmax_temperature)",
    )
    first = tmp_path / "alice.ipynb"
    first.write_text(json.dumps(handed_in), encoding="utf-8")
    stubs = _notebook("from colorlab.exercises import ch03",
                      "def warp(a, v):\n    raise NotImplementedError\n\nwarp = ch03.check('warp', warp)")
    second = tmp_path / "bob.ipynb"
    second.write_text(json.dumps(stubs), encoding="utf-8")
    before = first.read_bytes()

    out = tmp_path / "grades.csv"
    assert main(["course", "grade", str(first), str(second), "-o", str(out), "--timeout", "120"]) == 0
    assert first.read_bytes() == before, "grading never changes a handed-in notebook"
    printed = capsys.readouterr().out
    assert f"{first}: 1/3 correct (first error: cell 3: NameError: name 'undefined_name' is not defined)" in printed
    assert f"{second}: 0/1 correct" in printed
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(row["notebook"], row["chapter"], row["exercise"], row["status"]) for row in rows] == [
        (str(first), "ch03", "warp", "correct"),
        (str(first), "ch03", "cosine_correlation", "wrong"),
        (str(first), "ch03", "softmax_temperature", "unwritten"),
        (str(second), "ch03", "warp", "unwritten"),
    ]
    assert rows[1]["message"].startswith("✗ cosine_correlation: case 0 is off by up to")
    assert rows[3]["error"] == ""

    assert main(["course", "grade", str(first), "-o", str(out)]) == 2          # never overwrites silently
    assert "file exists already" in capsys.readouterr().err


def test_a_dead_kernel_leaves_the_checks_after_it_not_run_and_json_is_written(tmp_path):
    pytest.importorskip("nbclient")
    handed_in = _notebook("from colorlab.exercises import ch03\nimport os",
                          "os._exit(1)",   # the kernel dies: nothing after runs
                          "warp = ch03.check('warp', lambda a, v: a @ v)")
    path = tmp_path / "carol.ipynb"
    path.write_text(json.dumps(handed_in), encoding="utf-8")
    rows = kit.grade([path], timeout=60)
    assert [(row.exercise, row.status, row.error) for row in rows] == [("warp", "not run", "the kernel died")]
    kit.write_grades(rows, tmp_path / "grades.json")
    records = json.loads((tmp_path / "grades.json").read_text(encoding="utf-8"))
    assert records[0]["status"] == "not run" and records[0]["exercise"] == "warp"


def test_grade_refuses_what_it_cannot_grade_in_one_line(tmp_path, capsys):
    assert main(["course", "grade", str(tmp_path / "missing.ipynb"), "-o", str(tmp_path / "g.csv")]) == 2
    assert "missing.ipynb: no such notebook" in capsys.readouterr().err
    garbage = tmp_path / "garbage.ipynb"
    garbage.write_text("{", encoding="utf-8")
    assert main(["course", "grade", str(garbage), "-o", str(tmp_path / "g.csv")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a Jupyter notebook" in error
    assert not (tmp_path / "g.csv").exists()


def test_a_released_chapter_runs_to_the_end_on_the_package_pieces(tmp_path):
    """The whole student version of chapter 06 (two NumPy stubs and the discriminator's layer stack) executes in
    quick mode: every check reports 'unwritten', and the chapter goes on, on the package's discriminator."""
    pytest.importorskip("nbclient")
    source = next(path for path in NOTEBOOKS if os.path.basename(path).startswith("06_"))
    [(student, removed)] = kit.release([source], tmp_path)
    assert removed == 3
    rows = kit.grade_notebook(student, quick=True, timeout=600)
    assert [(row.exercise, row.status) for row in rows] == [
        ("receptive_field", "unwritten"), ("output_size", "unwritten"), ("PatchDiscriminator", "unwritten")]
    assert {row.error for row in rows} == {""}, "the released chapter must run to its end"
