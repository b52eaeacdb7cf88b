"""scripts/notebook_links.py: every notebook's Colab/GitHub badges and install cell come from pyproject's URL."""

import glob
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import types

import pytest

from scripts_loader import load_script

links = load_script("notebook_links")


def _copy(tmp_path, names=("00_tour.ipynb", "05_mcn_decoder.ipynb")):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in names:
        shutil.copy(f"{links.NOTEBOOKS}/{name}", folder / name)
    pyproject = tmp_path / "pyproject.toml"
    shutil.copy(links.PYPROJECT, pyproject)
    return folder, pyproject


def test_every_notebook_has_its_title_badges_and_install_cell_for_the_repository_on_record(capsys):
    assert links.main(["--check"]) == 0, capsys.readouterr().err
    url = links.repository()
    for path in sorted(glob.glob(f"{links.NOTEBOOKS}/*.ipynb")):
        name = path.rsplit("/", 1)[1]
        cells = json.load(open(path, encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]).split("\n")
        assert first[0].startswith(f"# {name[:2]} · "), name
        colab = f"https://colab.research.google.com/github/{url[len('https://github.com/'):]}/blob/main/notebooks/{name}"
        assert f"({colab})" in first[2] and f"({url}/blob/main/notebooks/{name})" in first[2], name
        kinds = [(cell["cell_type"], cell["metadata"].get("tags", [])) for cell in cells]
        install = kinds.index(("code", [links.INSTALL_TAG]))
        assert "".join(cells[install - 1]["source"]).startswith("## Setup"), name
        later = "\n".join("".join(cell["source"]) for cell in cells[install + 1:] if cell["cell_type"] == "code")
        earlier = "\n".join("".join(cell["source"]) for cell in cells[:install] if cell["cell_type"] == "code")
        assert "import colorlab" in later, name
        assert not re.search(r"^\s*(import|from) colorlab", earlier, re.MULTILINE), name


def test_check_names_the_stale_notebooks_and_a_rewrite_brings_them_back_keeping_the_outputs(tmp_path, capsys):
    folder, pyproject = _copy(tmp_path)
    before = json.loads((folder / "05_mcn_decoder.ipynb").read_text())
    stale = json.loads(json.dumps(before))
    stale["cells"] = [cell for cell in stale["cells"] if links.INSTALL_TAG not in cell["metadata"].get("tags", [])]
    title, _, rest = "".join(stale["cells"][0]["source"]).partition("\n\n")
    stale["cells"][0]["source"] = [title + "\n\n" + rest.partition("\n\n")[2]]        # no badge line
    (folder / "05_mcn_decoder.ipynb").write_text(json.dumps(stale, indent=1, ensure_ascii=False) + "\n")

    assert links.main(["--check"], notebooks=str(folder), pyproject=str(pyproject)) == 1
    assert "05_mcn_decoder.ipynb" in capsys.readouterr().err
    assert links.main([], notebooks=str(folder), pyproject=str(pyproject)) == 0
    after = json.loads((folder / "05_mcn_decoder.ipynb").read_text())
    assert after["cells"][0]["source"] == before["cells"][0]["source"]
    assert [cell.get("outputs") for cell in after["cells"]] == [cell.get("outputs") for cell in before["cells"]]
    assert links.main(["--check"], notebooks=str(folder), pyproject=str(pyproject)) == 0


def test_a_fork_rewrites_pyproject_badges_and_install_cell_and_a_bad_url_changes_nothing(tmp_path, capsys):
    folder, pyproject = _copy(tmp_path)
    fork = "https://github.com/some-teacher/colorlab-fall27"
    assert links.main(["--repository", fork + "/"], notebooks=str(folder), pyproject=str(pyproject)) == 0
    assert links.repository(str(pyproject)) == fork
    text = (folder / "00_tour.ipynb").read_text()
    assert "some-teacher/colorlab-fall27/blob/main/notebooks/00_tour.ipynb" in text
    assert f"git+{fork}" in text and "colorlab-course/colorlab" not in text

    snapshot = {path.name: path.read_bytes() for path in [*folder.iterdir(), pyproject]}
    for bad in ("http://github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a", "git@github.com:a/b"):
        assert links.main(["--repository", bad], notebooks=str(folder), pyproject=str(pyproject)) == 2
        assert "https://github.com/OWNER/NAME" in capsys.readouterr().err
    assert snapshot == {path.name: path.read_bytes() for path in [*folder.iterdir(), pyproject]}


def test_a_notebook_without_a_title_or_setup_section_is_refused_in_one_line(tmp_path, capsys):
    folder, pyproject = _copy(tmp_path, names=("00_tour.ipynb",))
    notebook = json.loads((folder / "00_tour.ipynb").read_text())
    for cell in notebook["cells"]:
        if "".join(cell["source"]).startswith("## Setup"):
            cell["source"] = ["## Getting ready"]
        if links.INSTALL_TAG in cell["metadata"].get("tags", []):
            cell["metadata"]["tags"] = []
    (folder / "00_tour.ipynb").write_text(json.dumps(notebook))
    assert links.main([], notebooks=str(folder), pyproject=str(pyproject)) == 2
    assert "no '## Setup' markdown cell" in capsys.readouterr().err


@pytest.mark.parametrize("colab", [False, True])
def test_the_install_cell_installs_from_the_repository_only_when_colorlab_is_missing(monkeypatch, colab):
    source = links.install_source("https://github.com/o/r")
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda command: calls.append(command))
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(source, "install-cell", "exec"), {})                  # colorlab is installed here
    assert calls == []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    exec(compile(source, "install-cell", "exec"), {})
    extras = "video" if colab else "notebooks,video"
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", f"colorlab[{extras}] @ git+https://github.com/o/r"]]
