"""colorlab.io: loading every Pillow mode, EXIF orientation, alpha, bad input, the bomb limit, atomic saving.

Every image is generated here, in tmp_path, a few pixels large; expected values are computed by hand or by Pillow.
"""

import errno
import io
import os
import pathlib
import re
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

import colorlab.io as cio
from colorlab import files
from colorlab.errors import ConfigError, ImageLoadError, OutputExistsError
from colorlab.io import load_image, sample_paths, save_image

EPS = 1e-6


def _check_float_image(array, shape):
    assert array.shape == shape
    assert array.dtype == np.float32
    assert array.min() >= 0.0 and array.max() <= 1.0


# ------------------------------------------------------------------------------------------ one test per mode
def test_mode_L(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.array([[0, 51], [204, 255]], dtype=np.uint8), mode="L").save(path)
    rgb, gray = load_image(path), load_image(path, mode="L")
    _check_float_image(rgb, (2, 2, 3))
    _check_float_image(gray, (2, 2))
    np.testing.assert_allclose(gray, [[0.0, 0.2], [0.8, 1.0]], atol=EPS)
    np.testing.assert_allclose(rgb, np.repeat(gray[..., None], 3, axis=-1), atol=EPS)  # gray replicated


def test_mode_RGB_known_pixel_and_luma(tmp_path):
    path = tmp_path / "rgb.png"
    pixels = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 200, 90]]], dtype=np.uint8)
    Image.fromarray(pixels, mode="RGB").save(path)
    rgb = load_image(path)
    _check_float_image(rgb, (2, 2, 3))
    np.testing.assert_allclose(rgb, pixels / 255.0, atol=EPS)
    gray = load_image(path, mode="L")
    # hand-computed ITU-R 601 luma: pure red, green, blue give the weights themselves
    np.testing.assert_allclose(gray[0, 0], 0.299, atol=EPS)
    np.testing.assert_allclose(gray[0, 1], 0.587, atol=EPS)
    np.testing.assert_allclose(gray[1, 0], 0.114, atol=EPS)
    np.testing.assert_allclose(gray[1, 1], (0.299 * 10 + 0.587 * 200 + 0.114 * 90) / 255, atol=EPS)


def test_luma_matches_pillow_convert_L(tmp_path):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (8, 9, 3), dtype=np.uint8), mode="RGB")
    expected = np.asarray(image.convert("L"), dtype=np.float32) / 255.0  # Pillow rounds to 8 bits
    np.testing.assert_allclose(load_image(image, mode="L"), expected, atol=0.5 / 255 + EPS)


def test_mode_RGBA_composited_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    pixels = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 255, 128]]], dtype=np.uint8)
    Image.fromarray(pixels, mode="RGBA").save(path)
    rgb = load_image(path)
    _check_float_image(rgb, (1, 3, 3))
    a = 128 / 255
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0], atol=EPS)          # opaque: unchanged
    np.testing.assert_allclose(rgb[0, 1], [1, 1, 1], atol=EPS)          # fully transparent: white
    np.testing.assert_allclose(rgb[0, 2], [1 - a, 1 - a, 1], atol=EPS)  # blue * a + white * (1 - a)


def test_mode_LA_composited_over_white(tmp_path):
    path = tmp_path / "la.png"
    Image.fromarray(np.array([[[0, 255], [0, 0], [100, 51]]], dtype=np.uint8), mode="LA").save(path)
    gray = load_image(path, mode="L")
    _check_float_image(gray, (1, 3))
    a = 51 / 255
    np.testing.assert_allclose(gray[0], [0.0, 1.0, 100 / 255 * a + (1 - a)], atol=EPS)
    _check_float_image(load_image(path), (1, 3, 3))


def test_mode_P_without_transparency(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 200, 100, 50] + [0, 0, 0] * 254)
    image.putpixel((1, 0), 1)
    image.save(path)
    assert Image.open(path).mode == "P"
    rgb = load_image(path)
    _check_float_image(rgb, (1, 2, 3))
    np.testing.assert_allclose(rgb[0, 1], np.array([200, 100, 50]) / 255, atol=EPS)
    np.testing.assert_allclose(rgb[0, 0], [0, 0, 0], atol=EPS)


def test_mode_P_with_transparency(tmp_path):
    path = tmp_path / "palette_alpha.png"
    image = Image.new("P", (3, 1))
    image.putpalette([0, 0, 0, 0, 255, 0, 255, 0, 0] + [0, 0, 0] * 253)
    for x in range(3):
        image.putpixel((x, 0), x)
    image.save(path, transparency=bytes([0, 255, 102]))  # per-index alpha: a tRNS chunk
    with Image.open(path) as reread:
        assert reread.mode == "P" and "transparency" in reread.info
    rgb = load_image(path)
    _check_float_image(rgb, (1, 3, 3))
    a = 102 / 255
    np.testing.assert_allclose(rgb[0, 0], [1, 1, 1], atol=EPS)          # transparent black -> white
    np.testing.assert_allclose(rgb[0, 1], [0, 1, 0], atol=EPS)          # opaque green
    np.testing.assert_allclose(rgb[0, 2], [1, 1 - a, 1 - a], atol=EPS)  # red at alpha 0.4 over white


def test_mode_CMYK(tmp_path):
    path = tmp_path / "cmyk.tif"
    image = Image.new("CMYK", (2, 1), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    image.putpixel((1, 0), (0, 0, 0, 255))                # full black
    image.save(path)
    assert Image.open(path).mode == "CMYK"
    rgb = load_image(path)
    _check_float_image(rgb, (1, 2, 3))
    np.testing.assert_allclose(rgb[0, 0], [1, 0, 0], atol=EPS)
    np.testing.assert_allclose(rgb[0, 1], [0, 0, 0], atol=EPS)


def test_mode_I16_keeps_16_bit_precision(tmp_path):
    path = tmp_path / "sixteen.png"
    Image.fromarray(np.array([[40000, 40001], [0, 65535]], dtype=np.uint16)).save(path)
    with Image.open(path) as reread:
        assert reread.mode in ("I;16", "I")  # recent Pillow opens 16-bit PNGs as I;16, older versions as I
    gray = load_image(path, mode="L")
    _check_float_image(gray, (2, 2))
    np.testing.assert_allclose(gray, [[40000 / 65535, 40001 / 65535], [0, 1]], atol=EPS)
    # one 16-bit step survives: an 8-bit detour would make these two pixels equal
    assert gray[0, 1] - gray[0, 0] == pytest.approx(1 / 65535, abs=1e-7)
    np.testing.assert_allclose(load_image(path)[0, 0], [40000 / 65535] * 3, atol=EPS)


def test_mode_I(tmp_path):
    path = tmp_path / "int32.tif"
    Image.fromarray(np.array([[0, 30000, 65535]], dtype=np.int32)).save(path)
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(load_image(path, mode="L"), [[0, 30000 / 65535, 1]], atol=EPS)


def test_mode_I_out_of_16_bit_range_is_refused(tmp_path):
    path = tmp_path / "int32_big.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(ImageLoadError, match=r"int32_big\.tif.*70000"):
        load_image(path)


def test_mode_F(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32)).save(path)
    assert Image.open(path).mode == "F"
    rgb = load_image(path)
    _check_float_image(rgb, (1, 3, 3))
    np.testing.assert_allclose(rgb[0, :, 1], [0.0, 0.25, 1.0], atol=EPS)


def test_mode_F_out_of_range_is_refused(tmp_path):
    path = tmp_path / "float_big.tif"
    Image.fromarray(np.array([[0.0, 2.5]], dtype=np.float32)).save(path)
    with pytest.raises(ImageLoadError, match=r"float_big\.tif.*\[0, 1\]"):
        load_image(path)


def test_mode_1(tmp_path):
    path = tmp_path / "bilevel.png"
    image = Image.new("1", (3, 1), 0)
    image.putpixel((1, 0), 1)
    image.save(path)
    assert Image.open(path).mode == "1"
    gray = load_image(path, mode="L")
    _check_float_image(gray, (1, 3))
    np.testing.assert_array_equal(gray, [[0.0, 1.0, 0.0]])


@pytest.mark.parametrize("mode", ["La", "RGBa", "PA", "YCbCr", "RGBX", "I;16B"])
def test_rarer_pil_modes_in_memory(mode):
    image = Image.new(mode, (4, 3))
    _check_float_image(load_image(image), (3, 4, 3))
    _check_float_image(load_image(image, mode="L"), (3, 4))


def test_16_bit_big_endian_value():
    image = Image.frombytes("I;16B", (1, 1), (40000).to_bytes(2, "big"))
    assert load_image(image, mode="L")[0, 0] == pytest.approx(40000 / 65535, abs=EPS)


# ------------------------------------------------------------------------------------ sources other than paths
def test_file_object_is_read_and_left_open(tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (3, 2), (0, 51, 255)).save(path)
    with open(path, "rb") as file:
        rgb = load_image(file)
        assert not file.closed  # the caller owns it
    np.testing.assert_allclose(rgb[1, 2], [0, 0.2, 1], atol=EPS)
    buffer = io.BytesIO(path.read_bytes())
    np.testing.assert_allclose(load_image(buffer), rgb)


def test_pil_image_source():
    image = Image.new("RGB", (5, 4), (255, 102, 0))
    rgb = load_image(image)
    _check_float_image(rgb, (4, 5, 3))
    np.testing.assert_allclose(rgb[3, 4], [1, 0.4, 0], atol=EPS)


@pytest.mark.parametrize("array, expected", [
    (np.full((2, 3), 51, np.uint8), 0.2),
    (np.full((2, 3, 1), 13107, np.uint16), 0.2),
    (np.full((2, 3, 3), 0.2, np.float64), 0.2),
    (np.full((2, 3), True), 1.0),
])
def test_array_sources(array, expected):
    rgb = load_image(array)
    _check_float_image(rgb, (2, 3, 3))
    np.testing.assert_allclose(rgb, expected, atol=EPS)


def test_array_with_alpha_is_composited_over_white():
    rgba = np.zeros((1, 2, 4), np.float32)
    rgba[0, 0] = [0.0, 0.0, 0.0, 1.0]
    rgba[0, 1] = [0.0, 0.5, 1.0, 0.5]
    rgb = load_image(rgba)
    np.testing.assert_allclose(rgb[0, 0], [0, 0, 0], atol=EPS)
    np.testing.assert_allclose(rgb[0, 1], [0.5, 0.75, 1.0], atol=EPS)


@pytest.mark.parametrize("array, match", [
    (np.full((2, 2, 3), 1.5, np.float32), r"\[0, 1\]"),
    (np.full((2, 2, 3), -0.1, np.float32), r"\[0, 1\]"),
    (np.full((2, 2), np.nan, np.float32), "NaN"),
    (np.zeros((2, 2, 2), np.uint8), "shape"),
    (np.zeros((2, 2, 3, 1), np.uint8), "shape"),
    (np.zeros((0, 2, 3), np.uint8), "empty"),
    (np.zeros((2, 2), np.int64), "dtype"),
])
def test_bad_arrays(array, match):
    with pytest.raises(ImageLoadError, match=match):
        load_image(array)


def test_bad_mode_argument():
    with pytest.raises(ConfigError, match="mode"):
        load_image(np.zeros((2, 2), np.uint8), mode="RGBA")


# ---------------------------------------------------------------------------------------------- EXIF orientation
def test_exif_orientation_6_is_applied(tmp_path):
    """Orientation 6 means "rotate 90° clockwise to display": a stored 32 wide × 16 tall picture shows 16 × 32."""
    stored = np.full((16, 32, 3), 128, np.uint8)   # (H, W) = (16, 32)
    stored[:8, :8] = [255, 0, 0]                  # red mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6                              # ExifTags.Base.Orientation
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    with Image.open(path) as reread:
        assert reread.size == (32, 16) and reread.getexif()[0x0112] == 6
    rgb = load_image(path)
    assert rgb.shape == (32, 16, 3)                # width and height swapped
    # rotating clockwise carries the top-left corner to the top-right
    top_right, top_left, bottom_right = rgb[3, 12], rgb[3, 3], rgb[28, 12]
    assert top_right[0] > 0.9 and top_right[1] < 0.1 and top_right[2] < 0.1
    np.testing.assert_allclose(top_left, 128 / 255, atol=0.05)
    np.testing.assert_allclose(bottom_right, 128 / 255, atol=0.05)


# ---------------------------------------------------------------------------------------------- bad input files
def _jpeg_bytes():
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def _png_bytes():
    rng = np.random.default_rng(2)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _corrupt(data):
    data = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 30):  # inside the compressed pixel data
        data[i] ^= 0xFF
    return bytes(data)


BAD_FILES = {
    "missing.jpg": (None, "no such file"),
    "empty.jpg": (b"", r"file is empty \(0 bytes\)"),
    "notes.png": (b"hello, this is a text file\n", "not an image.*text file"),
    "truncated.jpg": (lambda: _jpeg_bytes()[: len(_jpeg_bytes()) // 2], "truncated or corrupt"),
    "truncated.png": (lambda: _png_bytes()[: len(_png_bytes()) // 2], "truncated or corrupt"),
    "corrupt.png": (lambda: _corrupt(_png_bytes()), "truncated or corrupt"),
    "header_only.png": (lambda: _png_bytes()[:40], "not an image"),
    "a_folder.png": ("dir", "folder"),
}


@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_files_raise_image_load_error_naming_the_file(tmp_path, filename):
    content, problem = BAD_FILES[filename]
    path = tmp_path / filename
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content() if callable(content) else content)
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    message = str(caught.value)
    assert filename in message
    assert "\n" not in message
    assert message.startswith("cannot read ")
    assert re.search(problem, message), message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_bad_file_object_is_named(tmp_path):
    path = tmp_path / "half.jpg"
    path.write_bytes(_jpeg_bytes()[:300])
    with open(path, "rb") as file, pytest.raises(ImageLoadError, match=r"half\.jpg.*truncated"):
        load_image(file)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count open file descriptors")
def test_no_file_handle_left_open(tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    Image.new("RGB", (4, 4)).save(good)
    bad.write_bytes(_jpeg_bytes()[:300])
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        load_image(good)
        with pytest.raises(ImageLoadError):
            load_image(bad)
    assert len(os.listdir("/proc/self/fd")) == before


# ---------------------------------------------------------------------------------------------- bomb limit
def test_max_pixels_refuses_large_images_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (100, 60)).save(path)
    with pytest.raises(ImageLoadError, match=r"big\.png.*100×60 = 6,000 pixels.*max_pixels=5,000"):
        load_image(path, max_pixels=5000)
    assert load_image(path, max_pixels=6000).shape == (60, 100, 3)
    # the size is checked from the header: a truncated file still reports the size, not the truncation
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ImageLoadError, match="max_pixels"):
        load_image(path, max_pixels=5000)


def test_max_pixels_applies_to_arrays_too():
    with pytest.raises(ImageLoadError, match="max_pixels"):
        load_image(np.zeros((10, 10), np.uint8), max_pixels=99)


def test_default_limit_is_100_megapixels():
    assert cio.DEFAULT_MAX_PIXELS == 100_000_000


def test_pillow_decompression_bomb_error_becomes_image_load_error(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow raises above 2 × 1000 pixels
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*decompression bomb"):
        load_image(path, max_pixels=None)


def test_pillow_bomb_warning_is_not_raised_below_our_limit(tmp_path, monkeypatch):
    path = tmp_path / "large_ok.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # 10,000 pixels: Pillow would warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(path, max_pixels=20_000).shape == (100, 100, 3)


# ---------------------------------------------------------------------------------------------- saving
@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_save_load_round_trip_lossless(tmp_path, suffix):
    rng = np.random.default_rng(3)
    image = rng.random((5, 7, 3)).astype(np.float32)
    path = save_image(image, tmp_path / f"out{suffix}")
    assert path == tmp_path / f"out{suffix}" and path.is_file()
    np.testing.assert_allclose(load_image(path), np.round(image * 255) / 255, atol=EPS)


def test_save_load_round_trip_gray_png(tmp_path):
    image = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    path = save_image(image, tmp_path / "gray.PNG")
    with Image.open(path) as reread:
        assert reread.mode == "L"
    np.testing.assert_allclose(load_image(path, mode="L"), np.round(image * 255) / 255, atol=EPS)


def test_save_jpeg_is_close(tmp_path):
    image = np.zeros((16, 16, 3), np.float32)
    image[:, :8] = [0.9, 0.1, 0.1]
    image[:, 8:] = [0.1, 0.1, 0.9]
    for name in ("out.jpg", "out.jpeg"):
        path = save_image(image, tmp_path / name)
        with Image.open(path) as reread:
            assert reread.format == "JPEG"
        assert np.abs(load_image(path) - image).mean() < 0.02


def test_save_pil_image(tmp_path):
    path = save_image(Image.new("RGB", (3, 2), (255, 0, 0)), tmp_path / "pil.png")
    np.testing.assert_allclose(load_image(path)[1, 2], [1, 0, 0], atol=EPS)


def test_save_refuses_to_overwrite(tmp_path):
    path = tmp_path / "keep.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match=r"keep\.png"):
        save_image(np.zeros((2, 2)), path)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]
    save_image(np.ones((2, 2)), path, overwrite=True)
    np.testing.assert_allclose(load_image(path, mode="L"), 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_save_leaves_nothing_when_encoding_fails(tmp_path):
    with pytest.raises(ConfigError, match=r"rgba\.jpg.*RGBA"):
        save_image(Image.new("RGBA", (2, 2)), tmp_path / "rgba.jpg")  # JPEG has no alpha
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic_when_writing_fails_midway(tmp_path, monkeypatch):
    path = tmp_path / "old.png"
    path.write_bytes(b"old content")

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"half a fi")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="No space"):
        save_image(np.zeros((2, 2, 3)), path, overwrite=True)
    assert path.read_bytes() == b"old content"        # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]  # no temporary file left


def test_save_is_atomic_when_the_move_fails(tmp_path, monkeypatch):
    path = tmp_path / "old.png"
    path.write_bytes(b"old content")

    def failing_replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cio.os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        save_image(np.zeros((2, 2, 3)), path, overwrite=True)
    assert path.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]


def test_save_does_not_clobber_a_file_that_appears_meanwhile(tmp_path, monkeypatch):
    path = tmp_path / "race.png"
    real_create = files.create_temporary

    def create_then_someone_writes(target):
        tmp = real_create(target)
        path.write_bytes(b"written by someone else")
        return tmp

    monkeypatch.setattr(files, "create_temporary", create_then_someone_writes)
    with pytest.raises(OutputExistsError):
        save_image(np.zeros((2, 2, 3)), path)
    assert path.read_bytes() == b"written by someone else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_file_gets_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = save_image(np.zeros((2, 2)), tmp_path / "perm.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("image, filename, error, match", [
    (np.zeros((2, 2, 3)), "out.bmp", ConfigError, r"out\.bmp.*suffix '\.bmp'"),
    (np.zeros((2, 2, 3)), "no_suffix", ConfigError, "suffix"),
    (np.zeros((2, 2, 3)), "missing_folder/out.png", ConfigError, "does not exist"),
    (np.full((2, 2, 3), 1.2), "out.png", ConfigError, r"\[0, 1\]"),
    (np.full((2, 2, 3), np.nan), "out.png", ConfigError, "NaN"),
    (np.zeros((2, 2, 4)), "out.png", ConfigError, "shape"),
    (np.zeros((2, 2, 3), np.int32), "out.png", ConfigError, "dtype"),
])
def test_save_bad_arguments(tmp_path, image, filename, error, match):
    with pytest.raises(error, match=match):
        save_image(image, tmp_path / filename)
    assert list(tmp_path.iterdir()) == []


def test_save_onto_a_folder_is_refused(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ConfigError, match="folder"):
        save_image(np.zeros((2, 2)), tmp_path / "folder.png", overwrite=True)


# ---------------------------------------------------------------------------------------------- samples
def test_sample_paths_lists_sorted_images(tmp_path, monkeypatch):
    for name in ("b.png", "a.jpg", "c.txt", "d.JPG"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "e.png").mkdir()
    monkeypatch.setattr(cio, "_SAMPLES_DIR", tmp_path)
    assert sample_paths() == [tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "d.JPG"]


def test_sample_paths_empty_without_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(cio, "_SAMPLES_DIR", tmp_path / "nothing_here")
    assert sample_paths() == []


def test_sample_folder_is_the_repository_data_folder():
    repo = pathlib.Path(__file__).resolve().parent.parent
    assert cio._SAMPLES_DIR == repo / "data" / "samples"
    assert all(p.parent == repo / "data" / "samples" for p in sample_paths())


def test_io_does_not_import_keras():
    import subprocess
    import sys

    code = "import sys, colorlab.io; print([m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
