"""Test-suite wide settings shared by the unit tests and nbval.

* Quick mode: notebooks read COLORLAB_QUICK; the test command sets it, and so do we, so a bare
  ``pytest`` never starts a full-size run by accident. Kernels nbval starts inherit this environment.
* nbval compares only the cells tagged ``nbval-check-output`` (``--nbval-lax`` in pyproject.toml);
  stderr and HTML/JS widget payloads are never compared.
"""

import os

os.environ.setdefault("COLORLAB_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    if getattr(collector, "fspath", None) is not None and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr", "text/html", "application/javascript",
                                   "application/vnd.jupyter.widget-view+json")
