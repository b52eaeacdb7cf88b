"""A Places365-layout corpus packed into one file, and the same training batches read from memory.

Why (ours): :class:`colorlab.data.PairDataset` decodes JPEGs for every example it has not cached yet, and a GPU
machine is easier to feed one file than a folder of thousands of small ones. So:

* :func:`pack_corpus` decodes a Places365-layout folder (:class:`colorlab.data.Places365Folder`) **once** and
  writes one uncompressed ``.npz``: per split, the decoded photos as one uint8 array ``(N, S, S, 3)``, their
  labels and original relative paths, plus the class names and a format version. The offline corpus (481 photos
  of 256 x 256) becomes a 90 MiB file, written in about a second.
* :class:`PackedCorpus` opens such a file. The image arrays are **memory-mapped** (the members are stored
  uncompressed, so each ``.npy`` member is a plain byte range of the file): opening is instant, the operating
  system pages photos in on first use and shares them between processes.
* ``PackedPairDataset`` is a ``PairDataset`` whose photos come from such a file (:meth:`PackedCorpus.photo`)
  instead of JPEGs: **the same batches**, bit for bit, as ``PairDataset`` on the folder it was packed from, for
  every ``(seed, epoch, index)``, with the same cache, ``threads`` and ``processes`` (worker processes map the
  file too, so the photos are in memory once).

The stored photos are the 8-bit values the JPEG decoder produced (``colorlab.io.load_image`` x 255, exact), so
nothing is lost. Photos that are not exactly 8-bit after loading (transparency composited over white, 16-bit
files) are rounded to 8 bits and :func:`pack_corpus` warns; with ``size`` given, photos of another size are
brought to ``size x size`` with :func:`~colorlab.data.resize_and_crop` before rounding, so the packed corpus then
equals a folder of those resized photos rather than the original folder.

Importing this module imports neither Keras nor TensorFlow (``PackedPairDataset`` is built on first access, as
``colorlab.data.PairDataset`` is, because it subclasses it and so ``keras.utils.PyDataset``).
"""

from __future__ import annotations

import os
import pathlib
import struct
import warnings
import zipfile
from typing import Sequence

import numpy as np
from PIL import Image

from colorlab.data import Places365Folder, check_side, resize_and_crop, split_name
from colorlab.errors import ConfigError, DatasetError, OutputExistsError
from colorlab.files import write_atomic

__all__ = ["FORMAT", "FORMAT_VERSION", "PackedCorpus", "PackedPairDataset", "pack_corpus", "is_packed",
           "open_training_data"]

#: The ``format`` member of every packed file, so a random ``.npz`` is recognised as "not a packed corpus".
FORMAT = "colorlab.packed-corpus"
#: Bumped when the layout changes; a reader refuses files newer than it knows.
FORMAT_VERSION = 1

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # a zip local file header: 30 bytes, name and extra lengths last
_CHUNK = 256                                # images decoded per round when packing with threads


def _member(split: str, what: str) -> str:
    return f"{split}_{what}.npy"


# ------------------------------------------------------------------------------------------------- packing

def _split_list(splits) -> list[str]:
    if isinstance(splits, str):
        splits = (splits,)
    try:
        names = [split_name(s) for s in splits]
    except TypeError:
        raise ConfigError(f"pack_corpus: splits must be a sequence of split names, got {splits!r}") from None
    if not names:
        raise ConfigError("pack_corpus: splits is empty: name at least one of 'train', 'val'")
    return list(dict.fromkeys(names))  # drop repeats, keep the order


def _common_side(items: Sequence[tuple], where: str) -> int | None:
    """The side S shared by every image when all are square S x S (read from the file headers, nothing decoded);
    raises DatasetError naming two images that differ. Unreadable files are skipped here (decoding names them)."""
    first = None
    for path, _ in items:
        try:
            with Image.open(path) as im:
                width, height = im.size
        except Exception:  # noqa: BLE001 - load_image raises the typed error for this file when it is decoded
            continue
        if width != height or (first is not None and width != first[1]):
            seen = f"{first[0]} is {first[1]}x{first[1]}" if first else "not square"
            raise DatasetError(f"{where}: images are not all square and of one size ({path} is {width}x{height}, "
                               f"{seen}); pass size=S (--size S) to bring every image to S x S with "
                               "resize_and_crop")
        if first is None:
            first = (path, width)
    return None if first is None else first[1]


def _decode(path, size: int | None) -> tuple[np.ndarray, bool]:
    """One photo as uint8 ``(S, S, 3)`` and whether the 8-bit values reproduce ``load_image`` exactly."""
    from colorlab import io

    rgb = io.load_image(path)
    resized = size is not None and rgb.shape[:2] != (size, size)
    if resized:
        rgb = resize_and_crop(rgb, size)
    pixels = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    exact = resized or np.array_equal(pixels.astype(np.float32) / 255.0, rgb)
    return pixels, exact


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(name, "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def pack_corpus(root, out, *, splits: Sequence[str] | str = ("train", "val"), size: int | None = None,
                overwrite: bool = False, threads: int = 1, progress: bool = True) -> pathlib.Path:
    """Decodes a Places365-layout folder once and writes it as one uncompressed ``.npz`` file.

    Members (all readable with ``numpy.load(out)``, no pickles): ``format`` (the string :data:`FORMAT`),
    ``format_version`` (int, :data:`FORMAT_VERSION`), ``splits`` (the packed split names), ``categories``
    (class names in label order, e.g. ``"airfield"``), ``category_paths`` (``"/a/airfield"``), and per split
    ``<split>_images`` uint8 ``(N, S, S, 3)``, ``<split>_labels`` int64 ``(N,)``, ``<split>_paths`` str ``(N,)``
    (each photo's path relative to ``root``, e.g. ``"data_256/a/airfield/00000001.jpg"``), in list-file order.

    The images are streamed into the file as they are decoded, so memory stays at a few hundred photos whatever
    the corpus size. The file is written to a temporary file in ``out``'s folder and moved into place at the end,
    so a reader never sees half a file and an interrupted run leaves nothing behind.

    Args:
        root: a Places365-layout folder (e.g. ``corpus``) or a :class:`~colorlab.data.Places365Folder`.
        out: the file to write; its name must end in ``.npz`` and its folder must exist.
        splits: which splits to pack (``"train"``, ``"val"``); each needs its list file in ``root``.
        size: ``None``: every image must be square and of one size S (Places365's small images and the offline
            corpus are 256 x 256), which is kept. Otherwise images that are not ``size x size`` are brought to it
            with :func:`colorlab.data.resize_and_crop` (shorter side scaled, centre crop).
        overwrite: replace an existing ``out``; without it an existing file is never touched.
        threads: decode this many photos at a time (Pillow releases the GIL while decoding).
        progress: show a progress bar (``tqdm.auto``).

    Returns:
        ``pathlib.Path(out)``.

    Raises:
        DatasetError: ``root`` is not a Places365-layout folder, a split's list file is missing or malformed,
            or (``size=None``) the images are not all square and of one size.
        ConfigError: bad ``splits``/``size``/``threads``, ``out`` not ending in ``.npz``, its folder missing, or
            a folder at ``out``.
        OutputExistsError: ``out`` exists and ``overwrite`` is False.
        ImageLoadError: a photo cannot be decoded (the message names it).
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    folder = root if isinstance(root, Places365Folder) else Places365Folder(root)
    names = _split_list(splits)
    if size is not None:
        size = check_side(size, "pack_corpus: size")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ConfigError(f"pack_corpus: threads must be a positive integer, got {threads!r}")
    out = pathlib.Path(out).expanduser()
    where = repr(os.fspath(out))
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"pack_corpus: {where}: the output name must end in .npz")
    if not out.parent.is_dir():
        raise ConfigError(f"pack_corpus: {where}: folder {os.fspath(out.parent)!r} does not exist")
    if out.is_dir():
        raise ConfigError(f"pack_corpus: {where} is a folder; name the .npz file to write")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"pack_corpus: {where} exists already (pass overwrite=True / --overwrite to "
                                "replace it)")
    items = {name: list(folder.split(name)) for name in names}
    if size is None:
        sides = {name: _common_side(items[name], f"{folder.root} ({name})") for name in names}
        known = {side for side in sides.values() if side is not None}
        if len(known) > 1:
            raise DatasetError(f"{folder.root}: the splits have different image sizes ({sides}); pass size=S "
                               "(--size S) to bring every image to S x S")
        side = known.pop() if known else None
    else:
        side = size

    total = sum(len(v) for v in items.values())
    bar = tqdm(total=total, desc=f"packing {out.name}", unit="img", disable=not progress, dynamic_ncols=True)
    inexact: list[str] = []

    def write(tmp: pathlib.Path) -> None:   # the .npz, through a temporary beside it
        nonlocal side
        with ThreadPoolExecutor(max_workers=threads) as pool, \
                zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            _write_array(archive, "format.npy", np.array(FORMAT))
            _write_array(archive, "format_version.npy", np.array(FORMAT_VERSION, dtype=np.int64))
            _write_array(archive, "splits.npy", np.array(names, dtype=str))
            _write_array(archive, "categories.npy", np.array(folder.categories, dtype=str))
            _write_array(archive, "category_paths.npy", np.array(folder.category_paths, dtype=str))
            for name in names:
                paths = [path for path, _ in items[name]]
                if side is None:  # no readable header at all: take the first decoded photo's size
                    side = _decode(paths[0], None)[0].shape[0]
                header = {"descr": "|u1", "fortran_order": False, "shape": (len(paths), side, side, 3)}
                with archive.open(_member(name, "images"), "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    for start in range(0, len(paths), _CHUNK):
                        chunk = paths[start:start + _CHUNK]
                        for path, (pixels, exact) in zip(chunk, pool.map(lambda p: _decode(p, size), chunk)):
                            if pixels.shape != (side, side, 3):
                                raise DatasetError(
                                    f"{folder.root} ({name}): {path} decodes to {pixels.shape[1]}x{pixels.shape[0]}"
                                    f", the others to {side}x{side}; pass size=S (--size S) to bring every image "
                                    "to S x S")
                            member.write(np.ascontiguousarray(pixels).tobytes())
                            if not exact:
                                inexact.append(str(path))
                            bar.update(1)
                _write_array(archive, _member(name, "labels"),
                             np.array([label for _, label in items[name]], dtype=np.int64))
                _write_array(archive, _member(name, "paths"),
                             np.array([pathlib.Path(os.path.relpath(p, folder.root)).as_posix() for p in paths],
                                      dtype=str))

    try:
        write_atomic(out, write, overwrite=overwrite)
    finally:
        bar.close()
    if inexact:
        warnings.warn(f"pack_corpus: {len(inexact)} photo(s) are not exactly 8-bit after loading (transparency "
                      f"composited over white, or 16-bit), e.g. {inexact[0]}: stored rounded to 8 bits, so their "
                      "batches differ from the folder's by up to 0.5/255", stacklevel=2)
    return out


# ------------------------------------------------------------------------------------------------- reading

def is_packed(path) -> bool:
    """True when ``path`` is a file that :class:`PackedCorpus` can open (a zip with a ``format`` member); cheap."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return "format.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def open_training_data(path) -> tuple:
    """``(photos, dataset class)`` for ``colorlab train --data PATH``: a file from ``colorlab pack`` gives
    ``(PackedCorpus, PackedPairDataset)`` (the same batches, photos from memory), a Places365-layout folder
    ``(Places365Folder, PairDataset)``. The dataset classes subclass ``keras.utils.PyDataset``, so this imports
    Keras."""
    path = pathlib.Path(path).expanduser()
    if path.is_file():
        return PackedCorpus(path), _packed_pair_dataset_class()
    from colorlab.data import PairDataset   # built on first use (Keras)

    return Places365Folder(path), PairDataset


def _read_member(archive: zipfile.ZipFile, name: str, where: str) -> np.ndarray:
    try:
        with archive.open(name) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except KeyError:
        raise DatasetError(f"{where}: member {name!r} is missing (not a complete packed corpus; re-run "
                           "pack_corpus)") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{where}: member {name!r} is unreadable ({' '.join(str(error).split())})") from None


def _map_member(path: pathlib.Path, archive: zipfile.ZipFile, name: str, where: str) -> np.ndarray:
    """A read-only ``numpy.memmap`` of a stored (uncompressed) ``.npy`` member: its bytes are a plain range of
    the zip file, found from the member's local header; falls back to reading it into memory if compressed."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise DatasetError(f"{where}: member {name!r} is missing (not a complete packed corpus; re-run "
                           "pack_corpus)") from None
    if info.compress_type != zipfile.ZIP_STORED:
        return _read_member(archive, name, where)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise DatasetError(f"{where}: member {name!r} has a corrupt zip header")
        handle.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
        try:
            version = np.lib.format.read_magic(handle)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = reader(handle)
        except ValueError as error:
            raise DatasetError(f"{where}: member {name!r} is not a .npy array ({error})") from None
        offset = handle.tell()
    if fortran or dtype.hasobject:
        raise DatasetError(f"{where}: member {name!r} has an unexpected layout")
    if offset + int(np.prod(shape)) * dtype.itemsize > path.stat().st_size:
        raise DatasetError(f"{where}: member {name!r} is truncated")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(shape))


class PackedCorpus(Places365Folder):
    """A corpus written by :func:`pack_corpus`, opened for reading.

    It is a :class:`colorlab.data.Places365Folder` (``categories``, ``category_paths``, ``split()``), so code
    written for folders takes it; :meth:`split` returns ``(relative_path, label)`` items whose paths name the
    photo's original place under the packed folder (``PurePosixPath("data_256/a/airfield/00000001.jpg")``; not a
    file on disk), :meth:`images` gives the photos and :meth:`photo` one of them as a folder would.

    Attributes:
        root: the packed file (``pathlib.Path``).
        splits: the packed split names, e.g. ``("train", "val")``.
        size: the photos' side S.
        format_version: the file's format version.

    Args:
        path: the ``.npz`` file.
        mmap: memory-map the image arrays (default; instant to open, shared between processes); False reads them
            into memory.

    Raises:
        DatasetError: the file is missing, not a zip/npz, not a packed corpus, from a newer colorlab, or
            inconsistent (the message names the file and the member).
    """

    def __init__(self, path, *, mmap: bool = True):
        # Places365Folder.__init__ is not called: it reads a folder's list files, which live in the .npz here.
        self.root = pathlib.Path(path).expanduser()
        self.mmap = bool(mmap)
        where = os.fspath(self.root)
        if not self.root.is_file():
            hint = " (it is a folder: pack it with pack_corpus / `colorlab pack`)" if self.root.is_dir() else ""
            raise DatasetError(f"{where}: no such packed corpus file{hint}")
        try:
            archive = zipfile.ZipFile(self.root)
        except (zipfile.BadZipFile, OSError) as error:
            raise DatasetError(f"{where}: not a packed corpus (not an .npz/zip file: {error}); write one with "
                               "pack_corpus or `colorlab pack`") from None
        with archive:
            if "format.npy" not in archive.namelist():
                raise DatasetError(f"{where}: not a packed corpus (an .npz without a 'format' member); write one "
                                   "with pack_corpus or `colorlab pack`")
            fmt = _read_member(archive, "format.npy", where)
            if fmt.shape != () or str(fmt) != FORMAT:
                raise DatasetError(f"{where}: format {fmt!r} is not {FORMAT!r}")
            self.format_version = int(_read_member(archive, "format_version.npy", where))
            if self.format_version > FORMAT_VERSION:
                raise DatasetError(f"{where}: format version {self.format_version} was written by a newer colorlab "
                                   f"(this one reads up to {FORMAT_VERSION}); update colorlab or re-pack")
            self.splits = tuple(str(s) for s in _read_member(archive, "splits.npy", where))
            self.categories = [str(c) for c in _read_member(archive, "categories.npy", where)]
            self.category_paths = [str(c) for c in _read_member(archive, "category_paths.npy", where)]
            if len(self.categories) != len(self.category_paths) or not self.categories:
                raise DatasetError(f"{where}: 'categories' and 'category_paths' disagree or are empty")
            self._images, self._labels, self._paths = {}, {}, {}
            self.size = None
            for split in self.splits:
                images = (_map_member(self.root, archive, _member(split, "images"), where) if self.mmap
                          else _read_member(archive, _member(split, "images"), where))
                labels = _read_member(archive, _member(split, "labels"), where)
                paths = _read_member(archive, _member(split, "paths"), where)
                n = len(labels)
                if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] != n or images.shape[3] != 3
                        or images.shape[1] != images.shape[2] or paths.shape != (n,) or n == 0):
                    raise DatasetError(f"{where}: split {split!r} is inconsistent: images {images.shape} "
                                       f"{images.dtype}, {n} labels, {paths.shape[0]} paths")
                if labels.min() < 0 or labels.max() >= len(self.categories):
                    raise DatasetError(f"{where}: split {split!r} has labels outside [0, {len(self.categories)})")
                if self.size not in (None, images.shape[1]):
                    raise DatasetError(f"{where}: the splits have different image sizes")
                self.size = int(images.shape[1])
                self._images[split], self._labels[split] = images, labels.astype(np.int64)
                self._paths[split] = [str(p) for p in paths]
        self._splits: dict[str, list] = {}

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}: {len(self._labels[s])}" for s in self.splits)
        return (f"PackedCorpus({os.fspath(self.root)!r}, {len(self.categories)} categories, {counts}, "
                f"{self.size}x{self.size})")

    def __getstate__(self):  # a memmap would be pickled as a full copy: reopen the file instead
        return {"root": self.root, "mmap": self.mmap}

    def __setstate__(self, state):
        self.__init__(state["root"], mmap=state["mmap"])

    def _check(self, split: str) -> str:
        split = split_name(split)
        if split not in self.splits:
            raise DatasetError(f"{os.fspath(self.root)}: no {split!r} split in this packed corpus (it has "
                               f"{', '.join(self.splits)}); pack it with splits=(..., {split!r})")
        return split

    def split(self, split: str = "train") -> list[tuple[pathlib.PurePosixPath, int]]:
        """``(relative_path, label)`` per photo of ``split``, in list-file order (cached; do not modify).

        Raises:
            ConfigError: unknown split name.
            DatasetError: the split was not packed.
        """
        split = self._check(split)
        if split not in self._splits:
            self._splits[split] = [(pathlib.PurePosixPath(p), int(label))
                                   for p, label in zip(self._paths[split], self._labels[split])]
        return self._splits[split]

    def images(self, split: str = "train") -> np.ndarray:
        """uint8 ``(N, S, S, 3)`` photos of ``split`` (read-only memmap, or an array with ``mmap=False``)."""
        return self._images[self._check(split)]

    def photo(self, split: str, index: int) -> np.ndarray:
        """Photo ``index`` of ``split`` as float32 ``(S, S, 3)`` in [0, 1]: the stored 8-bit values / 255, which is
        exactly what :func:`colorlab.io.load_image` gives for the JPEG it was packed from (what
        :class:`~colorlab.data.PairDataset` reads)."""
        return np.asarray(self.images(split)[index], dtype=np.float32) / 255.0

    def labels(self, split: str = "train") -> np.ndarray:
        """int64 ``(N,)`` labels of ``split``."""
        return self._labels[self._check(split)]

    def paths(self, split: str = "train") -> list[str]:
        """The photos' paths relative to the packed folder, e.g. ``"data_256/a/airfield/00000001.jpg"``."""
        return list(self._paths[self._check(split)])


# ------------------------------------------------------------------------------------------------- dataset

class _PackedFile:
    """``PairDataset``'s batches from a packed corpus (:func:`pack_corpus`): photos from memory, not JPEGs.

    A :class:`colorlab.data.PairDataset` over the :class:`PackedCorpus` the file opens to: batch ``k`` of epoch ``e``
    equals ``PairDataset(folder, ...).batch(k, e)`` on the folder the file was packed from, with the same
    arguments, bit for bit (see the module docstring). Shapes:
    ``inputs = {"target_l": (B, S, S, 1), "reference_lab": (B, R, R, 3)}``,
    ``targets = {"target_ab": (B, S, S, 2), "label": (B,) int32}``, all float32 but ``label``.

    Args:
        path: the packed ``.npz`` file or a :class:`PackedCorpus`.
        split, config_or_size, batch_size, mode_ratio, seed: as ``PairDataset``.
        mmap: memory-map the photos (see :class:`PackedCorpus`).
        **kwargs: ``PairDataset``'s keyword arguments (``shuffle``, ``drop_remainder``, ``limit``, ``threads``,
            ``cache_bytes``, ``processes``, and ``keras.utils.PyDataset``'s).

    Raises:
        DatasetError: the file is not a packed corpus or lacks the split.
        ConfigError: bad arguments (as ``PairDataset``).
    """

    def __init__(self, path, split: str = "train", config_or_size=128, batch_size: int = 16,
                 mode_ratio: float = 0.5, seed: int = 0, *, mmap: bool = True, **kwargs):
        corpus = path if isinstance(path, PackedCorpus) else PackedCorpus(path, mmap=mmap)
        super().__init__(corpus, split, config_or_size, batch_size, mode_ratio, seed, **kwargs)

    @property
    def corpus(self) -> PackedCorpus:
        """The packed corpus the photos come from (the dataset's ``folder``)."""
        return self.folder


def _packed_pair_dataset_class():
    """Builds ``PackedPairDataset`` = ``_PackedFile`` + :class:`colorlab.data.PairDataset` on first use (PairDataset
    is built on first use itself, because it subclasses ``keras.utils.PyDataset``)."""
    global _PACKED_PAIR_DATASET
    if _PACKED_PAIR_DATASET is None:
        from colorlab.data import PairDataset

        _PACKED_PAIR_DATASET = type("PackedPairDataset", (_PackedFile, PairDataset),
                                    {"__doc__": _PackedFile.__doc__, "__module__": __name__,
                                     "__qualname__": "PackedPairDataset"})
    return _PACKED_PAIR_DATASET


_PACKED_PAIR_DATASET = None


def __getattr__(name):
    if name == "PackedPairDataset":
        return _packed_pair_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
