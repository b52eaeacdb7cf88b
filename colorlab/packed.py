"""A Places365-layout corpus packed into one file, and the same training batches read from memory.

Why (ours): :class:`colorlab.data.PairDataset` decodes two JPEGs per example on the thread that asks for the batch.
That is fine on a laptop, but a GPU that trains the ``course`` model at thousands of images per second waits on
it, and the GPU machine is easier to feed one file than a folder of thousands of small ones. So:

* :func:`pack_corpus` decodes a Places365-layout folder (:class:`colorlab.data.Places365Folder`) **once** and
  writes one uncompressed ``.npz``: per split, the decoded photos as one uint8 array ``(N, S, S, 3)``, their
  labels and original relative paths, plus the class names and a format version. The offline corpus (481 photos
  of 256 x 256) becomes a 90 MiB file, written in about a second.
* :class:`PackedCorpus` opens such a file. The image arrays are **memory-mapped** (the members are stored
  uncompressed, so each ``.npy`` member is a plain byte range of the file): opening is instant, the operating
  system pages photos in on first use and shares them between processes.
* ``PackedPairDataset`` gives **the same batches** as ``PairDataset`` on the folder it was packed from: the same
  pairs, order and augmentations for every ``(seed, epoch, index)``, the same pixel values (the Lab conversion
  of a pixel does not depend on what else is in the batch: bit for bit on TensorFlow and JAX on the CPU, which
  the tests check to 1e-6). It reuses
  :mod:`colorlab.data`'s pair plan (:func:`~colorlab.data.make_pairs`, the per-epoch shuffle),
  :func:`~colorlab.data.augment_reference`, :func:`~colorlab.data.resize_and_crop` and the Lab normalisation,
  and changes only where the photos come from, plus two things that make it faster without changing a value:

  - a **cache of deterministic work** (ours): a target's input and ground truth, and an ``"other"`` reference,
    depend on the photo and the working size only (nothing random touches them), so their normalised Lab images
    are computed once and kept (up to ``cache_bytes``). Only the ``"same"`` references, whose augmentation is
    drawn anew every epoch, are computed every time. From the second epoch on, about half the per-example work
    is gone.
  - ``threads`` (ours): the per-example resizing and augmentation of one batch run on a thread pool (Pillow
    and NumPy release the GIL), so one batch uses several cores. ``Trainer.fit`` asks for one batch at a
    time (the next one loads while the current one trains), so parallelism has to live inside the batch.

The stored photos are the 8-bit values the JPEG decoder produced (``colorlab.io.load_image`` x 255, exact), so
nothing is lost. Photos that are not exactly 8-bit after loading (transparency composited over white, 16-bit
files) are rounded to 8 bits and :func:`pack_corpus` warns; with ``size`` given, photos of another size are
brought to ``size x size`` with :func:`~colorlab.data.resize_and_crop` before rounding, so the packed corpus then
equals a folder of those resized photos rather than the original folder.

Importing this module imports neither Keras nor TensorFlow (``PackedPairDataset`` is built on first access, as
``colorlab.data.PairDataset`` is, because it subclasses ``keras.utils.PyDataset``).
"""

from __future__ import annotations

import os
import pathlib
import struct
import threading
import warnings
import zipfile
from typing import Sequence

import numpy as np
from PIL import Image

from colorlab.data import (Places365Folder, _check_side, _normalised_lab, _PairDataset, _split_name, _with_pydataset,
                           augment_reference, resize_and_crop)
from colorlab.errors import ConfigError, DatasetError, OutputExistsError

__all__ = ["FORMAT", "FORMAT_VERSION", "PackedCorpus", "PackedPairDataset", "pack_corpus", "is_packed"]

#: The ``format`` member of every packed file, so a random ``.npz`` is recognised as "not a packed corpus".
FORMAT = "colorlab.packed-corpus"
#: Bumped when the layout changes; a reader refuses files newer than it knows.
FORMAT_VERSION = 1
#: Default size of the dataset's cache of deterministic Lab images, in bytes (4 GiB: the whole offline corpus
#: at 128 px takes 84 MB; 4 GiB holds ~21,000 photos at 128 px).
DEFAULT_CACHE_BYTES = 4 * 2 ** 30

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # a zip local file header: 30 bytes, name and extra lengths last
_CHUNK = 256                                # images decoded per round when packing with threads
_LAB_CHUNK = 8                              # images per Lab conversion call: one array shape for the backend


def _member(split: str, what: str) -> str:
    return f"{split}_{what}.npy"


# ------------------------------------------------------------------------------------------------- packing

def _split_list(splits) -> list[str]:
    if isinstance(splits, str):
        splits = (splits,)
    try:
        names = [_split_name(s) for s in splits]
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

    from colorlab import io

    folder = root if isinstance(root, Places365Folder) else Places365Folder(root)
    names = _split_list(splits)
    if size is not None:
        size = _check_side(size, "pack_corpus: size")
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
    tmp = io._create_temporary(out.parent, out.name)
    try:
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
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, out)
        else:
            io._move_without_clobbering(tmp, out, where)
    finally:
        bar.close()
        if os.path.lexists(tmp):
            os.unlink(tmp)
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
    file on disk), and :meth:`images` gives the photos.

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
        split = _split_name(split)
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

    def labels(self, split: str = "train") -> np.ndarray:
        """int64 ``(N,)`` labels of ``split``."""
        return self._labels[self._check(split)]

    def paths(self, split: str = "train") -> list[str]:
        """The photos' paths relative to the packed folder, e.g. ``"data_256/a/airfield/00000001.jpg"``."""
        return list(self._paths[self._check(split)])


# ------------------------------------------------------------------------------------------------- dataset

class _PackedPairDataset(_PairDataset):
    """``PairDataset``'s batches from a packed corpus (:func:`pack_corpus`): photos from memory, not JPEGs.

    Batch ``k`` of epoch ``e`` equals ``PairDataset(folder, ...).batch(k, e)`` on the folder the file was packed
    from, with the same arguments: same pairs, order, augmentations and pixel values (see the module docstring).
    Shapes: ``inputs = {"target_l": (B, S, S, 1), "reference_lab": (B, R, R, 3)}``,
    ``targets = {"target_ab": (B, S, S, 2), "label": (B,) int32}``, all float32 but ``label``.

    Args:
        path: the packed ``.npz`` file or a :class:`PackedCorpus`.
        split, config_or_size, batch_size, mode_ratio, seed, shuffle, drop_remainder, limit: as ``PairDataset``.
        threads: threads that prepare one batch's examples (resize, augmentation) in parallel; 1 = none.
            Useful on a many-core machine: ``Trainer.fit`` asks for one batch at a time.
        cache_bytes: keep the normalised Lab images of targets and ``"other"`` references (deterministic: a
            function of the photo and the working size only) up to this many bytes (default 4 GiB; ``None``: no
            limit; 0: no cache). Each cached photo costs ``S * S * 3 * 4`` bytes (196 KB at 128 px); a second
            side when ``R != S``.
        mmap: memory-map the photos (see :class:`PackedCorpus`).
        **kwargs: passed to ``keras.utils.PyDataset`` (``workers``, ``use_multiprocessing``, ``max_queue_size``:
            how many batches ``model.fit`` prepares at once).

    Raises:
        DatasetError: the file is not a packed corpus or lacks the split.
        ConfigError: bad arguments (as ``PairDataset``), or bad ``threads`` / ``cache_bytes``.
    """

    def __init__(self, path, split: str = "train", config_or_size=128, batch_size: int = 16,
                 mode_ratio: float = 0.5, seed: int = 0, *, shuffle: bool = True, drop_remainder: bool = False,
                 limit: int | None = None, threads: int = 1, cache_bytes: int | None = DEFAULT_CACHE_BYTES,
                 mmap: bool = True, **kwargs):
        corpus = path if isinstance(path, PackedCorpus) else PackedCorpus(path, mmap=mmap)
        corpus._check(split)
        super().__init__(corpus, split, config_or_size, batch_size, mode_ratio, seed, shuffle=shuffle,
                         drop_remainder=drop_remainder, limit=limit, **kwargs)
        self.corpus = corpus
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ConfigError(f"PackedPairDataset: threads must be a positive integer, got {threads!r}")
        if cache_bytes is not None and (isinstance(cache_bytes, bool) or not isinstance(cache_bytes, (int, np.integer))
                                        or cache_bytes < 0):
            raise ConfigError(f"PackedPairDataset: cache_bytes must be an integer >= 0 or None, got {cache_bytes!r}")
        self.threads = int(threads)
        self.cache_bytes = None if cache_bytes is None else int(cache_bytes)
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self._images = self.corpus.images(self.split)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._pool = None

    def __getstate__(self):  # threads, locks and the cache do not travel to another process
        state = {k: v for k, v in self.__dict__.items() if k not in ("_images", "_cache", "_lock", "_pool")}
        state["_plan_cache"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset_runtime()

    def __repr__(self) -> str:
        return (f"PackedPairDataset({os.fspath(self.corpus.root)!r}, {self.split!r}, {len(self.items)} images, "
                f"size {self.size}/{self.reference_size}, batch {self.batch_size}, threads {self.threads})")

    # -- where the photos come from
    def _load(self, index: int) -> np.ndarray:
        """Photo ``index`` of the split: uint8 ``(S, S, 3)``. ``colorlab.data``'s functions read uint8 exactly as
        ``load_image`` reads the JPEG (``value / 255`` in float32), so the results match the folder's bit for bit."""
        return self._images[index]

    def _map(self, fn, values: list) -> list:
        if self.threads == 1 or len(values) < 2:
            return [fn(v) for v in values]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="colorlab-packed")
        return list(self._pool.map(fn, values))

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

    def _lab(self, rgb: np.ndarray) -> np.ndarray:
        """``(n, s, s, 3)`` sRGB -> normalised Lab, in chunks of a fixed size (the last one zero-padded).

        How many images need converting changes from batch to batch (the cache, the "same" draws); JAX compiles
        every new array shape (about a second each on a CPU), so the backend only ever sees one shape per side.
        The conversion is per pixel, so chunking and padding change no value."""
        count = len(rgb)
        chunks = -(-count // _LAB_CHUNK)
        if chunks * _LAB_CHUNK != count:
            rgb = np.concatenate([rgb, np.zeros((chunks * _LAB_CHUNK - count, *rgb.shape[1:]), rgb.dtype)])
        parts = self._map(_normalised_lab, [rgb[k * _LAB_CHUNK:(k + 1) * _LAB_CHUNK] for k in range(chunks)])
        return np.concatenate(parts)[:count]

    def batch(self, index: int, epoch: int | None = None) -> tuple[dict, dict]:
        """Batch ``index`` of ``epoch`` (default: the current one), equal to ``PairDataset``'s; see the class."""
        epoch = self.epoch if epoch is None else int(epoch)
        if not 0 <= index < len(self):
            raise IndexError(f"PackedPairDataset: batch index {index} out of range [0, {len(self)})")
        pairs, order = self._plan(epoch)
        chosen = [pairs[int(p)] for p in order[index * self.batch_size:(index + 1) * self.batch_size]]
        s, r = self.size, self.reference_size
        # slots[k] = (side, key or None): what example k needs; key = (side, photo) for deterministic images
        wanted = [(s, (s, i)) for i, _, _ in chosen]
        wanted += [(r, (r, j) if mode != "same" else None) for i, j, mode in chosen]
        todo, lookup = [], {}
        for n, (side, key) in enumerate(wanted):
            if key is None or (key not in self._cache and key not in lookup):
                todo.append(n)
                if key is not None:
                    lookup[key] = n

        def rgb(n: int) -> np.ndarray:
            side, key = wanted[n]
            if key is not None:
                return resize_and_crop(self._load(key[1]), side)
            i = chosen[n - len(chosen)][0]
            return resize_and_crop(augment_reference(self._load(i), self._augmentation_rng(epoch, i)), side)

        computed = dict(zip(todo, self._map(rgb, todo)))
        labs: dict[int, np.ndarray] = {}
        for side in sorted({wanted[n][0] for n in todo}):  # one Lab conversion per working side
            group = [n for n in todo if wanted[n][0] == side]
            for n, lab in zip(group, self._lab(np.stack([computed[n] for n in group]))):
                labs[n] = lab
                if wanted[n][1] is not None:
                    self._keep(wanted[n][1], lab)

        def get(n: int) -> np.ndarray:
            key = wanted[n][1]
            if key is None:
                return labs[n]
            cached = self._cache.get(key)
            return cached if cached is not None else labs[lookup[key]]

        target = np.stack([get(n) for n in range(len(chosen))])
        reference = np.stack([get(n) for n in range(len(chosen), 2 * len(chosen))])
        labels = np.asarray([self.items[i][1] for i, _, _ in chosen], dtype=np.int32)
        inputs = {"target_l": np.ascontiguousarray(target[..., :1]), "reference_lab": reference}
        return inputs, {"target_ab": np.ascontiguousarray(target[..., 1:]), "label": labels}


def _packed_pair_dataset_class():
    """Builds ``PackedPairDataset`` on first use (it subclasses ``keras.utils.PyDataset``; see colorlab.data)."""
    global _PACKED_PAIR_DATASET
    if _PACKED_PAIR_DATASET is None:
        _PACKED_PAIR_DATASET = _with_pydataset(_PackedPairDataset, "PackedPairDataset")
    return _PACKED_PAIR_DATASET


_PACKED_PAIR_DATASET = None


def __getattr__(name):
    if name == "PackedPairDataset":
        return _packed_pair_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------------------------------- CLI

def add_cli(sub) -> None:
    """Adds the ``pack`` subcommand to an argparse sub-parser collection (for ``colorlab.__main__``)."""
    parser = sub.add_parser(
        "pack", help="decode a Places365-layout folder once into one .npz file for fast training",
        description="Decode every photo of ROOT (a Places365-layout folder, e.g. the corpus) once and write them, "
                    "with labels, paths and class names, into one uncompressed .npz file that `colorlab train "
                    "--data OUT` reads from memory (the same batches as from the folder). Written atomically; an "
                    "existing OUT is replaced only with --overwrite.")
    parser.add_argument("root", metavar="ROOT", help="a Places365-layout folder")
    parser.add_argument("out", metavar="OUT", help="the .npz file to write")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], metavar="SPLIT",
                        help="splits to pack (default: train val)")
    parser.add_argument("--size", type=int, default=None, metavar="S",
                        help="bring every photo to S x S (needed when the photos differ in size)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="T",
                        help="photos decoded at a time (default: the number of CPU cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.set_defaults(func=_cmd_pack)


def _cmd_pack(args) -> int:
    out = pack_corpus(args.root, args.out, splits=args.splits, size=args.size, overwrite=args.overwrite,
                      threads=args.threads)
    corpus = PackedCorpus(out)
    counts = ", ".join(f"{s} {len(corpus.labels(s))}" for s in corpus.splits)
    print(f"packed {counts} photos of {corpus.size}x{corpus.size} into {out} "
          f"({out.stat().st_size / 2 ** 20:.1f} MiB)")
    return 0
