"""Execute notebooks top to bottom and store their outputs, the way they are committed.

    python scripts/execute_notebooks.py notebooks/01_lab_color_space.ipynb [...]   # full mode (COLORLAB_QUICK unset)
    python scripts/execute_notebooks.py --quick notebooks/*.ipynb

Runs each notebook in its own folder with nbclient and stores what a student would see: nothing is filtered
afterwards (TensorFlow's C++ start-up notices never reach the page, because every notebook imports colorlab before
Keras; see colorlab.quiet). A notebook is only rewritten (atomically) if it executed without error.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

def execute(path: Path, quick: bool, timeout: int) -> None:
    import nbformat
    from nbclient import NotebookClient

    if quick:
        os.environ["COLORLAB_QUICK"] = "1"
    else:
        os.environ.pop("COLORLAB_QUICK", None)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".ipynb", delete=False, encoding="utf-8") as tmp:
        nbformat.write(notebook, tmp)
    os.replace(tmp.name, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--quick", action="store_true", help="execute in quick mode (COLORLAB_QUICK=1)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell (default 1200)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        print(f"executing {path} ({'quick' if args.quick else 'full'} mode)", flush=True)
        execute(path.resolve(), args.quick, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
