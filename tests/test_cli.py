"""The command line: ``python -m colorlab --version``, ``colorlab info``, a clean failure on a bad command, a parser
that loads no heavy module, and one module per command in ``colorlab.cli``.

The entry point runs in a subprocess, from the repository root, as a user would.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import colorlab
from colorlab.io import sample_paths

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, **env):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.run([sys.executable, "-m", "colorlab", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_version():
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"colorlab {colorlab.__version__}"


def test_no_command_prints_help():
    result = _run()
    assert result.returncode == 0
    assert "usage: colorlab" in result.stdout and "info" in result.stdout


def test_info_prints_the_backend_it_runs_on():
    # JAX: the lightest backend to start, and a value the command cannot have hard-coded as the default
    result = _run("info", KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr
    assert f"colorlab {colorlab.__version__}" in result.stdout
    assert re.search(r"^keras \d+\.\d+.* \(backend: jax\)$", result.stdout, re.MULTILINE), result.stdout
    match = re.search(r"^(\d+) sample photos in ", result.stdout, re.MULTILINE)
    assert match and int(match.group(1)) == len(sample_paths()), result.stdout


def test_info_on_the_default_backend():
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    result = subprocess.run([sys.executable, "-m", "colorlab", "info"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**environment, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"\(backend: (tensorflow|jax|torch|numpy|openvino)\)$", result.stdout, re.MULTILINE), result.stdout


def test_unknown_command_fails_with_one_error_line():
    result = _run("frobnicate", KERAS_BACKEND="jax")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("colorlab: error:") and "'frobnicate'" in errors[0]


def test_building_the_parser_stays_light():
    """``colorlab --help`` and usage errors answer without loading TensorFlow, Keras, JAX, PyAV or OpenCV."""
    code = ("import sys; from colorlab.cli import build_parser; build_parser(); "
            "print([m for m in ('keras', 'tensorflow', 'jax', 'av', 'cv2') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_command_is_one_module_with_add_parser_and_run():
    import argparse

    from colorlab.cli import COMMANDS

    for command in COMMANDS:
        subparsers = argparse.ArgumentParser().add_subparsers()
        command.add_parser(subparsers)
        (name, parser), = subparsers.choices.items()
        assert name == command.__name__.rsplit(".", 1)[1].replace("_", "-")
        assert parser.get_default("func") is command.run


def test_adapt_min_match_belongs_to_the_commands_that_know_each_target():
    """colorize and eval match each target against the reference; video adapts once per clip, so it has no gate."""
    from colorlab.cli import build_parser
    from colorlab.cli.common import adapt_options

    parser = build_parser()
    args = parser.parse_args(["colorize", "t.png", "-r", "r.png", "-o", "o.png", "--adapt", "20",
                              "--adapt-min-match", "0.44"])
    assert adapt_options(args) == {"min_match": 0.44}
    assert adapt_options(parser.parse_args(["colorize", "t.png", "-r", "r.png", "-o", "o.png"])) is None
    args = parser.parse_args(["eval", "--data", "corpus", "--adapt", "20", "--adapt-min-match", "0.5"])
    assert adapt_options(args) == {"min_match": 0.5}
    result = subprocess.run([sys.executable, "-m", "colorlab", "video", "in.mp4", "-r", "r.png", "-o", "o.mp4",
                             "--adapt-min-match", "0.4"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unrecognized arguments: --adapt-min-match" in result.stderr
