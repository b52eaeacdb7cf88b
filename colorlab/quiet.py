"""TensorFlow's start-up chatter, kept away from students and CLI users.

Importing TensorFlow 2.21 on a machine without a GPU writes a block of lines straight to file descriptor 2 from
C++, before Python's logging exists::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:… cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    I0000 00:00:… cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU …
    To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow …
    E0000 00:00:… cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: …

In a notebook they show up as a pink block of apparent errors above the first output; in a terminal, before a
command's output or its one-line error. ``TF_CPP_MIN_LOG_LEVEL`` does not remove them: Abseil ignores the log
level until it is initialised, which TensorFlow does not do.

:func:`install` (called by ``import colorlab``, which imports nothing heavy) adds an import hook that wraps the
first ``import tensorflow``, however it happens (Keras' TensorFlow backend, ``tf.data``, a student's own import):
file descriptor 2 is pointed at a temporary file while TensorFlow loads and lists its devices (where the CUDA probe
happens), and afterwards every captured line is written back to ``sys.stderr`` except the start-up notices
(:func:`is_startup_notice`). Real errors stay visible. Set ``COLORLAB_TENSORFLOW_LOGS=1`` to see everything.
Import ``colorlab`` before TensorFlow for this to apply. :func:`filtered_stderr` does the same around any block:
:class:`colorlab.step.GanStep` runs its step in it whenever the step may be traced, optimised or given kernels anew
(a new batch shape), and :meth:`colorlab.train.Trainer.gradients` its gradients.
Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile

__all__ = ["install", "is_startup_notice", "filtered_stderr", "ENV_SHOW_ALL"]

#: Set this environment variable to ``1`` to let every TensorFlow start-up line through.
ENV_SHOW_ALL = "COLORLAB_TENSORFLOW_LOGS"

_NOTICES = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|^I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "           # Abseil INFO lines: informational by definition
    r"|^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$"
    r"|^[EW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] ("       # known-harmless warnings/errors on a CPU machine
    r"failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|computation placer already registered"
    r"|remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout "   # Grappler: one fusion skipped
    r"|oneDNN supports DT_INT32 only on platforms with AVX-512\. Falling back to the default Eigen-based)"
)


def is_startup_notice(line: str) -> bool:
    """Whether ``line`` (one line of stderr, without its newline) is one of TensorFlow's harmless notices: Abseil's
    pre-initialisation warning, an INFO line, the CPU-feature hint, a missing-GPU/TensorRT message, Grappler's
    remapper giving up on one fusion when it first optimises a compiled training step (the graph then runs without
    that fusion; the same numbers), or oneDNN handing its first int32 operation (inside TensorFlow's gradient of a
    padding) to TensorFlow's own kernels."""
    return bool(_NOTICES.match(line))


@contextlib.contextmanager
def filtered_stderr():
    """Runs the block with file descriptor 2 (where TensorFlow's C++ writes) captured, then writes every captured
    line back to ``sys.stderr`` except the harmless notices (:func:`is_startup_notice`). With
    ``COLORLAB_TENSORFLOW_LOGS=1`` it captures nothing."""
    if os.environ.get(ENV_SHOW_ALL) == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if not is_startup_notice(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader: runs the module with file descriptor 2 captured, then replays what matters."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self.loader.exec_module(module)
            try:
                module.config.list_physical_devices()   # the CUDA probe, inside the capture
            except Exception:   # a broken device setup shows itself, loudly, on first use; not here
                pass

    def __getattr__(self, name):   # anything else TensorFlow's loader offers (resource readers, …)
        return getattr(self.loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the other finders and hands back its spec with a :class:`_QuietLoader`; once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)   # one import only; the finders below do the real search
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(fullname, path, target) if find_spec else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Wraps the first ``import tensorflow`` of this process (see the module docstring). Does nothing if TensorFlow
    is imported already, if the hook is in place, or if ``COLORLAB_TENSORFLOW_LOGS=1``."""
    if "tensorflow" in sys.modules or os.environ.get(ENV_SHOW_ALL) == "1":
        return
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
