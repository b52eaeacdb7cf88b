#!/usr/bin/env python3
"""Give every notebook its "Open in Colab" / "View on GitHub" badges and its install cell, from one repository URL.

Each chapter opens with its title, then two badges that open the same chapter on Colab and on GitHub; its Setup
section starts with one cell that installs colorlab from the repository when it is missing (on Colab, or in a fresh
environment) and does nothing in a checkout or after ``pip install colorlab``. Both are written here, from the
``Repository`` URL in ``pyproject.toml`` ([project.urls]), so they never drift apart:

    python scripts/notebook_links.py                     # rewrite badges and install cells from pyproject.toml
    python scripts/notebook_links.py --check             # exit 1, naming the notebooks that are out of date
    python scripts/notebook_links.py --repository https://github.com/YOU/colorlab   # a fork: new URL everywhere

Only the badge line of the first cell and the cell tagged ``colorlab-install`` are touched; outputs are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")
NOTEBOOKS = os.path.join(ROOT, "notebooks")
BRANCH = "main"
INSTALL_TAG = "colorlab-install"
_URL_LINE = re.compile(r'^Repository = "([^"]*)"$', re.MULTILINE)
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)$")

INSTALL_CELL = '''\
# Installs colorlab when it is missing (Colab, a fresh environment); in a checkout or after pip install: nothing.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("colorlab") is None:
    extras = "video" if "google.colab" in sys.modules else "notebooks,video"   # Colab has TensorFlow and Jupyter
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                           f"colorlab[{extras}] @ git+{REPOSITORY}"])'''


class LinkError(Exception):
    """A repository URL that cannot serve the badges, or a notebook without the cells the links go into."""


def repository(pyproject: str = PYPROJECT) -> str:
    """The ``Repository`` URL of ``[project.urls]`` in ``pyproject``."""
    with open(pyproject, encoding="utf-8") as handle:
        found = _URL_LINE.search(handle.read())
    if not found:
        raise LinkError(f"{pyproject} has no 'Repository = \"https://github.com/OWNER/NAME\"' line in [project.urls]")
    return check_repository(found.group(1))


def check_repository(url: str) -> str:
    """``url`` without a trailing slash, if it names a GitHub repository (Colab opens notebooks from GitHub only)."""
    url = url.rstrip("/")
    if not _GITHUB.match(url):
        raise LinkError(f"the repository must be https://github.com/OWNER/NAME (Colab opens notebooks from GitHub), "
                        f"got {url!r}")
    return url


def badges(url: str, notebook: str) -> str:
    """The badge line of ``notebook`` (a file name in ``notebooks/``)."""
    path = f"{url.removeprefix('https://github.com/')}/blob/{BRANCH}/notebooks/{notebook}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}) "
            f"[![View on GitHub](https://img.shields.io/badge/View_on-GitHub-181717?logo=github)]"
            f"(https://github.com/{path})")


def install_source(url: str) -> str:
    """The install cell's source for the repository ``url``."""
    return INSTALL_CELL.replace("{REPOSITORY}", url)


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def linked(notebook: dict, name: str, url: str) -> dict:
    """``notebook`` (nbformat JSON) with its badge line and install cell for ``url``; the input is not modified.

    Raises:
        LinkError: the first cell is not a markdown cell starting with a ``# `` title, or no markdown cell is the
            ``## Setup`` heading the install cell goes under.
    """
    notebook = json.loads(json.dumps(notebook))
    cells = notebook["cells"]
    first = cells[0]
    text = "".join(first["source"])
    if first["cell_type"] != "markdown" or not text.startswith("# "):
        raise LinkError(f"{name}: the first cell must be markdown starting with its '# ' title")
    title, _, rest = text.partition("\n")
    rest = rest.lstrip("\n")
    if "colab-badge.svg" in rest.partition("\n")[0]:
        rest = rest.partition("\n")[2].lstrip("\n")
    first["source"] = _lines(f"{title}\n\n{badges(url, name)}\n\n{rest}")

    installs = [i for i, cell in enumerate(cells) if INSTALL_TAG in cell.get("metadata", {}).get("tags", [])]
    if installs:
        cells[installs[0]]["source"] = _lines(install_source(url))
        return notebook
    setup = [i for i, cell in enumerate(cells)
             if cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith("## Setup")]
    if not setup:
        raise LinkError(f"{name}: no '## Setup' markdown cell to put the install cell under")
    cell = {"cell_type": "code", "execution_count": None, "id": INSTALL_TAG, "metadata": {"tags": [INSTALL_TAG]},
            "outputs": [], "source": _lines(install_source(url))}
    if "id" not in first:
        del cell["id"]
    cells.insert(setup[0] + 1, cell)
    return notebook


def _set_repository(url: str, pyproject: str) -> None:
    with open(pyproject, encoding="utf-8") as handle:
        text = handle.read()
    if not _URL_LINE.search(text):
        raise LinkError(f"{pyproject} has no 'Repository = \"...\"' line in [project.urls] to change")
    text = _URL_LINE.sub(f'Repository = "{url}"', text)
    with open(pyproject + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(pyproject + ".tmp", pyproject)


def main(argv: list[str] | None = None, *, notebooks: str = NOTEBOOKS, pyproject: str = PYPROJECT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    parser.add_argument("--repository", help="a new https://github.com/OWNER/NAME: written to pyproject.toml too")
    args = parser.parse_args(argv)
    try:
        if args.repository:
            url = check_repository(args.repository)
            if not args.check:
                _set_repository(url, pyproject)
        else:
            url = repository(pyproject)
        stale = []
        for name in sorted(os.listdir(notebooks)):
            if not name.endswith(".ipynb"):
                continue
            path = os.path.join(notebooks, name)
            with open(path, encoding="utf-8") as handle:
                notebook = json.load(handle)
            new = linked(notebook, name, url)
            if new == notebook:
                continue
            stale.append(name)
            if not args.check:
                with open(path + ".tmp", "w", encoding="utf-8") as handle:
                    json.dump(new, handle, indent=1, ensure_ascii=False)
                    handle.write("\n")
                os.replace(path + ".tmp", path)
    except (LinkError, OSError, json.JSONDecodeError) as error:
        print(f"notebook_links: {error}", file=sys.stderr)
        return 2
    if args.check and stale:
        print(f"notebook_links: out of date (run python scripts/notebook_links.py): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {url} into the notebooks"
          + ("" if args.check else f" ({len(stale)} changed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
