"""``colorlab course``: the instructor kit (:mod:`colorlab.course.kit`): release student notebooks, grade them."""

import pathlib

from colorlab.bundle import course_notebooks
from colorlab.errors import CourseError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "course", help="instructor kit: write student notebooks, grade handed-in ones",
        description="Release student versions of the course's notebooks (each solution replaced by a stub that "
                    "raises NotImplementedError) and grade notebooks students hand in (one row per exercise).")
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="course_command", metavar="ACTION", required=True)

    release = commands.add_parser(
        "release", help="write the student version of notebooks into OUT",
        description="Write the student version of each notebook into the folder OUT: every block between "
                    "'# BEGIN SOLUTION' and '# END SOLUTION' becomes 'raise NotImplementedError', and the cells "
                    "that held solutions lose their outputs. The notebooks still run top to bottom: an unwritten "
                    "exercise reports ✗ and the notebook goes on with the reference solution.")
    release.add_argument("out", metavar="OUT", help="folder for the student notebooks (created if needed)")
    release.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                         help="notebooks or folders of notebooks (default: the course's notebooks/ of this checkout)")
    release.add_argument("--overwrite", action="store_true", help="replace notebooks that exist in OUT")
    release.set_defaults(action=release_notebooks)

    grade = commands.add_parser(
        "grade", help="execute handed-in notebooks and write one row per exercise",
        description="Execute each notebook (in its own folder, in a fresh kernel of this Python) and grade every "
                    "exercise it checks: correct, wrong, unwritten, or not run. Writes CSV (OUT.csv) or JSON "
                    "(any other suffix) and prints a summary per notebook. Needs colorlab[notebooks].")
    grade.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="handed-in notebooks")
    grade.add_argument("-o", "--out", required=True, metavar="OUT", help="grades file: .csv, or .json")
    grade.add_argument("--full", action="store_true",
                       help="execute in full mode (default: quick mode, COLORLAB_QUICK=1, as the course's tests)")
    grade.add_argument("--timeout", type=int, default=600, metavar="S", help="seconds allowed per cell (default 600)")
    grade.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    grade.set_defaults(action=grade_notebooks)


def run(args) -> int:
    """Runs the chosen action (``release`` or ``grade``)."""
    return args.action(args)


def release_notebooks(args) -> int:
    from colorlab.course import kit

    sources = args.notebooks
    if not sources:
        folder = course_notebooks()
        if folder is None:
            raise CourseError("name the course's notebooks (this colorlab is installed from a wheel, which does not "
                              "carry them; they are in the notebooks/ folder of a checkout)")
        sources = [folder]
    written = kit.release(sources, args.out, overwrite=args.overwrite)
    for path, removed in written:
        print(f"{path}: {removed} solution{'s' if removed != 1 else ''} replaced by stubs")
    return 0


def grade_notebooks(args) -> int:
    from colorlab.course import kit
    from colorlab.io import check_output_path

    if args.timeout < 1:
        raise CourseError(f"--timeout must be at least 1 second, got {args.timeout}")
    for notebook in args.notebooks:
        if not pathlib.Path(notebook).is_file():
            raise CourseError(f"{notebook}: no such notebook")
    check_output_path(args.out, inputs=args.notebooks, overwrite=args.overwrite)
    rows = kit.grade(args.notebooks, quick=not args.full, timeout=args.timeout, progress=True)
    kit.write_grades(rows, args.out, overwrite=args.overwrite)
    for notebook in dict.fromkeys(str(pathlib.Path(name)) for name in args.notebooks):
        mine = [row for row in rows if row.notebook == notebook]
        correct = sum(row.status == "correct" for row in mine)
        stopped = f" (first error: {mine[0].error})" if mine and mine[0].error else ""
        print(f"{notebook}: {correct}/{len(mine)} correct{stopped}")
    print(f"grades written to {args.out}")
    return 0
