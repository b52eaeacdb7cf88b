"""Data: Places365-layout folders, target/reference pairs, and batches for training.

Three sources of photos give the same stream, so the code that trains is the same everywhere:

* :class:`Places365Folder` reads Places365's own layout (``data_256/<letter>/<category>/NNNNNNNN.jpg`` plus the
  ``categories_places365.txt`` / ``places365_train_standard.txt`` / ``places365_val.txt`` lists). That is the layout
  of the official "small images" download and of the offline corpus ``scripts/build_corpus.py`` builds.
* :func:`places365_tfds` wraps TFDS's ``places365_small`` builder for those who can download it.
* :class:`PairDataset` turns a folder into ``(inputs, targets)`` batches: a ``keras.utils.PyDataset`` (NumPy
  only, any Keras backend, no TensorFlow needed) and, for the TensorFlow path, :meth:`PairDataset.as_tf_dataset`
  (the same batches through ``tf.data``). :class:`colorlab.packed.PackedPairDataset` gives the same batches from
  a corpus packed into one file.

Pairs (DESIGN.md, "Pairs"). Exemplar-based colorization needs a *reference* for every *target*. The paper
(Lu et al., ACM MM 2020) trains with references of similar content; its release has no training code, so how
pairs are drawn here is ours:

* ``"other"``: the reference is a different image of the target's class (the class is the "target set /
  reference set" link: same scene category, different photo). The model has to transfer colours between
  photos that do not line up.
* ``"same"``: the reference is the target photo itself under strong geometric augmentation
  (:func:`augment_reference`: a crop of another region, a flip, a mild perspective warp). The colours are
  exactly right but nothing lines up pixel for pixel, so the model cannot just copy the reference.

``make_pairs`` mixes both with ``mode_ratio`` (the fraction of ``"other"`` pairs). A class with a single image
has no other image to offer, so its targets always get ``"same"`` pairs.

The model's normalisation (the official code's): ``target_l = L / 50 - 1`` in [-1, 1],
``target_ab = ab / 110``, ``reference_lab = (L / 50 - 1, a / 110, b / 110)``, computed by
:func:`colorlab.cie.normalised_lab` (the formulas of :mod:`colorlab.color`, in NumPy). Resizing (ours): the shorter side is
scaled to the working size and the centre is cropped, so photos are never distorted (the official code's options
default to scaling the shorter side to 144 and cropping 128; its test options set both to 128 and its test script
passes ``--preprocess none``, which keeps the target's own size rounded to a multiple of 8; the reference is always
resized to exactly 128 x 128, which distorts non-square references).

Feeding a GPU (ours). A batch is a pure function of ``(seed, epoch, index)``, computed with NumPy and Pillow
only, so it can be prepared anywhere and come out the same bit for bit: ``PairDataset`` keeps the epoch-independent
work (the normalised Lab images of targets and ``"other"`` references) in a cache, spreads one batch's examples over
``threads``, and with ``processes=N`` has N worker processes prepare whole batches ahead, in order, each returned
through shared memory (``benchmarks/bench_data.py`` measures them).

Importing this module imports neither Keras nor TensorFlow, and neither does preparing a batch: Keras is imported
when :class:`PairDataset` is first used (``colorlab.data.PairDataset`` is built on first access, because it
subclasses ``keras.utils.PyDataset``); TensorFlow is needed only by :meth:`PairDataset.as_tf_dataset` and
:func:`places365_tfds` (and, on the TensorFlow backend, by Keras itself). Worker processes import NumPy, Pillow
and this module.
"""

from __future__ import annotations

import functools
import math
import os
import pathlib
import pickle
import struct
import sys
import threading
import weakref
from typing import Sequence

import numpy as np
from PIL import Image

from colorlab.cie import normalised_lab
from colorlab.errors import ColorlabError, ConfigError, DatasetError

__all__ = ["DatasetError", "Places365Folder", "SPLITS", "MODES", "DEFAULT_CACHE_BYTES", "split_name", "make_pairs",
           "augment_reference", "check_side", "resize_and_crop", "prepare_example", "PairDataset",
           "places365_tfds"]

#: Split names :meth:`Places365Folder.split` accepts ("validation" is an alias of "val", TFDS's name). "test" is
#: the offline corpus's labelled test split (Places365's own test labels are not public).
SPLITS = ("train", "val", "test")
#: Pair modes, see the module docstring.
MODES = ("other", "same")
#: Default size of a dataset's cache of epoch-independent Lab images, in bytes (4 GiB: the whole offline corpus at
#: 128 px takes 84 MB; 4 GiB holds ~21,000 photos at 128 px).
DEFAULT_CACHE_BYTES = 4 * 2 ** 30

_CATEGORIES_FILE = "categories_places365.txt"
_LISTS = {"train": ("places365_train_standard.txt", "data_256"), "val": ("places365_val.txt", "val_256"),
          "test": ("places365_test.txt", "test_256")}



# ------------------------------------------------------------------------------------------------- the folder

def split_name(split: str) -> str:
    """The canonical name of a split: ``"train"``, ``"val"`` or ``"test"`` (``"validation"``, TFDS's name, gives
    ``"val"``).

    Raises:
        ConfigError: any other name.
    """
    if split == "validation":
        return "val"
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS} (or 'validation'), got {split!r}")
    return split


def _read_pairs(path: pathlib.Path) -> list[tuple[int, str, int]]:
    """Reads a ``NAME INDEX`` list; returns (line number, name, index). Raises DatasetError on bad lines."""
    if not path.is_file():
        raise DatasetError(f"{path}: list file not found (a Places365 folder needs it; build the offline corpus "
                           "with `python scripts/build_corpus.py` or unpack Places365's small images there)")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise DatasetError(f"{path}, line {number}: expected 'NAME INDEX' (a name, a space, an integer), "
                                   f"got {line!r}")
            rows.append((number, parts[0], int(parts[1])))
    if not rows:
        raise DatasetError(f"{path}: the list is empty")
    return rows


class Places365Folder:
    """A folder in Places365's layout (the official small-images download, or the offline corpus).

    Layout::

        ROOT/categories_places365.txt       "/a/airfield 0"               one line per category, 0..C-1 in order
        ROOT/places365_train_standard.txt   "/a/airfield/00000001.jpg 0"  train list (paths under data_256/)
        ROOT/places365_val.txt              "Places365_val_00000001.jpg 0" val list (files in val_256/)
        ROOT/data_256/a/airfield/00000001.jpg
        ROOT/val_256/Places365_val_00000001.jpg
        ROOT/places365_test.txt             "Places365_test_00000001.jpg 0" test list, labelled (files in test_256/)
        ROOT/test_256/Places365_test_00000001.jpg

    The offline corpus (``scripts/build_corpus.py``) has all three splits: train to learn, val (dev) to tune, test
    to report once. Places365's own download has a test list without labels, which :meth:`split` refuses.

    Attributes:
        root: the folder (``pathlib.Path``).
        categories: category names in label order, without the letter folder: ``"/a/airfield"`` -> ``"airfield"``,
            ``"/a/apartment_building/outdoor"`` -> ``"apartment_building/outdoor"``.
        category_paths: the names exactly as the list gives them (``"/a/airfield"``).

    Lists are read when the folder is opened (categories) or on the first :meth:`split` call (one split), and
    checked line by line; image files are not opened until they are loaded (Places365 has 1.8 million of them),
    and a missing image raises :class:`colorlab.errors.ImageLoadError` naming it then.

    Raises:
        DatasetError: the folder or ``categories_places365.txt`` is missing, or a line is malformed (the message
            names the file and the line).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a folder (expected a Places365-layout folder; build the offline "
                               "corpus with `python scripts/build_corpus.py` or see data/README.md)")
        path = self.root / _CATEGORIES_FILE
        rows = _read_pairs(path)
        self.category_paths: list[str] = []
        for expected, (number, name, index) in enumerate(rows):
            if index != expected:
                raise DatasetError(f"{path}, line {number}: category index {index}, expected {expected} "
                                   "(indices must run 0, 1, 2, ... in file order)")
            if not name.startswith("/") or len(name.split("/")) < 3:
                raise DatasetError(f"{path}, line {number}: category {name!r} should look like '/a/airfield'")
            self.category_paths.append(name)
        self.categories: list[str] = [name.split("/", 2)[2] for name in self.category_paths]
        self._splits: dict[str, list[tuple[pathlib.Path, int]]] = {}

    def __repr__(self) -> str:
        return f"Places365Folder({str(self.root)!r}, {len(self.categories)} categories)"

    def split(self, split: str = "train") -> list[tuple[pathlib.Path, int]]:
        """The images of one split.

        Args:
            split: ``"train"``, ``"val"`` (``"validation"`` is accepted too) or ``"test"``.

        Returns:
            A list of ``(path, label)``: ``path`` a ``pathlib.Path`` to the JPEG, ``label`` an int in
            ``[0, len(categories))``, in the list file's order. The list is cached; do not modify it.

        Raises:
            ConfigError: unknown split name.
            DatasetError: the list file is missing or empty, a line is malformed, or a label is out of range
                (the message names the file and the line).
        """
        split = split_name(split)
        if split not in self._splits:
            list_name, folder = _LISTS[split]
            path = self.root / list_name
            try:
                rows = _read_pairs(path)
            except DatasetError as error:
                if split != "test":
                    raise
                raise DatasetError(f"{error} (the test split needs a labelled list, as the offline corpus has; "
                                   "Places365's own test labels are not public)") from None
            items = []
            for number, name, label in rows:
                if not 0 <= label < len(self.categories):
                    raise DatasetError(f"{path}, line {number}: label {label} is out of range "
                                       f"[0, {len(self.categories)}) of {_CATEGORIES_FILE}")
                items.append((self.root / folder / name.lstrip("/"), label))
            self._splits[split] = items
        return self._splits[split]

    def photo(self, split: str, index: int) -> np.ndarray:
        """Photo ``index`` of ``split`` (its place in :meth:`split`), decoded: float32 ``(H, W, 3)`` in [0, 1], as
        :func:`colorlab.io.load_image` gives it. What :class:`PairDataset` reads.

        Raises:
            ImageLoadError: the file is missing or cannot be decoded (the message names it).
        """
        from colorlab import io

        return io.load_image(self.split(split)[index][0])


# ------------------------------------------------------------------------------------------------------ pairs

def _check_items(items, name="items") -> np.ndarray:
    """Returns the labels of ``items`` (a sequence of (path, label)) as an int64 array."""
    try:
        labels = np.array([int(label) for _, label in items], dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be a sequence of (path, label) pairs: {error}") from None
    if labels.size == 0:
        raise ConfigError(f"{name} is empty: there is nothing to pair")
    return labels


def make_pairs(items: Sequence[tuple], *, mode_ratio: float = 0.5, seed: int | Sequence[int] = 0
               ) -> list[tuple[int, int, str]]:
    """Draws one reference for every target: a list of ``(target_index, reference_index, mode)``.

    Args:
        items: ``(path, label)`` pairs, e.g. ``Places365Folder(root).split("train")``; only labels are used.
        mode_ratio: the fraction of pairs of mode ``"other"`` (reference = a different image of the same class),
            in [0, 1]; the rest are ``"same"`` (reference = the target itself, to be augmented with
            :func:`augment_reference`). Exactly ``round(mode_ratio * len(items))`` targets get ``"other"`` as
            long as enough targets have a class-mate; targets whose class has a single image always get ``"same"``.
        seed: an int (or a sequence of ints, e.g. ``(seed, epoch)``); the same seed gives the same pairs.

    Returns:
        ``len(items)`` tuples, one per target in item order: ``(i, j, mode)`` with ``j != i`` and
        ``label[j] == label[i]`` for ``"other"``, and ``j == i`` for ``"same"``.

    Raises:
        ConfigError: ``mode_ratio`` outside [0, 1], or items that are not (path, label) pairs.
    """
    if isinstance(mode_ratio, bool) or not isinstance(mode_ratio, (int, float)) or not 0.0 <= mode_ratio <= 1.0:
        raise ConfigError(f"make_pairs: mode_ratio must be a number in [0, 1], got {mode_ratio!r}")
    labels = _check_items(items)
    rng = np.random.default_rng(seed)
    count = len(labels)
    members: dict[int, np.ndarray] = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
    eligible = np.array([i for i in range(count) if len(members[int(labels[i])]) > 1], dtype=np.int64)
    n_other = min(int(round(mode_ratio * count)), len(eligible))
    other = np.zeros(count, dtype=bool)
    if n_other:
        other[rng.choice(eligible, size=n_other, replace=False)] = True
    pairs = []
    for i in range(count):
        if other[i]:
            mates = members[int(labels[i])]
            k = int(rng.integers(len(mates) - 1))
            j = int(mates[k] if mates[k] < i else mates[k + 1])  # uniform over the class-mates except i
            pairs.append((i, j, "other"))
        else:
            pairs.append((i, i, "same"))
    return pairs


# ------------------------------------------------------------------------------------------------ augmentation

def _as_unit_float(rgb, name: str) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ConfigError(f"{name} must have shape (H, W, 3), got {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ConfigError(f"{name} must be uint8 or float in [0, 1], got dtype {rgb.dtype}")
    return rgb.astype(np.float32, copy=False)


def _perspective_coefficients(output_corners: np.ndarray, source_corners: np.ndarray) -> tuple:
    """The 8 coefficients of Pillow's PERSPECTIVE transform mapping output pixel coordinates to source ones.

    Pillow samples the source at ``((a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (g x + h y + 1))`` for
    each output pixel ``(x, y)``; four corner correspondences give 8 linear equations in ``a..h``.
    """
    rows, rhs = [], []
    for (x, y), (u, v) in zip(output_corners, source_corners):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return tuple(np.linalg.solve(np.asarray(rows, np.float64), np.asarray(rhs, np.float64)))


def _transform_float(rgb: np.ndarray, size: tuple[int, int], method, data, resample) -> np.ndarray:
    """Applies a Pillow transform channel by channel in 32-bit float ("F" images), so nothing is quantised."""
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(rgb[..., c]), mode="F")
                           .transform(size, method, data, resample=resample), dtype=np.float32)
                for c in range(rgb.shape[-1])]
    return np.stack(channels, axis=-1)


def augment_reference(rgb, rng: np.random.Generator, *, min_crop: float = 0.6, max_crop: float = 0.85,
                      warp: float = 0.06, flip_probability: float = 0.5) -> np.ndarray:
    """Strong geometric augmentation that makes a ``"same"``-mode reference from its target photo.

    One perspective resampling (Pillow, bilinear, in float) does the crop and the warp together:

    1. a **crop of another region**: a window whose height and width are ``min_crop..max_crop`` of the image's,
       at a random position; it overlaps the target (the whole image) by most of its area, so the colours are
       there, but shifted and rescaled;
    2. a **mild warp**: each corner of the window moves by up to ``warp`` of the image's width/height,
       independently, which makes a random perspective warp; the moved corners are kept inside the image, so
       no border or padding appears;
    3. a **horizontal flip** with probability ``flip_probability``.

    The result is scaled back to the input's size. All numbers are ours (the paper's training code is not
    released): strong enough that pixels never line up with the target, mild enough that the content stays
    recognisable. Photometric changes are left out on purpose: the reference's colours are what is transferred.

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1] (or uint8).
        rng: a ``numpy.random.Generator``; the same generator state gives the same output.
        min_crop, max_crop: range of the window's side as a fraction of the image's, ``0 < min <= max <= 1``.
        warp: largest corner move as a fraction of the image side, in [0, 0.25].
        flip_probability: probability of a left-right flip, in [0, 1].

    Returns:
        float32 ``(H, W, 3)`` in [0, 1]: the same size as ``rgb``.

    Raises:
        ConfigError: bad shape/dtype, ``rng`` not a Generator, or parameters out of range.
    """
    image = _as_unit_float(rgb, "augment_reference: rgb")
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"augment_reference: rng must be a numpy.random.Generator "
                          f"(numpy.random.default_rng(seed)), got {type(rng).__name__}")
    if not 0.0 < min_crop <= max_crop <= 1.0:
        raise ConfigError(f"augment_reference: need 0 < min_crop <= max_crop <= 1, got {min_crop}, {max_crop}")
    if not 0.0 <= warp <= 0.25:
        raise ConfigError(f"augment_reference: warp must lie in [0, 0.25], got {warp}")
    if not 0.0 <= flip_probability <= 1.0:
        raise ConfigError(f"augment_reference: flip_probability must lie in [0, 1], got {flip_probability}")
    height, width = image.shape[:2]
    side_h = height * rng.uniform(min_crop, max_crop)
    side_w = width * rng.uniform(min_crop, max_crop)
    top = rng.uniform(0.0, height - side_h)
    left = rng.uniform(0.0, width - side_w)
    window = np.array([[left, top], [left + side_w, top], [left + side_w, top + side_h], [left, top + side_h]])
    jitter = rng.uniform(-warp, warp, size=(4, 2)) * np.array([width, height])
    source = np.clip(window + jitter, 0.0, [width, height])
    output = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    coefficients = _perspective_coefficients(output, source)
    out = _transform_float(image, (width, height), Image.Transform.PERSPECTIVE, coefficients,
                           Image.Resampling.BILINEAR)
    if rng.uniform() < flip_probability:
        out = out[:, ::-1]
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


# ------------------------------------------------------------------------------------------------- examples

def check_side(value, name: str) -> int:
    """``value`` as an int when it is a usable working side in pixels (an integer >= 8).

    Raises:
        ConfigError: anything else; the message names ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 8:
        raise ConfigError(f"{name} must be an integer >= 8, got {value!r}")
    return int(value)


def resize_and_crop(rgb, size: int) -> np.ndarray:
    """Scales the shorter side to ``size`` (bicubic, in float, aspect ratio kept) and crops the centre square.

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1] (or uint8).
        size: output side in pixels (>= 8).

    Returns:
        float32 ``(size, size, 3)`` in [0, 1]. An input that is already ``size x size`` is returned unchanged
        (as float32), so its L reaches the model exactly.
    """
    image = _as_unit_float(rgb, "resize_and_crop: rgb")
    size = check_side(size, "resize_and_crop: size")
    height, width = image.shape[:2]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        image = _resize_float(image, new_h, new_w)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        image = np.clip(image[top:top + size, left:left + size], 0.0, 1.0)
    return np.ascontiguousarray(image, dtype=np.float32)


def _resize_float(image: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """Bicubic resize per channel in 32-bit float (Pillow "F" images; antialiased when shrinking)."""
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]), mode="F")
                                .resize((new_w, new_h), Image.Resampling.BICUBIC), dtype=np.float32)
                     for c in range(image.shape[-1])], axis=-1)


def prepare_example(target_rgb, reference_rgb, size: int, reference_size: int | None = None) -> dict:
    """One training example in the model's normalisation.

    Both photos are resized with :func:`resize_and_crop` (shorter side to the working size, centre crop), then
    converted with :func:`colorlab.cie.normalised_lab` (CIELAB, normalised as the official code does: ``L/50 - 1``,
    ``ab/110``). :class:`PairDataset` prepares its examples the same way.

    Args:
        target_rgb: ``(H, W, 3)`` float in [0, 1] (or uint8): the photo to colour (its L is the input, its ab
            the ground truth).
        reference_rgb: ``(H', W', 3)`` float in [0, 1] (or uint8): the colour exemplar.
        size: the target's working side S (>= 8).
        reference_size: the reference's working side R (>= 8; default ``size``).

    Returns:
        dict of float32 NumPy arrays: ``"target_l"`` ``(S, S, 1)`` in [-1, 1], ``"target_ab"`` ``(S, S, 2)``
        (sRGB colours land in about [-1, 1]), ``"reference_lab"`` ``(R, R, 3)``.
    """
    size = check_side(size, "prepare_example: size")
    reference_size = size if reference_size is None else check_side(reference_size, "prepare_example: "
                                                                                    "reference_size")
    target = normalised_lab(resize_and_crop(target_rgb, size))
    return {"target_l": np.ascontiguousarray(target[..., :1]), "target_ab": np.ascontiguousarray(target[..., 1:]),
            "reference_lab": normalised_lab(resize_and_crop(reference_rgb, reference_size))}


# ---------------------------------------------------------------------------------------------- the dataset

def _sizes(config_or_size) -> tuple[int, int]:
    """(size, reference_size) from an int, a pair of ints, a config name or a Gray2ColorConfig."""
    if isinstance(config_or_size, str):
        from colorlab.models.config import get_config

        config_or_size = get_config(config_or_size)
    if hasattr(config_or_size, "image_size") and hasattr(config_or_size, "reference_size"):
        return (check_side(config_or_size.image_size, "config.image_size"),
                check_side(config_or_size.reference_size, "config.reference_size"))
    if isinstance(config_or_size, (tuple, list)) and len(config_or_size) == 2:
        return (check_side(config_or_size[0], "size"), check_side(config_or_size[1], "reference_size"))
    if isinstance(config_or_size, (int, np.integer)) and not isinstance(config_or_size, bool):
        side = check_side(config_or_size, "size")
        return side, side
    raise ConfigError("config_or_size must be a config (or its name), a side in pixels or a (size, reference_size) "
                      f"pair, got {config_or_size!r}")


class _PairDataset:
    """Target/reference batches from a Places365-layout folder, as a ``keras.utils.PyDataset``.

    Each epoch every image of the split is a target once, in a shuffled order; its reference comes from
    :func:`make_pairs` (``"other"``: another image of its class; ``"same"``: the image itself through
    :func:`augment_reference`). Everything random derives from ``(seed, epoch)`` (and the example's index for
    the augmentation), and the pixels are computed with NumPy and Pillow only, so batch ``k`` of epoch ``e`` is a
    pure function of ``(seed, e, k)``: the same bit for bit on every run, Keras backend, thread and process count
    (``Trainer``'s exact resume rests on that).
    ``model.fit`` calls :meth:`on_epoch_end`, which moves to the next epoch; :meth:`set_epoch` jumps.
    The counter counts those calls, not training epochs: Keras 3.15's JAX trainer reads one batch before training
    (to build the model) and then calls ``on_epoch_end``, so under ``fit`` on JAX the first training epoch is our
    epoch 1. Runs stay reproducible, because the sequence of calls is the same every time.

    Batches: ``(inputs, targets)`` dicts of NumPy arrays, B = ``batch_size`` (the last batch is smaller unless
    ``drop_remainder``; ``batch_size / count`` with ``shard=(index, count)``):
    ``inputs = {"target_l": (B, S, S, 1), "reference_lab": (B, R, R, 3)}`` and
    ``targets = {"target_ab": (B, S, S, 2), "label": (B,) int32}``, all float32 but ``label``.

    Three things make batches faster without changing a value (ours):

    * a **cache** of epoch-independent work: a target's Lab image and an ``"other"`` reference's depend on the
      photo and the working size only, so they are computed once and kept (up to ``cache_bytes``). Only the
      ``"same"`` references, augmented anew every epoch, are computed every time: from the second epoch on, about
      half the work (and most of a folder's JPEG decoding) is gone.
    * ``threads``: the photos of one batch are prepared on a thread pool (Pillow and NumPy release the GIL for
      most of the work), so one batch uses several cores.
    * ``processes`` (Linux, macOS): N worker processes prepare whole batches ahead, in order: asking for batch
      ``k`` of epoch ``e`` queues the next ``2 N`` positions, rolling over into epoch ``e + 1`` as ``Trainer.fit``
      and ``model.fit`` do (a reader that jumps elsewhere only wastes the queued work). The workers start on the
      first batch, as fresh Python processes that import NumPy, Pillow and colorlab's data modules (neither Keras
      nor your script), and each keeps its own cache of ``cache_bytes // N``. Batches come back through shared
      memory (``2 N`` batch-sized slots: ``2 N * B * (3 S² + 3 R²) * 4`` bytes, 768 MiB for N = 16 at batch 64 and
      128 px). A worker that dies raises :class:`DatasetError` with its exit code, and the next batch starts new
      workers; :meth:`close` (or ``with``, garbage collection, the end of the program) stops them, and Ctrl-C
      reaches only the main process. The folder and its photo reader must be picklable and importable by module
      name (``Places365Folder`` and ``PackedCorpus`` are).

    Args:
        root: a folder path or a :class:`Places365Folder` (e.g. a :class:`colorlab.packed.PackedCorpus`).
        split: ``"train"`` or ``"val"``.
        config_or_size: a model config (or its name, e.g. ``"tiny"``), whose ``image_size`` and
            ``reference_size`` are used; or a side S (R = S); or ``(S, R)``.
        batch_size: examples per batch (>= 1).
        mode_ratio: fraction of ``"other"`` pairs, see :func:`make_pairs`.
        seed: int; the whole stream is a function of it.
        shuffle: shuffle the targets each epoch (ours: on by default; turn it off for evaluation).
        drop_remainder: leave out the last, smaller batch.
        limit: use only the first ``limit`` images of the split (quick mode, tests).
        threads: threads that prepare one batch's photos (>= 1; 1: none).
        cache_bytes: keep epoch-independent Lab images up to this many bytes (default :data:`DEFAULT_CACHE_BYTES`;
            ``None``: no limit; 0: no cache). Each costs ``S * S * 3 * 4`` bytes (196 KB at 128 px); a second side
            when ``R != S``.
        processes: worker processes that prepare batches ahead (>= 0; 0: in the calling thread; Linux, macOS).
        shard: ``(index, count)``: prepare only rows ``index · b`` to ``(index + 1) · b`` of every batch, ``b =
            batch_size / count`` (each process of a distributed run its own, see :mod:`colorlab.distribute`);
            ``batch_size`` must be a multiple of ``count``, and ``drop_remainder`` set when ``count > 1``.
        **kwargs: passed to ``keras.utils.PyDataset`` (``workers``, ``use_multiprocessing``, ``max_queue_size``:
            how many of Keras' own threads or processes call ``dataset[k]`` during ``model.fit``).

    Raises:
        ConfigError: a bad argument (the message names it).
        DatasetError: the folder, its lists or (``PackedCorpus``) the split are missing or malformed.
    """

    def __init__(self, root, split: str = "train", config_or_size=128, batch_size: int = 16,
                 mode_ratio: float = 0.5, seed: int = 0, *, shuffle: bool = True, drop_remainder: bool = False,
                 limit: int | None = None, threads: int = 1, cache_bytes: int | None = DEFAULT_CACHE_BYTES,
                 processes: int = 0, shard: tuple[int, int] = (0, 1), **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.folder = root if isinstance(root, Places365Folder) else Places365Folder(root)
        self.split = split_name(split)
        items = self.folder.split(self.split)
        if limit is not None:
            items = items[:_check_count(limit, f"{name}: limit", 1)]
        self.items = list(items)
        self.size, self.reference_size = _sizes(config_or_size)
        self.batch_size = _check_count(batch_size, f"{name}: batch_size", 1)
        make_pairs(self.items[:1], mode_ratio=mode_ratio)  # validates mode_ratio early
        self.mode_ratio = float(mode_ratio)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        if self.drop_remainder and len(self.items) < self.batch_size:
            raise ConfigError(f"{name}: {len(self.items)} images cannot fill one batch of {self.batch_size} "
                              "with drop_remainder=True")
        self.threads = _check_count(threads, f"{name}: threads", 1)
        self.processes = _check_count(processes, f"{name}: processes", 0)
        if self.processes and os.name == "nt":
            raise ConfigError(f"{name}: processes needs Linux or macOS (its workers map shared memory by file "
                              "descriptor); use threads on Windows")
        if self.processes and kwargs.get("use_multiprocessing"):
            raise ConfigError(f"{name}: processes and Keras' use_multiprocessing both start worker processes; "
                              "use processes only")
        self.cache_bytes = None if cache_bytes is None else _check_count(cache_bytes, f"{name}: cache_bytes", 0)
        if not (isinstance(shard, tuple) and len(shard) == 2 and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shard)
                and 0 <= shard[0] < shard[1]):
            raise ConfigError(f"{name}: shard must be (index, count) with 0 <= index < count, got {shard!r}")
        if self.batch_size % shard[1] or (shard[1] > 1 and not self.drop_remainder):
            raise ConfigError(f"{name}: shard {shard!r} needs a batch_size that is a multiple of {shard[1]} and "
                              "drop_remainder=True")
        self.shard = (int(shard[0]), int(shard[1]))
        self.epoch = 0
        self._plan_cache: dict[int, tuple[list, np.ndarray]] = {}
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        """What stays in this process: the cache, its lock, the thread pool and the worker processes."""
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._thread_pool = None
        self._process_pool = None

    def __getstate__(self):  # a copy in another process starts without the cache and the pools
        state = {key: value for key, value in self.__dict__.items() if key not in _RUNTIME}
        state["_plan_cache"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset_runtime()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({os.fspath(self.folder.root)!r}, {self.split!r}, {len(self.items)} images, "
                f"size {self.size}/{self.reference_size}, batch {self.batch_size}, threads {self.threads}, "
                f"processes {self.processes})")

    # -- the plan of an epoch: pairs and order, a pure function of (seed, epoch)
    def _plan(self, epoch: int) -> tuple[list, np.ndarray]:
        plan = self._plan_cache.get(epoch)
        if plan is None:
            pairs = make_pairs(self.items, mode_ratio=self.mode_ratio, seed=(self.seed, epoch, 0))
            order = np.arange(len(self.items))
            if self.shuffle:
                order = np.random.default_rng((self.seed, epoch, 1)).permutation(order)
            plan = (pairs, order)
            self._plan_cache = {epoch: plan}  # keep one epoch only (a new dict: safe with worker threads)
        return plan

    def _augmentation_rng(self, epoch: int, index: int) -> np.random.Generator:
        """The random stream of the "same"-pair augmentation of target ``index`` in ``epoch``."""
        return np.random.default_rng((self.seed, epoch, 2, int(index)))

    def __len__(self) -> int:
        count = len(self.items) / self.batch_size
        return int(count) if self.drop_remainder else math.ceil(count)

    def pairs(self, epoch: int | None = None) -> list[tuple[int, int, str]]:
        """The epoch's ``(target_index, reference_index, mode)`` triples, in batch order."""
        pairs, order = self._plan(self.epoch if epoch is None else epoch)
        return [pairs[i] for i in order]

    def batch(self, index: int, epoch: int | None = None) -> tuple[dict, dict]:
        """Batch ``index`` of ``epoch`` (default: the current one); see the class docstring for its contents."""
        epoch = self.epoch if epoch is None else int(epoch)
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__}: batch index {index} out of range [0, {len(self)})")
        if self.processes:
            with self._lock:
                if self._process_pool is None or not self._process_pool.running:
                    self._process_pool = _BatchPool(self._worker_copy(), self.processes)
                pool = self._process_pool
            return pool.batch(int(index), epoch)
        return self._prepare(int(index), epoch)

    def _prepare(self, index: int, epoch: int) -> tuple[dict, dict]:
        """Batch ``index`` of ``epoch``, computed here (on ``threads`` threads)."""
        pairs, order = self._plan(epoch)
        rows = self.batch_size // self.shard[1]
        start = index * self.batch_size + self.shard[0] * rows
        chosen = [pairs[int(p)] for p in order[start:start + rows]]
        s, r = self.size, self.reference_size
        # what each example needs: (side, photo, augmented); targets and "other" references are epoch-independent
        needs = [(s, i, False) for i, _, _ in chosen]
        needs += [(r, i, True) if mode == "same" else (r, j, False) for i, j, mode in chosen]
        work: dict[int, list] = {}  # photo -> what to make of it, so each photo is read once
        for need in dict.fromkeys(needs):
            if need[2] or need[:2] not in self._cache:
                work.setdefault(need[1], []).append(need)
        made: dict[tuple, np.ndarray] = {}
        for labs in self._map(lambda job: self._labs(job[0], job[1], epoch), list(work.items())):
            made.update(labs)
        images = [made[need] if need in made else self._cache[need[:2]] for need in needs]
        target, reference = np.stack(images[:len(chosen)]), np.stack(images[len(chosen):])
        labels = np.asarray([self.items[i][1] for i, _, _ in chosen], dtype=np.int32)
        return ({"target_l": np.ascontiguousarray(target[..., :1]), "reference_lab": reference},
                {"target_ab": np.ascontiguousarray(target[..., 1:]), "label": labels})

    def _labs(self, photo: int, needs: list, epoch: int) -> dict:
        """The normalised Lab images ``needs`` asks of one photo; the epoch-independent ones go to the cache."""
        rgb = self.folder.photo(self.split, photo)
        labs = {}
        for need in needs:
            side, _, augmented = need
            if augmented:
                reference = augment_reference(rgb, self._augmentation_rng(epoch, photo))
                labs[need] = normalised_lab(resize_and_crop(reference, side))
            else:
                labs[need] = normalised_lab(resize_and_crop(rgb, side))
                self._keep((side, photo), labs[need])
        return labs

    def _map(self, fn, values: list) -> list:
        if self.threads == 1 or len(values) < 2:
            return [fn(value) for value in values]
        with self._lock:
            if self._thread_pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._thread_pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="colorlab-data")
        return list(self._thread_pool.map(fn, values))

    def _keep(self, key: tuple[int, int], lab: np.ndarray) -> None:
        if self.cache_bytes == 0:
            return
        with self._lock:
            if key in self._cache:
                return
            if self.cache_bytes is not None and self._cached_bytes + lab.nbytes > self.cache_bytes:
                return
            self._cache[key] = lab
            self._cached_bytes += lab.nbytes

    def _worker_copy(self) -> _PairDataset:
        """What each worker process holds: these settings in the Keras-free class, preparing batches itself."""
        per_worker = None if self.cache_bytes is None else self.cache_bytes // self.processes
        return _PairDataset(self.folder, self.split, (self.size, self.reference_size), self.batch_size,
                            self.mode_ratio, self.seed, shuffle=self.shuffle, drop_remainder=self.drop_remainder,
                            limit=len(self.items), threads=self.threads, cache_bytes=per_worker, shard=self.shard)

    def close(self) -> None:
        """Stops the worker processes and the thread pool, if any (a later batch starts them again)."""
        with self._lock:
            process_pool, thread_pool = self._process_pool, self._thread_pool
            self._process_pool = self._thread_pool = None
        if process_pool is not None:
            process_pool.close()
        if thread_pool is not None:
            thread_pool.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __getitem__(self, index: int) -> tuple[dict, dict]:
        return self.batch(int(index))

    def on_epoch_end(self) -> None:
        """Called by Keras after each epoch: the next epoch draws new pairs, order and augmentations."""
        self.epoch += 1

    def set_epoch(self, epoch: int) -> None:
        """Makes ``epoch`` the current epoch (e.g. when resuming training)."""
        self.epoch = int(epoch)

    def as_tf_dataset(self, epochs: int = 1, first_epoch: int | None = None, prefetch: bool = True):
        """The same batches as a ``tf.data.Dataset`` (the TensorFlow path), built with ``from_generator``.

        Args:
            epochs: how many epochs the dataset runs through (``first_epoch``, ``first_epoch + 1``, ...).
            first_epoch: default: the current epoch.
            prefetch: add ``prefetch(AUTOTUNE)`` so loading overlaps with training.

        Returns:
            A ``tf.data.Dataset`` of ``(inputs, targets)`` with the shapes of the class docstring (batch axis
            ``None``), batch ``k`` equal to ``self.batch(k, epoch)``. The batches do not depend on this object's
            current epoch after the call (``first_epoch`` is fixed when it is called).
        """
        import tensorflow as tf

        start = self.epoch if first_epoch is None else int(first_epoch)
        s, r = self.size, self.reference_size
        signature = ({"target_l": tf.TensorSpec((None, s, s, 1), tf.float32),
                      "reference_lab": tf.TensorSpec((None, r, r, 3), tf.float32)},
                     {"target_ab": tf.TensorSpec((None, s, s, 2), tf.float32),
                      "label": tf.TensorSpec((None,), tf.int32)})

        def generate():
            for epoch in range(start, start + int(epochs)):
                for index in range(len(self)):
                    yield self.batch(index, epoch)

        _first_generator_dataset()
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset


@functools.cache
def _first_generator_dataset() -> None:
    """Runs an empty generator dataset, once per process, with TensorFlow's stderr filtered: the first one a process
    runs prints one C++ INFO line past Python's logging (generator_dataset_op.cc, "Memory patch applied:
    M_TRIM_THRESHOLD=..."), so that ``as_tf_dataset``'s real one prints nothing in a notebook or terminal."""
    import tensorflow as tf

    from colorlab.quiet import filtered_stderr

    with filtered_stderr():
        for _ in tf.data.Dataset.from_generator(lambda: iter(()), output_signature=tf.TensorSpec((), tf.int32)):
            pass


#: Attributes of a dataset that stay in its process (see ``_PairDataset.__getstate__``).
_RUNTIME = ("_cache", "_cached_bytes", "_lock", "_thread_pool", "_process_pool")


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------ worker processes

#: What a worker process runs: ``python -c _WORKER_CODE TASKS REPLIES MEMORY SIZE`` (pipe and memory descriptors).
_WORKER_CODE = "import sys; from colorlab.data import _serve; _serve(*map(int, sys.argv[1:]))"
_HEADER = struct.Struct("<Q")  # the length of each pickled message on a pipe


def _send(pipe, message) -> None:
    """Writes one pickled, length-prefixed message to an unbuffered binary pipe."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        data = data[pipe.write(data):]


def _read(pipe, size: int) -> bytes:
    chunks = []
    while size:
        chunk = pipe.read(size)
        if not chunk:
            raise EOFError("the pipe is closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(pipe):
    """Reads one message :func:`_send` wrote; EOFError when the other end is closed."""
    return pickle.loads(_read(pipe, _HEADER.unpack(_read(pipe, _HEADER.size))[0]))


def _batch_fields(dataset) -> list[tuple[int, str, tuple, type]]:
    """Where each array of a full batch lives in a shared-memory slot: ``(part, key, shape, dtype)``, in order."""
    b, s, r = dataset.batch_size // dataset.shard[1], dataset.size, dataset.reference_size
    return [(0, "target_l", (b, s, s, 1), np.float32), (0, "reference_lab", (b, r, r, 3), np.float32),
            (1, "target_ab", (b, s, s, 2), np.float32), (1, "label", (b,), np.int32)]


def _slot_bytes(fields: list) -> list[int]:
    return [int(np.prod(shape)) * np.dtype(dtype).itemsize for _, _, shape, dtype in fields]


def _slot_views(memory: np.ndarray, slot: int, fields: list) -> list[np.ndarray]:
    """Arrays over slot ``slot`` of ``memory`` (the shared bytes), one per field of :func:`_batch_fields`."""
    sizes = _slot_bytes(fields)
    offset, views = slot * sum(sizes), []
    for (_, _, shape, dtype), size in zip(fields, sizes):
        views.append(memory[offset:offset + size].view(dtype).reshape(shape))
        offset += size
    return views


def _picklable(error: Exception) -> Exception:
    """``error`` if it survives pickling (colorlab's typed errors do), else a DatasetError with its message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any exception class may refuse to be pickled
        return DatasetError(f"{type(error).__name__} in a data worker process: {error}")


def _serve(tasks_fd: int, replies_fd: int, memory_fd: int, size: int) -> None:
    """A worker process (see :class:`_BatchPool`): receives its dataset, replies ``(None, 0, error)`` (``None``:
    ready), then prepares each batch ``(slot, index, epoch)`` it is sent into that slot of the shared memory and
    replies ``(slot, batch size, error)``, until it is stopped or the main process is gone."""
    import mmap

    tasks, replies = os.fdopen(tasks_fd, "rb", buffering=0), os.fdopen(replies_fd, "wb", buffering=0)
    memory = np.frombuffer(mmap.mmap(memory_fd, size), dtype=np.uint8)
    os.close(memory_fd)
    try:
        dataset = _receive(tasks)
        fields = _batch_fields(dataset)
    except EOFError:
        return
    except Exception as error:  # noqa: BLE001 - e.g. a class that cannot be imported here; reported, then exit
        _send(replies, (None, 0, _picklable(error)))
        return
    _send(replies, (None, 0, None))
    while True:
        try:
            task = _receive(tasks)
        except EOFError:  # the main process is gone
            return
        slot, index, epoch = task
        try:
            parts = dataset.batch(index, epoch)
            count = len(parts[1]["label"])
            for view, (part, key, _, _) in zip(_slot_views(memory, slot, fields), fields):
                view[:count] = parts[part][key]
            reply = (slot, count, None)
        except Exception as error:  # noqa: BLE001 - raised again in the main process, by the batch's reader
            reply = (slot, 0, _picklable(error))
        try:
            _send(replies, reply)
        except OSError:
            return


def _stop(owner: int, processes: list, pipes: list) -> None:
    """Ends the worker processes at once (they hold nothing worth finishing) and closes their pipes; only in the
    process ``owner`` that started them (a forked copy of it leaves them alone)."""
    if os.getpid() != owner:
        return
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        process.wait()
    for pipe in pipes:
        pipe.close()


class _BatchPool:
    """The worker processes of a dataset with ``processes=N``: batches prepared ahead, in order (see PairDataset).

    The workers are plain ``python -c`` subprocesses, so they import only what they use (NumPy, Pillow, colorlab's
    data modules and the dataset's classes), never the main script or Keras, and they run in their own session, so
    Ctrl-C reaches the main process only (which then stops them). Each has two pipes: tasks in, short replies out; a
    worker that dies closes its reply pipe, which :meth:`batch` notices, and a worker whose main process is gone sees
    its task pipe close and stops. The batches travel through ``2 N`` slots of shared memory (an anonymous file both
    sides map), each the size of a full batch: a worker writes a batch into a slot and replies with the slot and the
    batch size, and :meth:`batch` copies the arrays out and frees the slot. (Pickling a 24 MB batch through a pipe
    instead ran at ~130 MB/s on the development machine.)
    """

    def __init__(self, dataset: _PairDataset, processes: int):
        import mmap
        import subprocess
        import tempfile

        self._fields = _batch_fields(dataset)
        self._length = len(dataset)
        self._slots = 2 * processes
        size = self._slots * sum(_slot_bytes(self._fields))
        if hasattr(os, "memfd_create"):
            memory_fd = os.memfd_create("colorlab-batches")
        else:  # macOS: an unlinked temporary file
            memory_fd, path = tempfile.mkstemp(prefix="colorlab-batches-")
            os.unlink(path)
        self._processes: list = []
        self._pipes: list = []
        self._owner_pid = os.getpid()
        self._finalizer = weakref.finalize(self, _stop, self._owner_pid, self._processes, self._pipes)
        try:
            os.ftruncate(memory_fd, size)
            self._memory = np.frombuffer(mmap.mmap(memory_fd, size), dtype=np.uint8)
            environment = {**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}
            self._tasks, self._replies = [], []
            for _ in range(processes):
                tasks_read, tasks_write = os.pipe()
                replies_read, replies_write = os.pipe()
                arguments = [str(tasks_read), str(replies_write), str(memory_fd), str(size)]
                self._processes.append(subprocess.Popen(
                    [sys.executable, "-c", _WORKER_CODE, *arguments], pass_fds=(tasks_read, replies_write, memory_fd),
                    stdin=subprocess.DEVNULL, env=environment, start_new_session=True))
                os.close(tasks_read)
                os.close(replies_write)
                self._tasks.append(os.fdopen(tasks_write, "wb", buffering=0))
                self._replies.append(os.fdopen(replies_read, "rb", buffering=0))
                self._pipes += [self._tasks[-1], self._replies[-1]]
        finally:
            os.close(memory_fd)
        self.closed = False
        try:
            for worker in range(processes):
                self._send(worker, dataset)
            for worker in range(processes):  # every worker has its dataset (or says why not)
                error = self._reply(worker)[2]
                if error is not None:
                    raise DatasetError(f"a data worker process could not start: {type(error).__name__}: {error}")
        except BaseException:
            self.close()
            raise
        self._free = list(range(self._slots))
        self._queued: dict[tuple[int, int], int] = {}  # (epoch, index) -> slot: asked, not yet taken
        self._wanted: dict[int, tuple | None] = {}    # slot -> its (epoch, index), None once nobody wants it
        self._ready: dict[int, tuple] = {}            # slot -> (size, error), replied and wanted
        self._load = [0] * processes                  # batches in flight per worker
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the workers can take batches: not closed, and this is the process that started them."""
        return not self.closed and os.getpid() == self._owner_pid

    def close(self) -> None:
        """Stops the workers."""
        self.closed = True
        self._finalizer()

    def batch(self, index: int, epoch: int) -> tuple[dict, dict]:
        """Batch ``index`` of ``epoch`` (and the following ones queued); the arrays are the caller's own."""
        with self._lock:
            if self.closed:
                raise DatasetError("the data worker processes are stopped")
            try:
                position = (epoch, index)
                self._ask(position)
                while position not in self._queued:  # every slot is busy with batches nobody wants any more
                    self._wait()
                    self._ask(position)
                slot = self._queued.pop(position)
                while slot not in self._ready:
                    self._wait()
                count, error = self._ready.pop(slot)
                arrays = [view[:count].copy() for view in _slot_views(self._memory, slot, self._fields)]
                del self._wanted[slot]
                self._free.append(slot)
                self._ask(self._next(position))
            except BaseException:  # Ctrl-C half-way through the bookkeeping, a dead worker: start afresh next time
                self.close()
                raise
        if error is not None:
            raise error
        parts: tuple[dict, dict] = ({}, {})
        for (part, key, _, _), array in zip(self._fields, arrays):
            parts[part][key] = array
        return parts

    def _next(self, position: tuple[int, int]) -> tuple[int, int]:
        epoch, index = position
        return (epoch, index + 1) if index + 1 < self._length else (epoch + 1, 0)

    def _ask(self, start: tuple[int, int]) -> None:
        """Queues the batches from ``start`` on, as far as the free slots go, each to the least busy worker; batches
        queued outside that window are dropped (their slots come back when their workers reply)."""
        window = [start]
        while len(window) < self._slots:
            window.append(self._next(window[-1]))
        for position in set(self._queued) - set(window):
            slot = self._queued.pop(position)
            if self._ready.pop(slot, None) is None:
                self._wanted[slot] = None
            else:
                del self._wanted[slot]
                self._free.append(slot)
        for position in window:
            if position in self._queued:
                continue
            if not self._free:
                return
            slot = self._free.pop()
            worker = self._load.index(min(self._load))
            self._send(worker, (slot, position[1], position[0]))
            self._load[worker] += 1
            self._wanted[slot] = position
            self._queued[position] = slot

    def _wait(self) -> None:
        """Takes the replies that have arrived (waiting for one)."""
        from multiprocessing.connection import wait

        for pipe in wait(self._replies):
            worker = self._replies.index(pipe)
            slot, count, error = self._reply(worker)
            self._load[worker] -= 1
            if self._wanted[slot] is None:
                del self._wanted[slot]
                self._free.append(slot)
            else:
                self._ready[slot] = (count, error)

    def _send(self, worker: int, message) -> None:
        try:
            _send(self._tasks[worker], message)
        except OSError:  # BrokenPipeError: the worker has died
            self._died(worker)

    def _reply(self, worker: int) -> tuple:
        """The next reply of ``worker``."""
        try:
            return _receive(self._replies[worker])
        except EOFError:
            self._died(worker)

    def _died(self, worker: int):
        """Stops every worker and raises DatasetError naming how ``worker`` ended."""
        import subprocess

        process = self._processes[worker]
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # its pipes are closed but it still runs: stopped below
            code = None
        self.close()
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited (code {code})"
        raise DatasetError(f"data worker process {process.pid} {how} while preparing batches; the workers are "
                           "stopped, the next batch starts new ones")


# -------------------------------------------------------------------------------------- the Keras class

def _pair_dataset_class():
    """Builds ``PairDataset`` = ``_PairDataset`` + ``keras.utils.PyDataset`` on first use: subclassing
    ``keras.utils.PyDataset`` needs Keras, and importing Keras on the TensorFlow backend imports TensorFlow, which
    importing colorlab's data modules (in a worker process too) must not do."""
    global _PAIR_DATASET
    if _PAIR_DATASET is None:
        import keras

        _PAIR_DATASET = type("PairDataset", (_PairDataset, keras.utils.PyDataset),
                             {"__doc__": _PairDataset.__doc__, "__module__": __name__, "__qualname__": "PairDataset"})
    return _PAIR_DATASET


_PAIR_DATASET = None


def __getattr__(name):
    if name == "PairDataset":
        return _pair_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------- TFDS

_TFDS_HELP = ("download it with places365_tfds(..., download=True) (TFDS fetches all three splits, tens of GB, "
              "in one step) or use the offline corpus: `python scripts/build_corpus.py`, then "
              "PairDataset('corpus', ...)")


def places365_tfds(split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = False):
    """TFDS's ``places365_small`` (256 x 256 images, 365 scene labels) as a ``tf.data.Dataset``.

    Args:
        split: a TFDS split string: ``"train"``, ``"validation"`` (``"val"`` is accepted), ``"test"`` (its
            labels are -1), or a slice such as ``"train[:1%]"``. Note that TFDS prepares all splits at once,
            whatever slice is asked for.
        data_dir: TFDS's data folder (default: TFDS's own, ``~/tensorflow_datasets``).
        download: allow TFDS to download and prepare the data when it is not in ``data_dir``.

    Returns:
        ``tf.data.Dataset`` of dicts ``{"image": uint8 (256, 256, 3), "label": int64 (), "filename": string ()}``.

    Raises:
        DatasetError: one line saying how to get the data, when it is not prepared and ``download`` is False,
            or when downloading fails (no network).
    """
    import tensorflow_datasets as tfds

    if isinstance(split, str) and (split == "val" or split.startswith("val[")):
        split = "validation" + split[3:]
    data_dir = None if data_dir is None else os.fspath(data_dir)
    try:
        return tfds.load("places365_small", split=split, data_dir=data_dir, download=bool(download),
                         shuffle_files=False)
    except ColorlabError:
        raise
    except Exception as error:  # TFDS raises AssertionError, DatasetNotFoundError, OSError, network errors, ...
        where = data_dir or "TFDS's default data folder"
        detail = " ".join(str(error).split())[:200]
        if not download:
            raise DatasetError(f"places365_small is not prepared in {where} (download=False): {_TFDS_HELP}") from None
        raise DatasetError(f"places365_small could not be downloaded/prepared into {where} ({type(error).__name__}: "
                           f"{detail}); use the offline corpus instead: `python scripts/build_corpus.py`") from None
