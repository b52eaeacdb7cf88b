"""colorlab: learn exemplar-based colorization by building Gray2ColorNet.

Importing ``colorlab`` is cheap: it does not import TensorFlow, Keras or JAX.
Submodules (``colorlab.color``, ``colorlab.io``, ``colorlab.models``, ...) are
imported on first use. It does arrange for TensorFlow's C++ start-up notices to be
kept off stderr when TensorFlow is imported later (:mod:`colorlab.quiet`).
"""

import importlib

from colorlab import quiet
from colorlab.errors import ColorlabError, ConfigError, DatasetError, ImageLoadError, OutputExistsError

quiet.install()

__version__ = "0.1.0"

_SUBMODULES = ("adapt", "baselines", "bundle", "cie", "color", "course", "data", "distribute", "events", "exercises",
               "files", "inference", "io", "locks", "losses", "metrics", "models", "packed", "places365", "quiet",
               "step", "train", "video")

__all__ = ["ColorlabError", "ConfigError", "DatasetError", "ImageLoadError", "OutputExistsError", "__version__",
           "colorize", "colorize_video", *_SUBMODULES]


def __getattr__(name):
    if name == "colorize":  # the main entry point: colorlab.colorize(target, reference)
        return importlib.import_module("colorlab.inference").colorize
    if name == "colorize_video":  # colorlab.colorize_video(video, reference, output)
        return importlib.import_module("colorlab.video").colorize_video
    if name in _SUBMODULES:
        return importlib.import_module(f"colorlab.{name}")
    raise AttributeError(f"module 'colorlab' has no attribute {name!r}")
