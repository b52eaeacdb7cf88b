"""The Places365 subset builder (colorlab.places365), on small fake archives served over loopback HTTP.

The fake archive follows the official small-images layout (module docstring): list files, then
``data_256/<letter>/<category>/NNNNNNNN.jpg`` and ``val_256/Places365_val_NNNNNNNN.jpg`` members. A
``ThreadingHTTPServer`` on 127.0.0.1 serves it, with Range support that can be switched off, and can drop the
connection after N bytes the first time, to test resuming.
"""

import hashlib
import http.server
import io
import json
import re
import socket
import tarfile
import threading

import numpy as np
import pytest
from PIL import Image

from colorlab import places365
from colorlab.data import Places365Folder
from colorlab.errors import ConfigError, DatasetError

CATEGORIES = ["/a/airfield", "/a/apartment_building/outdoor", "/b/beach", "/c/canyon"]
SIZE = 16


def _jpeg(color, size=(40, 24), mode="RGB", seed=0) -> bytes:
    """A JPEG of a flat colour plus mild noise (so it is a real photo-like JPEG, never all-flat)."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.asarray(color, float) + rng.normal(0, 4, (size[1], size[0], len(color))), 0, 255)
    image = Image.fromarray(pixels.astype(np.uint8).squeeze(), mode=mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _color(category_index, number):
    return (40 + 50 * category_index, 200 - 30 * number, 60 + 20 * number)


# Train members in archive order: (category, number, kind); classes interleave so "first K in archive order"
# is not the same as "first K by file name" by accident, and beach's second image is grayscale.
TRAIN = [(0, 1, "rgb"), (2, 1, "rgb"), (0, 2, "rgb"), (1, 1, "rgb"), (2, 2, "gray"), (0, 3, "rgb"), (3, 1, "rgb"),
         (2, 3, "rgb"), (1, 2, "square"), (3, 2, "rgb"), (2, 4, "rgb"), (0, 4, "rgb")]
VAL = [(2, 1), (0, 2), (3, 3), (0, 4), (2, 5)]  # (label, file number)


def _train_name(category, number):
    return f"{CATEGORIES[category]}/{number:08d}.jpg"


def _val_name(number):
    return f"Places365_val_{number:08d}.jpg"


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _lists():
    categories = "".join(f"{c} {i}\n" for i, c in enumerate(CATEGORIES)).encode()
    train = "".join(f"{_train_name(c, n)} {c}\n" for c, n, _ in TRAIN).encode()
    val = "".join(f"{_val_name(n)} {label}\n" for label, n in VAL).encode()
    return {"categories_places365.txt": categories, "places365_train_standard.txt": train,
            "places365_val.txt": val}


def _make_archive(with_lists=True, with_images=True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if with_lists:
            for name, data in _lists().items():
                _add(tar, f"filelist/{name}", data)
        if with_images:
            # a long name (a PAX extended header before the member) and a non-image, both ignored
            _add(tar, "data_256/" + "x" * 120 + ".txt", b"not an image")
            for category, number, kind in TRAIN:
                if kind == "gray":
                    data = _jpeg((128,), mode="L", seed=number)
                elif kind == "square":
                    data = _jpeg(_color(category, number), size=(SIZE, SIZE), seed=number)
                else:
                    data = _jpeg(_color(category, number), seed=number)
                _add(tar, "data_256" + _train_name(category, number), data)
            for label, number in VAL:
                _add(tar, "val_256/" + _val_name(number), _jpeg(_color(label, number), seed=100 + number))
    return buffer.getvalue()


ARCHIVE = _make_archive()


class _Server:
    """Serves ``data`` at /archive.tar; records (Range header, bytes sent) per request."""

    def __init__(self, data, *, support_range=True, drop_after=None):
        self.data, self.support_range, self.drop_after = data, support_range, drop_after
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                asked = self.headers.get("Range")
                start, status = 0, 200
                if asked and server.support_range:
                    start, status = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1)), 206
                body = server.data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}")
                self.end_headers()
                if server.drop_after is not None:  # the first time only: send N bytes, then hang up
                    body, server.drop_after = body[:server.drop_after], None
                    self.close_connection = True
                self.wfile.write(body)
                server.requests.append((asked, len(body)))

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/archive.tar"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _tree(root):
    """{relative path: sha256} of every file under root."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _build(source, out, **kwargs):
    kwargs.setdefault("progress", False)
    return places365.build_subset(source, out, **kwargs)


# ---------------------------------------------------------------------------------------------- full build

def test_full_build_writes_places365_layout(tmp_path):
    with _Server(ARCHIVE) as server:
        result = _build(server.url, tmp_path / "out", classes="airfield,beach,apartment_building/outdoor",
                        per_class=2, size=SIZE)
    out = tmp_path / "out"
    # the first 2 of each class in archive order; beach's gray image is skipped and does not count
    expected = ["/a/airfield/00000001.jpg 0", "/b/beach/00000001.jpg 2", "/a/airfield/00000002.jpg 0",
                "/a/apartment_building/outdoor/00000001.jpg 1", "/b/beach/00000003.jpg 2",
                "/a/apartment_building/outdoor/00000002.jpg 1"]
    assert (out / "places365_train_standard.txt").read_text().splitlines() == expected
    assert (out / "categories_places365.txt").read_text() == _lists()["categories_places365.txt"].decode()
    assert result.counts == {"/a/airfield": 2, "/a/apartment_building/outdoor": 2, "/b/beach": 2}
    assert result.skipped == {"grayscale": 1} and result.images == 6
    images = sorted(p.relative_to(out).as_posix() for p in (out / "data_256").rglob("*.jpg"))
    assert images == sorted("data_256" + line.split()[0] for line in expected)
    assert not (out / ".places365_subset_train").exists()          # the journal is gone
    assert not list(out.rglob("*.part"))
    manifest = json.loads((out / "places365_subset_train.json").read_text())
    assert manifest["images"] == 6 and manifest["archive_bytes"] == len(ARCHIVE)
    # early stop: canyon and the val images were never streamed
    assert result.bytes_streamed < len(ARCHIVE)

    # Places365Folder reads the subset; every image is SIZE x SIZE RGB with the source's colour
    folder = Places365Folder(out)
    items = folder.split("train")
    assert [(p.relative_to(out / "data_256").as_posix(), label) for p, label in items] == [
        (line.split()[0].lstrip("/"), int(line.split()[1])) for line in expected]
    for path, label in items:
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.size == (SIZE, SIZE)
            mean = np.asarray(image, float).mean(axis=(0, 1))
        number = int(path.stem)
        np.testing.assert_allclose(mean, _color(label, number), atol=6)
    # an RGB JPEG already SIZE x SIZE is copied byte for byte (no second JPEG loss)
    square = out / "data_256/a/apartment_building/outdoor/00000002.jpg"
    assert square.read_bytes() == _jpeg(_color(1, 2), size=(SIZE, SIZE), seed=2)


def test_val_split_takes_classes_from_the_val_list(tmp_path):
    result = _build(_write(tmp_path, ARCHIVE), tmp_path / "out", split="validation", classes=["/a/airfield", "beach"],
                    per_class=1, size=SIZE)
    out = tmp_path / "out"
    assert (out / "places365_val.txt").read_text() == f"{_val_name(1)} 2\n{_val_name(2)} 0\n"
    assert result.counts == {"/a/airfield": 1, "/b/beach": 1}
    items = Places365Folder(out).split("val")
    assert [(p.name, label) for p, label in items] == [(_val_name(1), 2), (_val_name(2), 0)]
    assert all(p.is_file() for p, _ in items)


def test_filelist_archive_gives_categories_and_val_labels(tmp_path):
    images = _write(tmp_path, _make_archive(with_lists=False), "val_256.tar")
    filelist = _write(tmp_path, _make_archive(with_images=False), "filelist.tar")
    with pytest.raises(DatasetError, match="filelist"):  # val images alone carry no class
        _build(images, tmp_path / "bad", split="val", per_class=1, size=SIZE)
    result = _build(images, tmp_path / "out", split="val", per_class=5, size=SIZE, filelist=filelist)
    assert result.counts == {"/a/airfield": 2, "/b/beach": 2, "/c/canyon": 1}
    assert len(Places365Folder(tmp_path / "out").split("val")) == 5


def test_train_archive_without_lists_numbers_the_kept_classes(tmp_path):
    source = _write(tmp_path, _make_archive(with_lists=False))
    result = _build(source, tmp_path / "out", classes=["canyon", "beach"], per_class=1, size=SIZE)
    # no categories_places365.txt anywhere: the kept classes, sorted (Places365's own order is alphabetical)
    assert (tmp_path / "out/categories_places365.txt").read_text() == "/b/beach 0\n/c/canyon 1\n"
    assert result.counts == {"/b/beach": 1, "/c/canyon": 1}
    assert Places365Folder(tmp_path / "out").categories == ["beach", "canyon"]


def _write(tmp_path, data, name="archive.tar"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -------------------------------------------------------------------------------------------------- resume

@pytest.fixture(scope="module")
def reference_tree(tmp_path_factory):
    """The uninterrupted build every resumed build must equal, byte for byte."""
    out = tmp_path_factory.mktemp("reference") / "out"
    with _Server(ARCHIVE) as server:
        _build(server.url, out, per_class=3, size=SIZE)
        # the URL is part of the manifest; the resumed builds use their own servers, so record it
        return out, server.url


def _build_like_reference(url, out, **kwargs):
    return _build(url, out, per_class=3, size=SIZE, **kwargs)


def _same_tree(a, b, url_a, url_b):
    tree_a, tree_b = _tree(a), _tree(b)
    manifest = "places365_subset_train.json"
    text_a = (a / manifest).read_text().replace(url_a, "URL")
    text_b = (b / manifest).read_text().replace(url_b, "URL")
    del tree_a[manifest], tree_b[manifest]
    return tree_a == tree_b and text_a == text_b


def _member_boundary(fraction):
    """The offset of the first tar header at or after ``fraction`` of the archive."""
    with tarfile.open(fileobj=io.BytesIO(ARCHIVE)) as tar:
        return next(m.offset for m in tar.getmembers() if m.offset >= len(ARCHIVE) * fraction)


@pytest.mark.parametrize("where", ["inside a member", "at a member boundary"])
def test_interrupted_build_resumes_with_a_range_request(tmp_path, reference_tree, where):
    # a cut at a header boundary must not pass for the end of the archive (tarfile alone would stop quietly)
    reference, reference_url = reference_tree
    cut = len(ARCHIVE) * 6 // 10 + 100 if where == "inside a member" else _member_boundary(0.6)
    out = tmp_path / "out"
    with _Server(ARCHIVE, drop_after=cut) as server:
        with pytest.raises(DatasetError, match=r"broke off at byte .* run the same command again to resume"):
            _build_like_reference(server.url, out, retries=0)
        assert (out / ".places365_subset_train/journal.jsonl").is_file()
        result = _build_like_reference(server.url, out)
        (first_range, first_sent), (second_range, second_sent) = server.requests
    assert first_range is None and first_sent == cut
    offset = int(re.fullmatch(r"bytes=(\d+)-", second_range).group(1))
    assert offset % 512 == 0 and 0 < offset <= cut                # restarted at a member boundary ...
    assert second_sent == len(ARCHIVE) - offset                   # ... and only the rest was sent
    assert result.resumed_from == offset and result.range_used
    assert _same_tree(reference, out, reference_url, server.url)
    # a rerun of a finished build reads nothing
    assert _build_like_reference(server.url, out).bytes_streamed == 0


def test_server_without_range_support_restreams_and_skips(tmp_path, reference_tree):
    reference, reference_url = reference_tree
    out = tmp_path / "out"
    with _Server(ARCHIVE, support_range=False, drop_after=len(ARCHIVE) // 2) as server:
        result = _build_like_reference(server.url, out, retries=1)  # one call: it reconnects by itself
        (first_range, first_sent), (second_range, second_sent) = server.requests
    assert first_range is None and first_sent == len(ARCHIVE) // 2
    assert second_range is not None and second_sent == len(ARCHIVE)  # Range asked for, whole archive answered
    assert not result.range_used
    assert _same_tree(reference, out, reference_url, server.url)


def test_killed_build_resumes_byte_identical(tmp_path, monkeypatch, reference_tree):
    reference, reference_url = reference_tree
    out = tmp_path / "out"
    source = _write(tmp_path, ARCHIVE)
    convert, calls = places365._convert, []

    def dying_convert(data, size):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # a kill in the middle of the build
        return convert(data, size)

    monkeypatch.setattr(places365, "_convert", dying_convert)
    with pytest.raises(KeyboardInterrupt):
        _build_like_reference(source, out)
    monkeypatch.setattr(places365, "_convert", convert)
    journal = out / ".places365_subset_train/journal.jsonl"
    with open(journal, "a") as handle:
        handle.write('{"offset": 99')  # a torn last line, as a kill while appending leaves it
    result = _build_like_reference(source, out)
    assert result.resumed_from > 0
    local = str(source.resolve())
    assert _same_tree(reference, out, reference_url, local)


# -------------------------------------------------------------------------------------------------- errors

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_host_gives_one_line_dataset_error(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/train_256_places365standard.tar"
    with pytest.raises(DatasetError) as info:
        _build(url, tmp_path / "out", retries=0)
    message = str(info.value)
    assert "\n" not in message and "could not reach" in message and url in message
    assert "--data corpus" in message and "build_corpus.py" in message
    assert not (tmp_path / "out").exists()  # a build that never started leaves nothing behind


def test_bad_inputs(tmp_path):
    source = _write(tmp_path, ARCHIVE)
    with pytest.raises(ConfigError, match="unknown classes"):
        _build(source, tmp_path / "a", classes=["no_such_place"], size=SIZE)
    with pytest.raises(ConfigError, match="per_class"):
        _build(source, tmp_path / "b", per_class=0)
    with pytest.raises(ConfigError, match="split"):
        _build(source, tmp_path / "b", split="test")
    with pytest.raises(DatasetError, match="not an uncompressed tar"):
        _build(_write(tmp_path, b"<html>not found</html>" * 40, "page.html"), tmp_path / "c")
    with pytest.raises(DatasetError, match="archive not found"):
        _build(tmp_path / "missing.tar", tmp_path / "d")
    _build(source, tmp_path / "e", per_class=1, size=SIZE)
    with pytest.raises(DatasetError, match="other settings"):
        _build(source, tmp_path / "e", per_class=2, size=SIZE)


def test_cli(tmp_path, capsys):
    from colorlab.cli import main

    source = _write(tmp_path, ARCHIVE)
    code = main(["places365-subset", str(source), "--out", str(tmp_path / "out"), "--classes", "airfield,canyon",
                 "--per-class", "2", "--size", str(SIZE)])
    assert code == 0
    assert "4 images in 2 classes" in capsys.readouterr().out
    assert len(Places365Folder(tmp_path / "out").split("train")) == 4
    url = f"http://127.0.0.1:{_closed_port()}/a.tar"
    code = main(["places365-subset", url, "--out", str(tmp_path / "x"), "--retries", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "could not reach" in err
