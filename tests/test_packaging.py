"""Packaging invariants: one source of truth for dependencies, a light import, a CI script that runs the README."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section(env):
    for entry in env["dependencies"]:
        if isinstance(entry, dict) and "pip" in entry:
            return entry["pip"]
    raise AssertionError("environment.yml has no pip section")


def test_environment_installs_the_package_with_every_extra():
    extras = set(_pyproject()["project"]["optional-dependencies"])
    editable = [line for line in _pip_section(_environment()) if line.startswith("-e ")]
    assert len(editable) == 1, "environment.yml must install the package once, with `-e .[extras]`"
    match = re.fullmatch(r"-e \.\[([\w,\s-]+)\]", editable[0])
    assert match, f"unexpected pip line {editable[0]!r}"
    assert set(name.strip() for name in match.group(1).split(",")) == extras


def test_environment_names_no_dependency_that_pyproject_lacks():
    """Anything environment.yml pins besides python/pip must come from pyproject, so the two cannot drift."""
    project = _pyproject()["project"]
    declared = project["dependencies"] + [d for group in project["optional-dependencies"].values() for d in group]
    names = {re.split(r"[<>=!\[; ]", d, maxsplit=1)[0].lower() for d in declared}
    env = _environment()
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_lines = [line for line in _pip_section(env) if not line.startswith("-e ")]
    for spec in conda + pip_lines:
        name = re.split(r"[<>=!\[ ]", spec, maxsplit=1)[0].lower()
        assert name in names | {"python", "pip"}, f"{name} is in environment.yml but not in pyproject.toml"


def test_environment_python_satisfies_requires_python():
    python = next(d for d in _environment()["dependencies"] if isinstance(d, str) and d.startswith("python"))
    major, minor = (int(x) for x in python.split("=")[1].split(".")[:2])
    lower = re.search(r">=\s*(\d+)\.(\d+)", _pyproject()["project"]["requires-python"])
    assert (major, minor) >= (int(lower.group(1)), int(lower.group(2)))


def test_console_script_is_the_cli_main():
    import importlib

    from colorlab.cli import main

    module, name = _pyproject()["project"]["scripts"]["colorlab"].split(":")
    assert getattr(importlib.import_module(module), name) is main


def test_import_colorlab_is_light():
    code = "import sys, colorlab; heavy = [m for m in ('tensorflow', 'keras', 'jax', 'matplotlib') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_course_package_is_light_and_maps_every_chapter_module():
    """``import colorlab.course`` imports none of its modules; its docstring names each one it holds."""
    code = "import sys, colorlab.course; print([m for m in ('keras', 'matplotlib') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    import colorlab.course

    modules = sorted(p.stem for p in (ROOT / "colorlab" / "course").glob("*.py") if p.stem != "__init__")
    assert modules and all(f"colorlab.course.{m}" in colorlab.course.__doc__ for m in modules)


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = 'python -m pip install -e ".[notebooks,video,dev]"'
    test = "COLORLAB_QUICK=1 python -m pytest"
    assert install in readme and test in readme
    assert install.replace('"', "") in ci.replace('"', "")
    assert test in ci


def _requirement_names(requirements, extras):
    """Project names a list of requirements asks for, following self-references (``colorlab[a,b]``) into extras."""
    names = set()
    for requirement in requirements:
        name, _, rest = requirement.partition("[")
        name = re.split(r"[<>=!; ]", name, maxsplit=1)[0].lower()
        if name == "colorlab":
            for extra in rest.split("]")[0].split(","):
                names |= _requirement_names(extras[extra.strip()], extras)
        else:
            names.add(name)
    return names


def test_the_jax_extra_installs_no_tensorflow_and_the_readme_install_does():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    jax_install = _requirement_names(project["dependencies"] + extras["jax"] + extras["video"] + extras["test"], extras)
    assert "jax" in jax_install and "keras" in jax_install
    assert not {name for name in jax_install if name.startswith("tensor")}, jax_install
    readme_install = _requirement_names(project["dependencies"] + extras["notebooks"] + extras["video"]
                                        + extras["dev"], extras)
    assert {"tensorflow", "tensorflow-datasets", "jax", "nbval"} <= readme_install
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[jax,video,test]"' in ci and "KERAS_BACKEND=jax" in ci


def test_every_notebook_has_a_quick_mode_parameters_cell():
    import json

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters'"
        assert "COLORLAB_QUICK" in "".join(tagged[0]["source"]), f"{path.name}: parameters cell ignores COLORLAB_QUICK"


def test_the_packages_list_names_every_package_of_the_tree():
    """pyproject lists packages by hand (to map data/ into the wheel): a new subpackage must be added there."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "colorlab").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    bundled = {f"colorlab.bundled.{p.name}" for p in (ROOT / "data").iterdir() if p.is_dir()}
    assert bundled <= listed, f"add {sorted(bundled - listed)} to [tool.setuptools] packages in pyproject.toml"


def test_a_wheel_carries_the_data_and_colours_a_photo_outside_the_checkout(tmp_path):
    """Builds a wheel from a copy of the sources, installs it (without dependencies: this environment has them)
    into a folder outside the checkout, and from there finds the samples and the demo weights, colours a photo
    through the command line and runs the tour (notebook 00) in quick mode."""
    import shutil

    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("colorlab", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist, site, work = tmp_path / "dist", tmp_path / "site", tmp_path / "work"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(source)], check=True, timeout=900)
    (wheel,) = dist.glob("colorlab-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)], check=True,
                   timeout=300)
    shutil.rmtree(source)
    work.mkdir()
    script = (
        "import pathlib, sys\n"
        "import colorlab\n"
        "from colorlab.io import sample_paths\n"
        "from colorlab.models import DEMO_WEIGHTS\n"
        "samples = {p.stem: p for p in sample_paths()}\n"
        "print(pathlib.Path(colorlab.__file__).parent.parent, len(samples), DEMO_WEIGHTS.is_file())\n"
        "from colorlab.cli import main\n"
        "sys.exit(main(['colorize', str(samples['lake_1']), '-r', str(samples['lake_2']), '-o', 'out.png']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [str(site), "30", "True"]
    assert (work / "out.png").stat().st_size > 10_000

    # The tour, run from that folder on the installed wheel in quick mode: its install cell finds colorlab and
    # installs nothing, and every sample and the demo weights come from the wheel.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    tour = nbformat.read(ROOT / "notebooks" / "00_tour.ipynb", as_version=4)
    tour.cells.append(nbformat.v4.new_code_cell("import pathlib\nimport colorlab\n"
                                                "print(pathlib.Path(colorlab.__file__).parent.parent)"))
    previous = {key: os.environ.get(key) for key in ("PYTHONPATH", "COLORLAB_QUICK")}
    os.environ.update(PYTHONPATH=str(site), COLORLAB_QUICK="1")
    try:
        nbclient.NotebookClient(tour, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(work)}}).execute()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert tour.cells[-1].outputs[0]["text"].strip() == str(site)
