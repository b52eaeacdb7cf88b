"""A small, resumable Places365 subset, streamed straight from the official archives.

Places365-Standard's small images are 1.8 million 256 x 256 JPEGs (about 24 GB for the training archive), and
TFDS's ``places365_small`` downloads train, validation and test in one step. A course needs a few classes and a
few hundred images per class. :func:`build_subset` reads an archive **as it streams over HTTP** (or from a local
file), keeps only the chosen classes / the first ``per_class`` images of each / resized to ``size``, and writes
them in Places365's own layout, so :class:`colorlab.data.Places365Folder` reads the result and the rest of the
code is the same as for the full dataset or the offline corpus. Nothing but the subset is ever written to disk.

What is assumed about the official archives (from the Places365 download page and the layout of its small-image
archives; the tests use small archives built the same way):

* ``train_256_places365standard.tar``: an **uncompressed** tar of ``data_256/<letter>/<category>/NNNNNNNN.jpg``
  (e.g. ``data_256/a/airfield/00000001.jpg``, ``data_256/a/apartment_building/outdoor/00000001.jpg``): the class
  is in the path.
* ``val_256.tar``: ``val_256/Places365_val_NNNNNNNN.jpg``, one flat folder: the class is only in
  ``places365_val.txt``.
* ``filelist_places365-standard.tar``: ``categories_places365.txt`` (``/a/airfield 0``, label order),
  ``places365_train_standard.txt``, ``places365_val.txt`` (``Places365_val_00000001.jpg 165``), ...
* A leading folder (``./``, ``places365/``) before ``data_256`` / ``val_256`` is accepted. List files are
  recognised by name wherever they appear in the stream, so they may come from the image archive itself or from
  the file-list archive passed as ``filelist`` (read first). The "easy format" archive
  (``places365standard_easyformat.tar``, folders without the letter level) is **not** supported.

Choices (ours, and why):

* **Selection**: the first ``per_class`` images of each chosen class *in archive order*, so the subset does not
  depend on timing, interruptions or the machine. Grayscale-mode JPEGs (web photo collections have some) are skipped and do not
  count: a colorizer cannot learn colours from them. Undecodable images are skipped too; the manifest counts both.
* **Resizing**: the shorter side is scaled to ``size`` (Lanczos) and the centre square is cropped, as in
  ``scripts/build_corpus.py``; encoded as baseline JPEG quality 95 with 4:4:4 chroma (colour detail is what a
  colorizer learns) and no metadata. An RGB image that is already ``size x size`` is copied byte for byte
  (no second JPEG loss). Same archive + same Pillow -> byte-identical output.
* **Labels**: when ``categories_places365.txt`` is known, it is written whole (365 lines), so labels are
  Places365's own indices. Without it (a training archive alone), the kept classes are written in sorted path
  order (Places365's own order is alphabetical) with labels 0..C-1.
* **Resuming**: a journal in ``OUT/.places365_subset_<split>/`` records, after every member that matters, the
  byte offset of the *next* tar header (members start on 512-byte blocks, so that offset is a valid place to
  start reading a tar stream). A rerun asks the server for ``Range: bytes=OFFSET-``; when the server ignores
  Range (answers 200), the archive is streamed from the start and what was already processed is skipped.
  Every file is written atomically (:mod:`colorlab.files`: a temporary beside it, then moved), and the journal is
  appended only after the file is in place, so a kill at any point loses at most one image's work (and up to
  16 MiB of streaming through unwanted members, whose offsets are journaled every 16 MiB). The final
  result (images, lists, manifest) is byte-identical to an uninterrupted build; the journal is removed at the end.
* **Early stop**: with explicit ``classes``, streaming stops as soon as every class has ``per_class`` images.

Only the standard library and Pillow are imported here (``tqdm`` when a build runs); no TensorFlow or Keras.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import os
import pathlib
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request

from PIL import Image, UnidentifiedImageError

from colorlab.errors import ConfigError, DatasetError
from colorlab.files import write_bytes, write_json, write_text

__all__ = ["build_subset", "SubsetResult", "OFFLINE_HELP"]

#: What to do when Places365 cannot be downloaded (appended to the one-line errors).
OFFLINE_HELP = ("Places365 cannot be downloaded from here: use the offline corpus instead "
                "(`python scripts/build_corpus.py --out corpus`, then `--data corpus`)")

_BLOCK = 512                       # tar header/data alignment
_CHECKPOINT_BYTES = 16 * 2 ** 20   # journal the offset at least this often while skipping unwanted members
_TAIL_BYTES = 1 << 16              # how much of the stream the reader keeps, to check the end-of-archive block
_CATEGORIES = "categories_places365.txt"
_VAL_LIST = "places365_val.txt"
_LIST_NAMES = {"train": "places365_train_standard.txt", "val": _VAL_LIST}
_FOLDERS = {"train": "data_256", "val": "val_256"}
_SAFE_PART = re.compile(r"^[A-Za-z0-9_\-]+$")
_JPEG_NAME = re.compile(r"^[A-Za-z0-9_\-]+\.(?:jpg|jpeg)$", re.IGNORECASE)
_MAX_LIST_BYTES = 256 * 2 ** 20    # list files above this are not read (the train list is ~ 60 MB)


@dataclasses.dataclass
class SubsetResult:
    """What :func:`build_subset` did.

    Attributes:
        root: the output folder (a ``Places365Folder`` root).
        split: ``"train"`` or ``"val"``.
        counts: images kept per category path (``{"/a/airfield": 100, ...}``), in label order.
        skipped: images of chosen classes that were not kept, per reason (``"grayscale"``, ``"unreadable"``).
        images: total images kept.
        bytes_streamed: archive bytes read by *this* call (0 when the subset was already complete).
        resumed_from: the byte offset this call started reading at (0 for a fresh build).
        range_used: whether the server honoured a Range request in this call.
    """

    root: pathlib.Path
    split: str
    counts: dict
    skipped: dict
    images: int
    bytes_streamed: int = 0
    resumed_from: int = 0
    range_used: bool = False


class _Interrupted(Exception):
    """The stream broke off (network error, truncated data); the build can be resumed."""


class _Truncated(ConnectionError):
    """The connection closed before Content-Length bytes arrived."""


class _Unreachable(DatasetError):
    """The host could not be reached (no network, closed port, DNS failure)."""


# ------------------------------------------------------------------------------------------- small helpers

def _blocks(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme in ("http", "https")


def _local_path(location: str) -> pathlib.Path:
    parts = urllib.parse.urlsplit(location)
    if parts.scheme == "file":
        return pathlib.Path(urllib.request.url2pathname(parts.path))
    if parts.scheme and len(parts.scheme) > 1:   # one letter: a Windows drive
        raise ConfigError(f"places365: {location!r}: only http(s):// URLs, file:// URLs and local paths are "
                          "supported")
    return pathlib.Path(location).expanduser()


def _source_id(location: str) -> str:
    return location if _is_url(location) else str(_local_path(location).resolve())


def _category_path(name: str) -> str:
    """``"airfield"``, ``"a/airfield"`` or ``"/a/airfield"`` -> ``"/a/airfield"`` (Places365's list form)."""
    text = str(name).strip().strip("/")
    parts = text.split("/")
    if not text or not all(_SAFE_PART.match(part) for part in parts):
        raise ConfigError(f"places365: class {name!r} is not a Places365 category name (e.g. 'airfield', "
                          "'apartment_building/outdoor' or '/a/airfield')")
    if len(parts) >= 2 and len(parts[0]) == 1 and parts[1][:1].lower() == parts[0].lower():
        return "/" + text
    return f"/{text[0]}/{text}"


def _parse_member(name: str, split: str) -> tuple[str, str | None, pathlib.PurePosixPath] | None:
    """An image member of ``split`` -> (list entry, category path or None for val, output path under OUT).

    Train: ``[prefix/]data_256/a/airfield/00000001.jpg`` -> ``("/a/airfield/00000001.jpg", "/a/airfield",
    data_256/a/airfield/00000001.jpg)``. Val: ``[prefix/]val_256/Places365_val_00000001.jpg`` ->
    ``("Places365_val_00000001.jpg", None, val_256/Places365_val_00000001.jpg)``. Anything else (and any name
    with unexpected characters, e.g. ``..``) -> None.
    """
    folder = _FOLDERS[split]
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if folder not in parts:
        return None
    rest = parts[len(parts) - 1 - parts[::-1].index(folder) + 1:]
    if not rest or not _JPEG_NAME.match(rest[-1]):
        return None
    if split == "val":
        if len(rest) != 1:
            return None
        return rest[0], None, pathlib.PurePosixPath(folder, rest[0])
    if len(rest) < 3 or len(rest[0]) != 1 or not all(_SAFE_PART.match(part) for part in rest[:-1]):
        return None
    return "/" + "/".join(rest), "/" + "/".join(rest[:-1]), pathlib.PurePosixPath(folder, *rest)


def _parse_list(text: str, what: str) -> list[tuple[str, int]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.rsplit(None, 1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise DatasetError(f"{what}, line {number}: expected 'NAME INDEX', got {line[:80]!r}")
        rows.append((parts[0], int(parts[1])))
    return rows


# ------------------------------------------------------------------------------------------------ reading

class _Reader:
    """A file-like wrapper around a response/file: counts bytes, feeds the progress bar, keeps the last bytes,
    and raises :class:`_Truncated` when the stream ends before the announced length."""

    def __init__(self, raw, remaining: int | None, bar):
        self.raw, self.remaining, self.bar = raw, remaining, bar
        self.count = 0
        self.tail = bytearray()
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            cut = len(self._pending) if size is None or size < 0 else size
            data, self._pending = self._pending[:cut], self._pending[cut:]
            return data
        data = self.raw.read(size if size is not None and size >= 0 else -1)
        if not data and size != 0 and self.remaining:
            raise _Truncated(f"the connection closed {self.remaining:,} bytes before the end")
        self.count += len(data)
        if self.remaining is not None:
            self.remaining -= len(data)
        self.tail += data
        del self.tail[:-_TAIL_BYTES]
        if self.bar is not None:
            self.bar.update(len(data))
        return data

    def peek_block(self) -> bytes:
        """The first 512 bytes, which the next :meth:`read` returns again."""
        block = b""
        while len(block) < _BLOCK:
            data = self.read(_BLOCK - len(block))
            if not data:
                break
            block += data
        self._pending = block
        return block

    def block_at(self, position: int) -> bytes | None:
        """The 512 bytes at stream position ``position`` if they are still in the tail, else None."""
        start = position - (self.count - len(self.tail))
        if start < 0 or start + _BLOCK > len(self.tail):
            return None
        return bytes(self.tail[start:start + _BLOCK])


@dataclasses.dataclass
class _Stream:
    raw: object
    start: int          # absolute offset of the first byte ``raw`` returns
    total: int | None   # archive size in bytes, if known
    range_used: bool


def _open(location: str, start: int, timeout: float) -> _Stream:
    """Opens ``location`` at byte ``start`` (Range request for URLs; the server may answer from 0)."""
    if not _is_url(location):
        path = _local_path(location)
        if not path.is_file():
            raise DatasetError(f"places365: {path}: archive not found (give the URL or path of "
                               "train_256_places365standard.tar or val_256.tar)")
        handle = open(path, "rb")
        handle.seek(start)
        return _Stream(handle, start, path.stat().st_size, start > 0)
    headers = {"Accept-Encoding": "identity", "User-Agent": "colorlab-places365-subset"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(location, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise DatasetError(f"places365: {location}: HTTP {error.code} {_one_line(error.reason)}; check the URL. "
                           f"{OFFLINE_HELP}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise _Unreachable(f"places365: could not reach {location} ({_one_line(reason)}). {OFFLINE_HELP}") from None
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != start:
            response.close()
            raise DatasetError(f"places365: {location}: the server answered a Range request for byte {start} with "
                               f"{response.headers.get('Content-Range')!r}; delete the output folder to start over")
        total = int(match.group(3)) if match.group(3) != "*" else None
        return _Stream(response, start, total, True)
    return _Stream(response, 0, length, False)


# ------------------------------------------------------------------------------------------------- state

class _Lists:
    """Category names and val labels, learned from list files (cached in the work folder for resuming)."""

    def __init__(self, work: pathlib.Path):
        self.work = work
        self.categories: list[str] | None = None
        self.val_labels: dict[str, int] | None = None
        for name in (_CATEGORIES, _VAL_LIST):
            path = work / name
            if path.is_file():
                self.add(name, path.read_bytes(), cache=False)

    def add(self, name: str, data: bytes, cache: bool = True) -> None:
        text = data.decode("utf-8", errors="replace")
        rows = _parse_list(text, name)
        if name == _CATEGORIES:
            if [index for _, index in rows] != list(range(len(rows))):
                raise DatasetError(f"places365: {name}: indices must run 0, 1, 2, ... in file order")
            self.categories = [path for path, _ in rows]
        else:
            self.val_labels = {file: index for file, index in rows}
        if cache:
            write_bytes(self.work / name, data)

    def needed(self, split: str) -> set[str]:
        missing = set() if self.categories is not None else {_CATEGORIES}
        if split == "val" and self.val_labels is None:
            missing.add(_VAL_LIST)
        return missing


class _Journal:
    """Append-only record of a build in progress: JSON lines, the first holding the parameters.

    Lines: ``{"offset": N}`` (everything before byte N is processed), ``{"offset": N, "keep": ENTRY, "class":
    CATEGORY}`` (an image written), ``{"offset": N, "skip": REASON}`` (an image of a chosen class not kept).
    A torn last line (a kill while appending) is dropped when the journal is read back.
    """

    def __init__(self, work: pathlib.Path, params: dict):
        self.path = work / "journal.jsonl"
        self.offset = 0
        self.archive_bytes = None
        self.kept: list[tuple[str, str]] = []
        self.skipped: dict[str, int] = {}
        lines = []
        if self.path.is_file():
            raw = self.path.read_text(encoding="utf-8").split("\n")
            lines = [json.loads(line) for line in raw[:-1] if line]  # raw[-1] is "" or a torn line
        if lines and lines[0].get("params") != params:
            raise DatasetError(f"places365: {work.parent} holds an unfinished subset built with other settings "
                               f"({lines[0].get('params')}); rerun with those, or delete the folder")
        if not lines:
            lines = [{"params": params}]
        for line in lines[1:]:
            if "archive_bytes" in line:
                self.archive_bytes = line["archive_bytes"]
                continue
            self.offset = line["offset"]
            if "keep" in line:
                self.kept.append((line["keep"], line["class"]))
            elif "skip" in line:
                self.skipped[line["skip"]] = self.skipped.get(line["skip"], 0) + 1
        work.mkdir(parents=True, exist_ok=True)
        write_text(self.path, "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
        self._handle = open(self.path, "a", encoding="utf-8")
        self.journaled = self.offset

    def append(self, **record) -> None:
        if "offset" in record:
            self.offset = record["offset"]
            self.journaled = self.offset
        if "keep" in record:
            self.kept.append((record["keep"], record["class"]))
        elif "skip" in record:
            self.skipped[record["skip"]] = self.skipped.get(record["skip"], 0) + 1
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


# ------------------------------------------------------------------------------------------------- images

def _convert(data: bytes, size: int) -> tuple[bytes | None, str | None]:
    """JPEG bytes -> (output JPEG bytes, None) or (None, skip reason)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
                return None, "grayscale"
            if image.mode == "RGB" and image.size == (size, size) and image.format == "JPEG":
                return data, None
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None, "unreadable"
    width, height = rgb.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    rgb = rgb.resize((new_w, new_h), Image.Resampling.LANCZOS)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    rgb = rgb.crop((left, top, left + size, top + size))
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=95, subsampling=0, optimize=False)
    return buffer.getvalue(), None


# ------------------------------------------------------------------------------------------------ the build

def _read_filelist(location: str, lists: _Lists, split: str, timeout: float) -> None:
    """Reads the list files ``split`` needs from a folder or a (streamed) file-list tar, into ``lists``."""
    local = None if _is_url(location) else _local_path(location)
    if local is not None and local.is_dir():
        for name in sorted(lists.needed(split)):
            if (local / name).is_file():
                lists.add(name, (local / name).read_bytes())
        return
    stream = _open(location, 0, timeout)
    try:
        with tarfile.open(fileobj=_Reader(stream.raw, None, None), mode="r|") as tar:
            while lists.needed(split):
                member = tar.next()
                if member is None:
                    break
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in lists.needed(split) and member.size <= _MAX_LIST_BYTES:
                    lists.add(name, tar.extractfile(member).read())
                del tar.members[:]
    except (tarfile.TarError, OSError, http.client.HTTPException) as error:
        raise DatasetError(f"places365: {location}: could not read the file-list archive ({_one_line(error)}); "
                           f"{OFFLINE_HELP}") from None
    finally:
        stream.raw.close()


class _Build:
    def __init__(self, out, split, classes, per_class, size, journal, lists, source):
        self.out, self.split, self.classes = out, split, classes
        self.per_class, self.size = per_class, size
        self.journal, self.lists, self.source = journal, lists, source
        self.counts: dict[str, int] = {}
        self.bytes_streamed, self.range_used = 0, False
        for _, category in journal.kept:
            self.counts[category] = self.counts.get(category, 0) + 1

    def full(self) -> bool:
        return self.classes is not None and all(self.counts.get(c, 0) >= self.per_class for c in self.classes)

    def wanted(self, category: str) -> bool:
        return ((self.classes is None or category in self.classes)
                and self.counts.get(category, 0) < self.per_class)

    def check_classes(self) -> None:
        if self.classes is None or self.lists.categories is None:
            return
        unknown = sorted(set(self.classes) - set(self.lists.categories))
        if unknown:
            raise ConfigError(f"places365: unknown classes {unknown} (not in {_CATEGORIES}; names look like "
                              f"'airfield' or '/a/airfield', e.g. {self.lists.categories[:3]})")

    def process(self, tar: tarfile.TarFile, member: tarfile.TarInfo, next_offset: int) -> None:
        """Handles one member (reading its data may raise network errors); journals it if it mattered."""
        base = member.name.rsplit("/", 1)[-1]
        if member.isfile() and base in (_CATEGORIES, _VAL_LIST) and member.size <= _MAX_LIST_BYTES:
            self.lists.add(base, tar.extractfile(member).read())
            self.check_classes()
            self.journal.append(offset=next_offset)
            return
        parsed = _parse_member(member.name, self.split) if member.isfile() else None
        if parsed is not None:
            entry, category, relative = parsed
            if category is None:  # val: the class comes from places365_val.txt
                if self.lists.val_labels is None or self.lists.categories is None:
                    raise DatasetError(f"places365: {member.name}: val images carry no class in their path and "
                                       f"{_VAL_LIST} / {_CATEGORIES} were not found before them; pass "
                                       "filelist= (--filelist) with filelist_places365-standard.tar or its folder")
                label = self.lists.val_labels.get(entry)
                category = self.lists.categories[label] if label is not None and 0 <= label < len(
                    self.lists.categories) else None
            if category is not None and self.wanted(category):
                data, reason = _convert(tar.extractfile(member).read(), self.size)
                if data is None:
                    self.journal.append(offset=next_offset, skip=reason)
                else:
                    (self.out / relative).parent.mkdir(parents=True, exist_ok=True)
                    write_bytes(self.out / relative, data)
                    self.counts[category] = self.counts.get(category, 0) + 1
                    self.journal.append(offset=next_offset, keep=entry, **{"class": category})
                return
        if next_offset - self.journal.journaled >= _CHECKPOINT_BYTES:
            self.journal.append(offset=next_offset)
        else:
            self.journal.offset = next_offset

    def stream(self, timeout: float, progress: bool) -> None:
        """Streams from the journal's offset to the end of the archive (or until every class is full).

        Raises _Interrupted when the stream breaks off; DatasetError for problems a rerun cannot fix."""
        from tqdm.auto import tqdm

        resume_at = self.journal.offset
        stream = _open(self.source, resume_at, timeout)
        if stream.total is not None:
            if self.journal.archive_bytes is None:
                self.journal.append(archive_bytes=stream.total)
                self.journal.archive_bytes = stream.total
            elif self.journal.archive_bytes != stream.total:
                stream.raw.close()
                raise DatasetError(f"places365: {self.source} changed size since the interrupted build "
                                   f"({self.journal.archive_bytes:,} -> {stream.total:,} bytes); delete "
                                   f"{self.out} to start over")
        skip_until = resume_at if stream.start < resume_at else 0
        bar = tqdm(total=stream.total, initial=stream.start, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"Places365 {self.split} subset", disable=not progress, leave=False)
        remaining = None if stream.total is None else stream.total - stream.start
        reader = _Reader(stream.raw, remaining, bar)
        self.range_used = self.range_used or stream.range_used
        try:
            try:
                if stream.start > 0 and reader.peek_block() == bytes(_BLOCK):
                    return  # resumed exactly at the end-of-archive block: nothing is left
                tar = tarfile.open(fileobj=reader, mode="r|")
            except (OSError, http.client.HTTPException) as error:
                raise _Interrupted(_one_line(error)) from None
            except tarfile.ReadError as error:
                if stream.start == 0:
                    raise DatasetError(f"places365: {self.source}: not an uncompressed tar archive "
                                       f"({_one_line(error)})") from None
                raise _Interrupted(_one_line(error)) from None
            while True:
                try:
                    member = tar.next()
                except (tarfile.ReadError, OSError, http.client.HTTPException) as error:
                    raise _Interrupted(_one_line(error)) from None
                if member is None:
                    if reader.block_at(tar.offset) != bytes(_BLOCK):  # ended without the end-of-archive block
                        raise _Interrupted("the stream ended before the tar's end-of-archive block")
                    break
                del tar.members[:]  # stream mode keeps every TarInfo otherwise (1.8 million of them)
                next_offset = stream.start + member.offset_data + (_blocks(member.size) if member.isreg() else 0)
                if next_offset <= skip_until:
                    continue  # processed before the interruption (the server ignored Range)
                try:
                    self.process(tar, member, next_offset)
                except (tarfile.ReadError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
                    raise _Interrupted(_one_line(error)) from None
                if self.full():
                    break
            self.journal.append(offset=self.journal.offset)
        finally:
            self.bytes_streamed += reader.count
            bar.close()
            stream.raw.close()


def _write_lists(out: pathlib.Path, split: str, kept, lists: _Lists) -> list[str]:
    """Writes categories_places365.txt and the split's list; returns the category paths in label order."""
    if lists.categories is not None:
        categories = lists.categories
    else:
        categories = sorted({category for _, category in kept})
    index = {category: label for label, category in enumerate(categories)}
    text = "".join(f"{category} {label}\n" for label, category in enumerate(categories)).encode()
    path = out / _CATEGORIES
    if path.is_file() and path.read_bytes() != text:
        raise DatasetError(f"places365: {path} exists with other categories (another subset was built here); "
                           "use a separate --out folder")
    write_bytes(path, text)
    write_text(out / _LIST_NAMES[split], "".join(f"{entry} {index[category]}\n" for entry, category in kept))
    return categories


def build_subset(url_or_path, out, *, classes=None, per_class: int = 100, size: int = 128, split: str = "train",
                 filelist=None, retries: int = 3, timeout: float = 60.0, progress: bool = True) -> SubsetResult:
    """Streams a Places365 small-images tar and writes a subset of it in Places365's layout (resumable).

    Args:
        url_or_path: ``http(s)://`` URL, ``file://`` URL or local path of an uncompressed Places365 tar:
            ``train_256_places365standard.tar`` (``split="train"``) or ``val_256.tar`` (``split="val"``); see the
            module docstring for the layout assumed.
        out: output folder; created if needed. Afterwards ``Places365Folder(out).split(split)`` lists the subset.
        classes: category names (``"airfield"``, ``"apartment_building/outdoor"`` or ``"/a/airfield"``), or a
            comma-separated string of them; None keeps every class.
        per_class: keep the first ``per_class`` images of each class, in archive order (>= 1).
        size: output images are ``size x size`` RGB JPEGs (>= 8).
        split: ``"train"`` or ``"val"`` (``"validation"`` is accepted).
        filelist: URL, path or folder of ``filelist_places365-standard.tar`` (or of its unpacked files), read
            first for ``categories_places365.txt`` and, for ``"val"``, ``places365_val.txt``. Not needed when the
            archive itself holds them before its images.
        retries: how many times a broken stream is reopened (with a Range request) before giving up.
        timeout: socket timeout in seconds.
        progress: show a ``tqdm`` progress bar (bytes).

    Returns:
        A :class:`SubsetResult`. Output::

            OUT/categories_places365.txt, OUT/places365_train_standard.txt (or places365_val.txt)
            OUT/data_256/<letter>/<category>/NNNNNNNN.jpg (or OUT/val_256/Places365_val_NNNNNNNN.jpg)
            OUT/places365_subset_<split>.json   manifest: source, settings, counts (written last)

    Raises:
        ConfigError: bad arguments, or classes that are not Places365 categories.
        DatasetError: one line: the host cannot be reached (says how to use the offline corpus instead), HTTP
            errors, a stream that broke off ``retries + 1`` times (rerun the same call to resume), an archive
            that is not a tar / changed since the interrupted build, no matching images, or ``out`` holding a
            build with other settings.
    """
    split = "val" if split == "validation" else split
    if split not in _FOLDERS:
        raise ConfigError(f"places365: split must be 'train' or 'val', got {split!r}")
    for name, value, low in (("per_class", per_class, 1), ("size", size, 8), ("retries", retries, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"places365: {name} must be an integer >= {low}, got {value!r}")
    if isinstance(classes, str):
        classes = [name for name in classes.split(",") if name.strip()]
    if classes is not None:
        classes = sorted({_category_path(name) for name in classes})
        if not classes:
            raise ConfigError("places365: classes is empty (give None to keep every class)")
    source = os.fspath(url_or_path)
    out = pathlib.Path(out).expanduser()
    params = {"source": _source_id(source), "split": split, "classes": classes, "per_class": per_class,
              "size": size, "filelist": None if filelist is None else _source_id(os.fspath(filelist))}
    manifest_path = out / f"places365_subset_{split}.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("params") != params:
            raise DatasetError(f"places365: {out} already holds a {split} subset built with other settings "
                               f"({manifest.get('params')}); use another --out folder or delete it")
        return SubsetResult(out, split, manifest["counts"], manifest["skipped"], manifest["images"])

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    work = out / f".places365_subset_{split}"
    fresh = not work.exists()
    journal = _Journal(work, params)
    try:
        lists = _Lists(work)
        if filelist is not None and lists.needed(split):
            _read_filelist(os.fspath(filelist), lists, split, timeout)
        build = _Build(out, split, classes, per_class, size, journal, lists, source)
        build.check_classes()
        first_start, attempt = journal.offset, 0
        while True:
            before = journal.offset
            try:
                build.stream(timeout, progress)
                break
            except (_Interrupted, _Unreachable) as error:
                if isinstance(error, _Unreachable) and attempt == 0:
                    raise  # unreachable from the start: offline, a retry will not help
                attempt = 1 if journal.offset > before else attempt + 1  # progress renews the retry budget
                if attempt > retries:
                    total = f" of {journal.archive_bytes:,}" if journal.archive_bytes else ""
                    reason = _one_line(error).removeprefix("places365: ")
                    raise DatasetError(f"places365: reading {source} broke off at byte {journal.offset:,}{total} "
                                       f"({reason}); run the same command again to resume") from None
                time.sleep(min(0.25 * 2.0 ** attempt, 30.0))
    except BaseException:
        journal.close()
        if fresh and journal.offset == 0 and not journal.kept:  # nothing done: leave no trace
            shutil.rmtree(work, ignore_errors=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise
    journal.close()

    if not journal.kept:
        folder = _FOLDERS[split]
        raise DatasetError(f"places365: no {folder}/ image of the chosen classes was found in {source} (expected "
                           "members like data_256/a/airfield/00000001.jpg for train, val_256/Places365_val_"
                           "00000001.jpg for val; the 'easy format' archive is not supported)")
    if classes is not None:
        missing = [c for c in classes if c not in build.counts]
        if missing:
            raise DatasetError(f"places365: no image of {missing} in {source}; check the class names")
    categories = _write_lists(out, split, journal.kept, lists)
    counts = {c: build.counts[c] for c in categories if c in build.counts}
    skipped = dict(sorted(journal.skipped.items()))
    manifest = {"params": params, "archive_bytes": journal.archive_bytes, "images": len(journal.kept),
                "counts": counts, "skipped": skipped}
    write_json(manifest_path, manifest, sort_keys=True)
    shutil.rmtree(work, ignore_errors=True)
    return SubsetResult(out, split, counts, skipped, len(journal.kept), build.bytes_streamed, first_start,
                        build.range_used)
