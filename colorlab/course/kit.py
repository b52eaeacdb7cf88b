"""The instructor kit: student notebooks from the course's own, and grades from what students hand in.

The course's notebooks carry their solutions. In an exercise cell, the solution sits between two marker lines::

    def warp(attention, values):
        \"\"\"attention (Lt, Lr), values (Lr, C) -> (Lt, C).\"\"\"
        # YOUR CODE HERE (1 line)
        # BEGIN SOLUTION
        return attention @ values
        # END SOLUTION


    warp = ch03.check("warp", warp)

:func:`release` writes the student version: each marked block becomes one ``raise NotImplementedError`` line at
the block's indentation, and the outputs of the cells that held solutions are cleared (every other cell keeps the
outputs the course stores, so the notebook still reads well before it is run). Its checks then report
"✗ … not written yet" and go on with the reference solution, so a student notebook runs top to bottom.

:func:`grade` executes handed-in notebooks with the variable :data:`colorlab.exercises.GRADE_LOG` set: every check
logs its result and a wrong answer falls back to the reference solution, so each exercise is graded on its own.
One row per exercise per notebook: ``correct``, ``wrong``, ``unwritten``, or ``not run`` (the notebook stopped
before the check, or the student removed it).

Executing notebooks needs ``nbformat``, ``nbclient`` and ``ipykernel`` (``pip install "colorlab[notebooks]"``);
:func:`release` only reads and writes JSON. Standard library otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import re
import tempfile
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from colorlab.errors import CourseError, OutputExistsError
from colorlab.exercises import GRADE_LOG
from colorlab.files import write_text

__all__ = ["BEGIN", "END", "STUB", "strip_solutions", "release_notebook", "release",
           "exercises_in", "GradeRow", "grade_notebook", "grade", "write_grades"]

#: The marker lines around a solution (any indentation, nothing else on the line).
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
#: What replaces each solution in a student notebook.
STUB = "raise NotImplementedError  # your code goes here"

# `ch04.check("entropy", ...)`: the chapter's checker and the exercise's name.
_CHECK_CALL = re.compile(r"\b(ch\d\d)\.check\(\s*[\"'](\w+)[\"']")


def strip_solutions(source: str, *, where: str = "cell") -> tuple[str, int]:
    """Replaces every ``BEGIN SOLUTION … END SOLUTION`` block of one cell's source with :data:`STUB`.

    Args:
        source: a code cell's source.
        where: how error messages name the cell.

    Returns:
        ``(student source, number of blocks replaced)``.

    Raises:
        CourseError: a ``BEGIN`` without its ``END`` or the reverse, or two ``BEGIN`` in a row.
    """
    out, blocks, indent = [], 0, None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if indent is not None:
                raise CourseError(f"{where}, line {number}: '{BEGIN}' inside another solution block")
            indent = line[:len(line) - len(line.lstrip())]
        elif marker == END:
            if indent is None:
                raise CourseError(f"{where}, line {number}: '{END}' without '{BEGIN}'")
            out.append(f"{indent}{STUB}\n")
            blocks, indent = blocks + 1, None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise CourseError(f"{where}: '{BEGIN}' without '{END}'")
    return "".join(out), blocks


def release_notebook(notebook: dict, *, name: str = "notebook") -> tuple[dict, int]:
    """The student version of one notebook (a dict in nbformat 4 JSON), and how many solutions it removed.

    The input is not modified. Cells that held a solution lose their outputs and execution count.
    """
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise CourseError(f"{name}: not a Jupyter notebook (no list of cells)")
    student = json.loads(json.dumps(notebook))
    removed = 0
    for index, cell in enumerate(student["cells"]):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        stripped, blocks = strip_solutions(source, where=f"{name}, cell {index}")
        if blocks:
            cell["source"] = stripped.splitlines(keepends=True)
            cell["outputs"], cell["execution_count"] = [], None
            removed += blocks
    return student, removed


def _read_notebook(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CourseError(f"{path}: not a Jupyter notebook ({error})") from None


def release(sources: Iterable[str | os.PathLike], out: str | os.PathLike, *,
            overwrite: bool = False) -> list[tuple[pathlib.Path, int]]:
    """Writes the student version of each notebook into the folder ``out`` (created if needed).

    Args:
        sources: notebook files (``.ipynb``) or folders (each one's ``*.ipynb``, sorted).
        out: the folder the student notebooks go to, under their own names.
        overwrite: replace notebooks that already exist in ``out`` (otherwise
            :class:`~colorlab.errors.OutputExistsError`, before anything is written).

    Returns:
        ``(written path, solutions removed)`` per notebook, in order.
    """
    paths = []
    for source in sources:
        source = pathlib.Path(source)
        if source.is_dir():
            paths.extend(sorted(source.glob("*.ipynb")))
        elif source.is_file():
            paths.append(source)
        else:
            raise CourseError(f"{source}: no such notebook or folder")
    if not paths:
        raise CourseError("no notebooks to release")
    out = pathlib.Path(out)
    targets = [out / path.name for path in paths]
    if len(set(targets)) < len(targets):
        raise CourseError("two notebooks to release have the same name")
    students = [release_notebook(_read_notebook(path), name=str(path)) for path in paths]   # all checked first
    if not overwrite:
        existing = [str(target) for target in targets if target.exists()]
        if existing:
            raise OutputExistsError(f"cannot write {existing[0]!r}: file exists already (pass --overwrite / "
                                    "overwrite=True to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for target, (student, removed) in zip(targets, students):
        write_text(target, json.dumps(student, indent=1, ensure_ascii=False) + "\n")
        written.append((target, removed))
    return written


def exercises_in(notebook: dict) -> list[tuple[str, str]]:
    """The ``(chapter, exercise)`` pairs a notebook's code cells check, in order, each once."""
    found = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            for pair in _CHECK_CALL.findall("".join(source) if isinstance(source, list) else source):
                if pair not in found:
                    found.append(pair)
    return found


@dataclass(frozen=True)
class GradeRow:
    """One exercise of one handed-in notebook.

    Attributes:
        notebook: the notebook's path as given.
        chapter, exercise: e.g. ``"ch04"``, ``"entropy"``.
        status: ``"correct"``, ``"wrong"``, ``"unwritten"`` or ``"not run"``.
        message: the checker's line, or why the check did not run.
        error: the notebook's first error (``"cell 12: NameError: …"``), ``""`` if it ran to the end.
    """

    notebook: str
    chapter: str
    exercise: str
    status: str
    message: str
    error: str


def _first_error(notebook) -> str:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
    return ""


def _nbclient():
    try:
        import nbformat
        import nbclient
        import nbclient.exceptions
    except ImportError:
        raise CourseError("grading executes notebooks: pip install \"colorlab[notebooks]\"") from None
    return nbformat, nbclient


def _read_handed_in(path: pathlib.Path):
    nbformat, _ = _nbclient()
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as error:   # nbformat's NotJSONError and validation errors are ValueErrors
        raise CourseError(f"{path}: not a Jupyter notebook ({error})") from None


def _grade(path: pathlib.Path, notebook, *, quick: bool, timeout: int) -> list[GradeRow]:
    """Executes ``notebook`` (read from ``path``) with the grade log on; its rows."""
    _, nbclient = _nbclient()
    expected = exercises_in(notebook)
    with tempfile.TemporaryDirectory(prefix="colorlab_grade_") as folder:
        log = pathlib.Path(folder) / "grades.jsonl"
        saved = {name: os.environ.get(name) for name in (GRADE_LOG, "COLORLAB_QUICK")}
        os.environ[GRADE_LOG] = str(log)
        if quick:
            os.environ["COLORLAB_QUICK"] = "1"
        else:
            os.environ.pop("COLORLAB_QUICK", None)
        stopped = ""
        try:
            nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
        except nbclient.exceptions.CellTimeoutError:
            stopped = f"a cell ran longer than {timeout} s"
        except nbclient.exceptions.DeadKernelError:
            stopped = "the kernel died"
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        logged = []
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                try:
                    logged.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    results = {}
    for entry in logged:   # the last check of an exercise counts (a student may have run a cell twice)
        results[(entry.get("chapter"), entry.get("exercise"))] = entry
    error = _first_error(notebook) or stopped
    rows = []
    for key in expected + [key for key in results if key not in expected]:
        entry = results.get(key)
        status, message = (entry["status"], entry["message"]) if entry else ("not run", "the check did not run")
        rows.append(GradeRow(str(path), key[0], key[1], status, message, error))
    return rows


def grade_notebook(path: str | os.PathLike, *, quick: bool = True, timeout: int = 600) -> list[GradeRow]:
    """Executes one handed-in notebook in its own folder and grades each exercise it checks.

    The notebook is executed in a fresh kernel of the current Python; its cells run on after an error, so a crash
    in one part does not cost the exercises after it (each row names the first error). The file is not changed.

    Args:
        path: the notebook.
        quick: execute in quick mode (``COLORLAB_QUICK=1``), as the course's tests do.
        timeout: seconds allowed per cell.

    Returns:
        One :class:`GradeRow` per exercise: those the notebook checks, in order, then any other the log shows.
    """
    path = pathlib.Path(path)
    return _grade(path, _read_handed_in(path), quick=quick, timeout=timeout)


def grade(paths: Sequence[str | os.PathLike], *, quick: bool = True, timeout: int = 600,
          progress: bool = False) -> list[GradeRow]:
    """Grades each notebook of ``paths`` (see :func:`grade_notebook`); the rows of all of them, in order.

    Every notebook is read before the first is executed, so an unreadable one is refused at once.
    """
    from tqdm.auto import tqdm

    notebooks = [(pathlib.Path(path), _read_handed_in(pathlib.Path(path))) for path in paths]
    rows = []
    for path, notebook in tqdm(notebooks, desc="grading", unit="notebook", disable=not progress):
        rows.extend(_grade(path, notebook, quick=quick, timeout=timeout))
    return rows


def write_grades(rows: Sequence[GradeRow], path: str | os.PathLike, *, overwrite: bool = False) -> pathlib.Path:
    """Writes the rows as CSV (``.csv``) or as a JSON list (any other suffix), atomically."""
    path = pathlib.Path(path)
    records = [asdict(row) for row in rows]
    if path.suffix.lower() == ".csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(GradeRow.__dataclass_fields__), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return write_text(path, text.getvalue(), overwrite=overwrite)
    return write_text(path, json.dumps(records, indent=1, ensure_ascii=False) + "\n", overwrite=overwrite)
