"""Run a snippet on the JAX backend. Keras fixes its backend per process, so backend-neutrality tests use a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_on_jax(script: str, *args, timeout: int = 300, **env) -> str:
    """Runs ``python -c script args...`` with ``KERAS_BACKEND=jax`` on the CPU (plus ``env``) in the repository root;
    fails the test with the end of stderr if it exits non-zero. Returns its stdout.

    Skips the test when this process runs on JAX itself (the TensorFlow-free CI job): these are TensorFlow-vs-JAX
    checks, and they run in the TensorFlow job."""
    import keras

    if keras.backend.backend() == "jax":
        pytest.skip("this process is on JAX already; the TensorFlow-vs-JAX check runs in the TensorFlow job")
    environ = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", **env}
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, env=environ,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def last_json(stdout: str) -> dict:
    """The JSON object a snippet printed on its last line."""
    return json.loads(stdout.strip().splitlines()[-1])
