"""Data: Places365-layout folders, target/reference pairs, and batches for training.

Three sources of photos give the same stream, so the code that trains is the same everywhere:

* :class:`Places365Folder` reads Places365's own layout (``data_256/<letter>/<category>/NNNNNNNN.jpg`` plus the
  ``categories_places365.txt`` / ``places365_train_standard.txt`` / ``places365_val.txt`` lists). That is the layout
  of the official "small images" download and of the offline corpus ``scripts/build_corpus.py`` builds.
* :func:`places365_tfds` wraps TFDS's ``places365_small`` builder for those who can download it.
* :class:`PairDataset` turns a folder into ``(inputs, targets)`` batches: a ``keras.utils.PyDataset`` (NumPy
  only, any Keras backend, no TensorFlow needed) and, for the TensorFlow path, :meth:`PairDataset.as_tf_dataset`
  (the same batches through ``tf.data``).

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
``target_ab = ab / 110``, ``reference_lab = (L / 50 - 1, a / 110, b / 110)``, computed with
:mod:`colorlab.color`. Resizing (ours): the shorter side is scaled to the working size and the centre is
cropped, so photos are never distorted (the official test code scales the target's shorter side to 144 and
crops 128, and resizes the reference to exactly 128 x 128, which distorts non-square references).

Importing this module imports neither Keras nor TensorFlow: Keras is imported when :class:`PairDataset` is first
used (``colorlab.data.PairDataset`` is built on first access, because it subclasses ``keras.utils.PyDataset``) or
:func:`prepare_example` runs; TensorFlow is needed only by :meth:`PairDataset.as_tf_dataset` and
:func:`places365_tfds` (and, on the TensorFlow backend, by Keras itself).
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Sequence

import numpy as np
from PIL import Image

from colorlab.errors import ColorlabError, ConfigError, DatasetError

__all__ = ["DatasetError", "Places365Folder", "SPLITS", "MODES", "make_pairs", "augment_reference",
           "resize_and_crop", "prepare_example", "PairDataset", "places365_tfds"]

#: Split names :meth:`Places365Folder.split` accepts ("validation" is an alias of "val", TFDS's name).
SPLITS = ("train", "val")
#: Pair modes, see the module docstring.
MODES = ("other", "same")

_CATEGORIES_FILE = "categories_places365.txt"
_LISTS = {"train": ("places365_train_standard.txt", "data_256"), "val": ("places365_val.txt", "val_256")}



# ------------------------------------------------------------------------------------------------- the folder

def _split_name(split: str) -> str:
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
            split: ``"train"`` or ``"val"`` (``"validation"`` is accepted too).

        Returns:
            A list of ``(path, label)``: ``path`` a ``pathlib.Path`` to the JPEG, ``label`` an int in
            ``[0, len(categories))``, in the list file's order. The list is cached; do not modify it.

        Raises:
            ConfigError: unknown split name.
            DatasetError: the list file is missing or empty, a line is malformed, or a label is out of range
                (the message names the file and the line).
        """
        split = _split_name(split)
        if split not in self._splits:
            list_name, folder = _LISTS[split]
            path = self.root / list_name
            items = []
            for number, name, label in _read_pairs(path):
                if not 0 <= label < len(self.categories):
                    raise DatasetError(f"{path}, line {number}: label {label} is out of range "
                                       f"[0, {len(self.categories)}) of {_CATEGORIES_FILE}")
                items.append((self.root / folder / name.lstrip("/"), label))
            self._splits[split] = items
        return self._splits[split]


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

def _check_side(value, name: str) -> int:
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
    size = _check_side(size, "resize_and_crop: size")
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


def _normalised_lab(rgb_batch: np.ndarray) -> np.ndarray:
    """``(..., 3)`` sRGB in [0, 1] -> ``(..., 3)`` float32 ``(L/50 - 1, a/110, b/110)`` via colorlab.color."""
    from keras import ops

    from colorlab import color

    lab = color.normalize_lab(color.rgb_to_lab(np.asarray(rgb_batch, np.float32)))
    return np.asarray(ops.convert_to_numpy(lab), dtype=np.float32)


def _prepare_batch(targets: Sequence[np.ndarray], references: Sequence[np.ndarray], size: int,
                   reference_size: int) -> dict:
    target_rgb = np.stack([resize_and_crop(t, size) for t in targets])
    reference_rgb = np.stack([resize_and_crop(r, reference_size) for r in references])
    target = _normalised_lab(target_rgb)
    return {"target_l": np.ascontiguousarray(target[..., :1]), "target_ab": np.ascontiguousarray(target[..., 1:]),
            "reference_lab": _normalised_lab(reference_rgb)}


def prepare_example(target_rgb, reference_rgb, size: int, reference_size: int | None = None) -> dict:
    """One training example in the model's normalisation.

    Both photos are resized with :func:`resize_and_crop` (shorter side to the working size, centre crop), then
    converted with :func:`colorlab.color.rgb_to_lab` and normalised (the official code's ``L/50 - 1``,
    ``ab/110``).

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
    size = _check_side(size, "prepare_example: size")
    reference_size = size if reference_size is None else _check_side(reference_size, "prepare_example: "
                                                                                     "reference_size")
    batch = _prepare_batch([target_rgb], [reference_rgb], size, reference_size)
    return {key: value[0] for key, value in batch.items()}


# ---------------------------------------------------------------------------------------------- the dataset

def _sizes(config_or_size) -> tuple[int, int]:
    """(size, reference_size) from an int, a pair of ints, a config name or a Gray2ColorConfig."""
    if isinstance(config_or_size, str):
        from colorlab.models.config import get_config

        config_or_size = get_config(config_or_size)
    if hasattr(config_or_size, "image_size") and hasattr(config_or_size, "reference_size"):
        return (_check_side(config_or_size.image_size, "config.image_size"),
                _check_side(config_or_size.reference_size, "config.reference_size"))
    if isinstance(config_or_size, (tuple, list)) and len(config_or_size) == 2:
        return (_check_side(config_or_size[0], "size"), _check_side(config_or_size[1], "reference_size"))
    if isinstance(config_or_size, (int, np.integer)) and not isinstance(config_or_size, bool):
        side = _check_side(config_or_size, "size")
        return side, side
    raise ConfigError("config_or_size must be a config (or its name), a side in pixels or a (size, reference_size) "
                      f"pair, got {config_or_size!r}")


class _PairDataset:
    """Target/reference batches from a Places365-layout folder, as a ``keras.utils.PyDataset``.

    Each epoch every image of the split is a target once, in a shuffled order; its reference comes from
    :func:`make_pairs` (``"other"``: another image of its class; ``"same"``: the image itself through
    :func:`augment_reference`). Everything random derives from ``(seed, epoch)`` (and the example's index for
    the augmentation), so an epoch's pairs, order and augmentations are the same on every run, backend and
    worker count (pixel values up to float32 rounding of the Lab conversion, which runs on the backend).
    ``model.fit`` calls :meth:`on_epoch_end`, which moves to the next epoch; :meth:`set_epoch` jumps.
    The counter counts those calls, not training epochs: Keras 3.15's JAX trainer reads one batch before training
    (to build the model) and then calls ``on_epoch_end``, so under ``fit`` on JAX the first training epoch is our
    epoch 1. Runs stay reproducible, because the sequence of calls is the same every time.

    Batches: ``(inputs, targets)`` dicts of NumPy arrays, B = ``batch_size`` (the last batch is smaller unless
    ``drop_remainder``):
    ``inputs = {"target_l": (B, S, S, 1), "reference_lab": (B, R, R, 3)}`` and
    ``targets = {"target_ab": (B, S, S, 2), "label": (B,) int32}``, all float32 but ``label``.

    Args:
        root: a folder path or a :class:`Places365Folder`.
        split: ``"train"`` or ``"val"``.
        config_or_size: a model config (or its name, e.g. ``"tiny"``), whose ``image_size`` and
            ``reference_size`` are used; or a side S (R = S); or ``(S, R)``.
        batch_size: examples per batch (>= 1).
        mode_ratio: fraction of ``"other"`` pairs, see :func:`make_pairs`.
        seed: int; the whole stream is a function of it.
        shuffle: shuffle the targets each epoch (ours: on by default; turn it off for evaluation).
        drop_remainder: leave out the last, smaller batch.
        limit: use only the first ``limit`` images of the split (quick mode, tests).
        **kwargs: passed to ``keras.utils.PyDataset`` (``workers``, ``use_multiprocessing``, ``max_queue_size``).
    """

    def __init__(self, root, split: str = "train", config_or_size=128, batch_size: int = 16,
                 mode_ratio: float = 0.5, seed: int = 0, *, shuffle: bool = True, drop_remainder: bool = False,
                 limit: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.folder = root if isinstance(root, Places365Folder) else Places365Folder(root)
        self.split = _split_name(split)
        items = self.folder.split(self.split)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
                raise ConfigError(f"PairDataset: limit must be a positive integer or None, got {limit!r}")
            items = items[:int(limit)]
        self.items = list(items)
        self.size, self.reference_size = _sizes(config_or_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"PairDataset: batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        make_pairs(self.items[:1], mode_ratio=mode_ratio)  # validates mode_ratio early
        self.mode_ratio = float(mode_ratio)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        if self.drop_remainder and len(self.items) < self.batch_size:
            raise ConfigError(f"PairDataset: {len(self.items)} images cannot fill one batch of {self.batch_size} "
                              "with drop_remainder=True")
        self.epoch = 0
        self._plan_cache: dict[int, tuple[list, np.ndarray]] = {}

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
        from colorlab import io

        epoch = self.epoch if epoch is None else int(epoch)
        if not 0 <= index < len(self):
            raise IndexError(f"PairDataset: batch index {index} out of range [0, {len(self)})")
        pairs, order = self._plan(epoch)
        targets, references, labels = [], [], []
        for position in order[index * self.batch_size:(index + 1) * self.batch_size]:
            i, j, mode = pairs[int(position)]
            path, label = self.items[i]
            target = io.load_image(path)
            if mode == "same":
                reference = augment_reference(target, self._augmentation_rng(epoch, i))
            else:
                reference = io.load_image(self.items[j][0])
            targets.append(target)
            references.append(reference)
            labels.append(label)
        example = _prepare_batch(targets, references, self.size, self.reference_size)
        inputs = {"target_l": example["target_l"], "reference_lab": example["reference_lab"]}
        outputs = {"target_ab": example["target_ab"], "label": np.asarray(labels, dtype=np.int32)}
        return inputs, outputs

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

        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset


def _with_pydataset(base: type, name: str) -> type:
    """``class name(base, keras.utils.PyDataset)``, made on first use: subclassing ``keras.utils.PyDataset`` needs
    Keras, and importing Keras on the TensorFlow backend imports TensorFlow, which importing colorlab's data
    modules must not do. The class keeps ``base``'s docstring and module."""
    import keras

    return type(name, (base, keras.utils.PyDataset),
                {"__doc__": base.__doc__, "__module__": base.__module__, "__qualname__": name})


def _pair_dataset_class():
    """Builds ``PairDataset`` on first use (see :func:`_with_pydataset`)."""
    global _PAIR_DATASET
    if _PAIR_DATASET is None:
        _PAIR_DATASET = _with_pydataset(_PairDataset, "PairDataset")
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
