"""A tiny fake Places365-layout folder for the data tests (colorlab.data, colorlab.packed): 3 classes, 6 train
photos (class 0: three, class 1: two, class 2: one, which must fall back to "same" pairs) and 2 val photos.

Also two folders for the tests of worker processes (``processes=N``), which import this module to unpickle them:
:class:`KerasFreeFolder` fails a batch when the worker has imported Keras, TensorFlow or JAX, and
:class:`DyingFolder` ends the worker process."""

import collections
import os
import pathlib
import sys

import numpy as np
from PIL import Image

from colorlab.data import Places365Folder

TRAIN = [("a", "alley", 0)] * 3 + [("b", "beach", 1)] * 2 + [("c", "canyon", 2)]
VAL_LABELS = [1, 0]


def photo(rng, height, width):
    """A smooth random colour image (uint8) with structure, so resizes and warps change it visibly."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    freq, phase = rng.uniform(2.0, 6.0, size=(3, 2)), rng.uniform(0, 2 * np.pi, size=3)
    channels = [0.5 + 0.45 * np.sin(freq[c, 0] * 2 * np.pi * x + freq[c, 1] * 2 * np.pi * y ** 2 + phase[c])
                for c in range(3)]
    return np.round(np.stack(channels, -1) * 255).astype(np.uint8)


def write_places_tree(root: pathlib.Path, train_sizes, val_size) -> pathlib.Path:
    """Writes the folder (JPEG quality 95, seeded) and returns ``root``.

    Args:
        root: the folder to create.
        train_sizes: ``(height, width)`` of every train photo, or a list of one per photo of :data:`TRAIN`.
        val_size: ``(height, width)`` of the val photos.
    """
    rng = np.random.default_rng(123)
    root.mkdir(parents=True, exist_ok=True)
    if isinstance(train_sizes, tuple):
        train_sizes = [train_sizes] * len(TRAIN)
    categories = sorted(set(TRAIN), key=lambda t: t[2])
    (root / "categories_places365.txt").write_text(
        "".join(f"/{letter}/{name} {label}\n" for letter, name, label in categories))
    counts, lines = collections.Counter(), []
    for (letter, name, label), (height, width) in zip(TRAIN, train_sizes):
        counts[name] += 1
        relative = f"{letter}/{name}/{counts[name]:08d}.jpg"
        (root / "data_256" / letter / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(rng, height, width)).save(root / "data_256" / relative, quality=95)
        lines.append(f"/{relative} {label}\n")
    (root / "places365_train_standard.txt").write_text("".join(lines))
    (root / "val_256").mkdir()
    val_lines = []
    for index, label in enumerate(VAL_LABELS, start=1):
        name = f"Places365_val_{index:08d}.jpg"
        Image.fromarray(photo(rng, *val_size)).save(root / "val_256" / name, quality=95)
        val_lines.append(f"{name} {label}\n")
    (root / "places365_val.txt").write_text("".join(val_lines))
    return root


def write_sample_val_folder(root: pathlib.Path, categories, samples, size) -> pathlib.Path:
    """A Places365-layout folder whose val split holds sample photos (data/samples), for the scripts' tests.

    Args:
        root: the folder (created if needed).
        categories: category paths in label order, e.g. ``["/a/animal", "/l/landscape"]``.
        samples: ``(sample name, label)`` per val photo, e.g. ``[("cat_1", 0), ("lake_1", 1)]``.
        size: ``(width, height)`` each photo is resized to (box filter).
    """
    from colorlab.io import sample_paths

    root.mkdir(parents=True, exist_ok=True)
    (root / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(categories)))
    (root / "val_256").mkdir()
    photos = {p.stem: p for p in sample_paths()}
    lines = []
    for index, (name, label) in enumerate(samples, start=1):
        file = f"Places365_val_{index:08d}.jpg"
        Image.open(photos[name]).convert("RGB").resize(size, Image.Resampling.BOX).save(root / "val_256" / file)
        lines.append(f"{file} {label}\n")
    (root / "places365_val.txt").write_text("".join(lines))
    return root


class KerasFreeFolder(Places365Folder):
    """A Places365Folder whose photos cannot be read in a process that has imported Keras, TensorFlow or JAX."""

    def photo(self, split, index):
        heavy = sorted(name for name in ("keras", "tensorflow", "jax") if name in sys.modules)
        if heavy:
            raise RuntimeError(f"the data worker process imported {', '.join(heavy)}")
        return super().photo(split, index)


class DyingFolder(Places365Folder):
    """A Places365Folder whose first photo read ends the process with exit code 3 (a worker that dies)."""

    def photo(self, split, index):
        os._exit(3)
