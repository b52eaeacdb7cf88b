"""Reading and writing images: one place where files become float arrays and back.

Every image that enters colorlab goes through :func:`load_image`, which turns whatever Pillow (or NumPy) hands
us into one convention: **float32 in [0, 1]**, shape ``(H, W, 3)`` for colour or ``(H, W)`` for gray. Every image
colorlab writes goes through :func:`save_image`, which writes atomically. :func:`image_shape` reads an image's size
from its header and :func:`check_output_path` checks an output name, so commands can refuse bad input before the
model loads. :func:`sample_paths` lists the sample photos the notebooks use.

This module uses Pillow and NumPy only (no Keras or TensorFlow), so it is cheap to import.

Choices that are ours (not the paper's — Gray2ColorNet's paper says nothing about file handling):

* Transparent pixels are composited **over white**. A colorization model needs an opaque picture, and white is
  what most viewers show behind a transparent PNG, so the loaded array looks like the file does on screen.
* Embedded ICC colour profiles are ignored: pixel values are taken to be sRGB, which is what Places365 and nearly
  all web photos are, and what the Lab conversion in :mod:`colorlab.color` assumes.
* Multi-frame files (animated GIF/PNG/WebP, multi-page TIFF): the first frame is loaded.
"""

from __future__ import annotations

import os
import pathlib
import struct
import warnings
import zlib
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps

from colorlab.bundle import DATA_DIR
from colorlab.errors import ConfigError, ImageLoadError, OutputExistsError
from colorlab.files import write_atomic

__all__ = ["DEFAULT_MAX_PIXELS", "LUMA_WEIGHTS", "SAVE_FORMATS", "load_image", "image_shape", "save_image",
           "check_output_path", "sample_paths"]

#: Largest image (width × height) :func:`load_image` accepts by default: 100 megapixels. Photos from common
#: cameras are 12–61 MP, so real photos pass, while a decompression bomb (a few-kilobyte file that declares
#: gigapixels) is refused before it is decoded. A 100 MP image is already 1.2 GB as float32 RGB, about the
#: most a laptop can hold comfortably. (Pillow's own warning starts at ``PIL.Image.MAX_IMAGE_PIXELS`` ≈ 89.5 MP.)
DEFAULT_MAX_PIXELS = 100_000_000

#: ITU-R BT.601 luma weights (R, G, B): the formula Pillow's ``Image.convert("L")`` documents,
#: ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``. Applied to gamma-encoded sRGB values this gives *luma*
#: Y′, not CIE lightness L* (:mod:`colorlab.color` computes L* for the model).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: File suffix -> Pillow format name, for :func:`save_image`.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}

_SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SAMPLES_DIR = DATA_DIR / "samples"

ImageSource = Union[str, os.PathLike, BinaryIO, Image.Image, np.ndarray]

# Everything Pillow raises for a file it cannot decode: UnidentifiedImageError and "image file is truncated" are
# OSErrors; broken PNG chunks raise SyntaxError; some plugins raise ValueError, EOFError, struct.error or
# zlib.error; DecompressionBombError derives from Exception only.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error,
                  Image.DecompressionBombError)


# ----------------------------------------------------------------------------------------------------- loading
def _open_path(source) -> tuple:
    """``(binary file, quoted name)`` for a path, after :func:`_check_path`; :class:`ImageLoadError` in one line."""
    name = repr(os.fspath(source))
    path = pathlib.Path(source)
    _check_path(path, name)
    try:
        return open(path, "rb"), name
    except OSError as error:  # permissions, a deletion since the check, ...
        raise ImageLoadError(f"cannot read {name}: {_one_line(error.strerror or error)}") from None


def load_image(source: ImageSource, *, mode: str = "RGB", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Loads an image as a float32 array in [0, 1].

    Args:
        source: a path (``str`` or ``os.PathLike``), a binary file object opened for reading, a ``PIL.Image.Image``
            or a NumPy array (anything ``np.asarray`` accepts: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or
            ``(H, W, 4)``; uint8 is divided by 255, uint16 by 65535, bool gives 0/1, floats must already lie in
            [0, 1]). A file object is read but not closed (the caller owns it); a path is always closed again.
        mode: ``"RGB"`` -> shape ``(H, W, 3)``; ``"L"`` -> shape ``(H, W)``. Gray sources are replicated to three
            channels for ``"RGB"``; colour sources are reduced to luma for ``"L"`` with :data:`LUMA_WEIGHTS`
            (Pillow's ``convert("L")`` formula, computed here in float32 so 16-bit and float sources keep their
            precision; for 8-bit files it agrees with ``convert("L") / 255`` within 0.5/255).
        max_pixels: refuse images with more than this many pixels (width × height) before decoding them;
            ``None`` disables the check. See :data:`DEFAULT_MAX_PIXELS`. Pillow has its own global limit,
            ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (≈179 MP), that we do not change (it is process-wide): to load
            bigger images raise both.

    Returns:
        float32 array, ``(H, W, 3)`` for ``mode="RGB"`` or ``(H, W)`` for ``mode="L"``, values in [0, 1],
        upright (the EXIF Orientation tag is applied with ``PIL.ImageOps.exif_transpose``).

    Pillow modes: ``1``, ``L``, ``P`` (with or without transparency), ``RGB``, ``RGBA``, ``LA``, ``PA``, ``CMYK``
    (converted with Pillow's plain formula, without colour profiles), ``YCbCr``, ``I;16`` (16-bit; divided by
    65535 without passing through 8 bits), ``I`` (32-bit integers; taken as 16-bit data, which is how older
    Pillow versions open 16-bit PNGs: divided by 65535, values outside [0, 65535] are refused) and ``F``
    (32-bit floats, must lie in [0, 1]). Alpha (including a palette's or a ``tRNS`` transparent colour) is
    composited over white — our choice, see the module docstring.

    Raises:
        ImageLoadError: one line naming the file and the problem: missing file, a folder, an empty file, a file
            that is not an image, a truncated or corrupt image, an image larger than ``max_pixels``, an
            unsupported mode or array, or values outside [0, 1].
        ConfigError: ``mode`` is not ``"RGB"`` or ``"L"``.
    """
    if mode not in ("RGB", "L"):
        raise ConfigError(f"load_image: mode must be 'RGB' or 'L', got {mode!r}")
    if max_pixels is not None and max_pixels <= 0:
        raise ConfigError(f"load_image: max_pixels must be a positive number or None, got {max_pixels!r}")

    if isinstance(source, Image.Image):
        name = repr(getattr(source, "filename", "") or "<PIL image>")
        im = _decode(source, name, max_pixels)
        color, alpha = _pil_to_float(im, name)
    elif isinstance(source, (str, os.PathLike)):
        file, name = _open_path(source)
        with file:  # our handle: closed on every way out of this block, errors included
            color, alpha = _pil_to_float(_open_and_decode(file, name, max_pixels), name)
    elif hasattr(source, "read"):
        name = repr(getattr(source, "name", None) or "<file object>")
        color, alpha = _pil_to_float(_open_and_decode(source, name, max_pixels), name)
    else:
        color, alpha = _array_to_float(source, max_pixels)

    if alpha is not None:
        # "over white": out = colour * alpha + white * (1 - alpha), white = 1.
        alpha = alpha[..., None] if color.ndim == 3 else alpha
        color = color * alpha + (1.0 - alpha)
    if mode == "RGB" and color.ndim == 2:
        color = np.repeat(color[..., None], 3, axis=-1)
    elif mode == "L" and color.ndim == 3:
        color = color @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)
    return np.ascontiguousarray(np.clip(color, 0.0, 1.0), dtype=np.float32)


def image_shape(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of the array :func:`load_image` would return, from the file's header (nothing decoded).

    For checking many files quickly before any work (``colorlab colorize`` does, before the model loads). The EXIF
    Orientation tag is taken into account, as :func:`load_image` applies it. A file whose pixel data is truncated
    passes here and fails in :func:`load_image`.

    Args:
        source: as for :func:`load_image` (an array or a PIL image gives its own size).
        max_pixels: as for :func:`load_image`.

    Raises:
        ImageLoadError: the problems :func:`load_image` finds without decoding: a missing, empty or unreadable
            file, a folder, a file that is not an image, more than ``max_pixels`` pixels.
    """
    if isinstance(source, (str, os.PathLike)):
        file, name = _open_path(source)
        with file:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    with Image.open(file) as im:
                        (width, height), orientation = im.size, im.getexif().get(0x0112)
            except Image.UnidentifiedImageError:
                raise ImageLoadError(f"cannot read {name}: {_not_an_image(file, 0)}") from None
            except Image.DecompressionBombError as error:
                raise ImageLoadError(f"cannot read {name}: Pillow refuses it as a possible decompression bomb "
                                     f"({_one_line(error)})") from None
            except _DECODE_ERRORS as error:
                raise ImageLoadError(f"cannot read {name}: corrupt image header ({_one_line(error)})") from None
    elif isinstance(source, Image.Image):
        name = repr(getattr(source, "filename", "") or "<PIL image>")
        (width, height), orientation = source.size, source.getexif().get(0x0112)
    else:
        height, width = load_image(source, max_pixels=max_pixels).shape[:2]
        return height, width
    _check_pixels(width, height, name, max_pixels)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)   # 5-8: rotated by 90 degrees


def _check_pixels(width: int, height: int, name: str, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            f"cannot read {name}: {width}×{height} = {width * height:,} pixels is more than max_pixels="
            f"{max_pixels:,} (a guard against decompression bombs; pass a larger max_pixels if the file is trusted)")


def _one_line(message) -> str:
    return " ".join(str(message).split())


def _check_path(path: pathlib.Path, name: str) -> None:
    """Turns the common file-system problems into a clear message before Pillow sees the file."""
    if not path.exists():
        raise ImageLoadError(f"cannot read {name}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"cannot read {name}: it is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"cannot read {name}: file is empty (0 bytes)")


def _open_and_decode(file: BinaryIO, name: str, max_pixels: int | None) -> Image.Image:
    """Opens ``file`` with Pillow and decodes it fully; returns an image that no longer needs the file."""
    try:
        start = file.tell()
    except (AttributeError, OSError, ValueError):  # a stream that cannot tell its position
        start = None
    try:
        with warnings.catch_warnings():
            # Pillow warns above PIL.Image.MAX_IMAGE_PIXELS; our max_pixels check, right below, is the one
            # that decides, so the warning would only be noise (the size is checked before decoding either way).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as im:
                return _decode(im, name, max_pixels)
    except Image.UnidentifiedImageError:
        raise ImageLoadError(f"cannot read {name}: {_not_an_image(file, start)}") from None
    except Image.DecompressionBombError as error:
        raise ImageLoadError(
            f"cannot read {name}: Pillow refuses it as a possible decompression bomb ({_one_line(error)}); "
            "raise PIL.Image.MAX_IMAGE_PIXELS if the file is trusted") from None
    except ImageLoadError:
        raise
    except _DECODE_ERRORS as error:
        raise ImageLoadError(f"cannot read {name}: truncated or corrupt image data ({_one_line(error)})") from None


def _decode(im: Image.Image, name: str, max_pixels: int | None) -> Image.Image:
    """Checks the size, forces a full decode (so truncated files fail here, not later) and applies EXIF orientation.

    Returns a new, fully loaded image independent of any file handle.
    """
    _check_pixels(*im.size, name, max_pixels)
    try:
        im.load()  # a full decode: Pillow reads lazily, and ImageFile.LOAD_TRUNCATED_IMAGES is left False
        upright = ImageOps.exif_transpose(im)
        if upright is im:  # exif_transpose returns a copy only when it rotates; we want one either way
            upright = im.copy()
        upright.load()
    except _DECODE_ERRORS as error:
        raise ImageLoadError(f"cannot read {name}: truncated or corrupt image data ({_one_line(error)})") from None
    return upright


def _not_an_image(file: BinaryIO, start: int | None) -> str:
    """Explains an unidentified file, with a hint when it looks like text."""
    head = b""
    try:
        if start is not None:
            file.seek(start)
        head = file.read(512)
    except (OSError, ValueError):
        pass
    if not head:
        return "file is empty (0 bytes)"
    try:
        text = head.decode("utf-8")
        looks_like_text = all(ch.isprintable() or ch in "\r\n\t" for ch in text)
    except UnicodeDecodeError:
        looks_like_text = False
    hint = " (it looks like a text file)" if looks_like_text else ""
    return f"not an image file in a format Pillow can read{hint}"


def _pil_to_float(im: Image.Image, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Converts a decoded Pillow image into (colour, alpha).

    Returns:
        colour: float32 ``(H, W)`` for gray modes or ``(H, W, 3)`` for colour modes, in [0, 1].
        alpha: float32 ``(H, W)`` in [0, 1], or ``None`` for an opaque image.
    """
    m = im.mode
    if m.startswith("I;16"):  # I;16, I;16L, I;16B, I;16N: np.asarray gives uint16 (of the right byte order)
        return np.asarray(im).astype(np.float32) / 65535.0, None
    if m == "I":
        values = np.asarray(im)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ImageLoadError(
                f"cannot read {name}: 32-bit integer image with values in [{low}, {high}]; colorlab reads mode 'I' "
                "as 16-bit data in [0, 65535]")
        return values.astype(np.float32) / 65535.0, None
    if m == "F":
        return _check_unit_float(np.asarray(im, dtype=np.float32), name), None

    # A palette ("P") image is read as colour even when its palette is gray: luma of R = G = B is that gray.
    palette_alpha = m == "P" and im.palette is not None and "A" in im.palette.mode
    has_alpha = m in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info or palette_alpha
    gray = m in ("1", "L", "LA", "La")
    try:
        if gray and has_alpha:
            pixels = np.asarray(im.convert("LA"), dtype=np.float32) / 255.0
            return pixels[..., 0], pixels[..., 1]
        if gray:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0, None
        if has_alpha:
            pixels = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
            return pixels[..., :3], pixels[..., 3]
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0, None
    except ValueError as error:  # Pillow: "conversion from X to Y not supported"
        raise ImageLoadError(f"cannot read {name}: unsupported image mode {m!r} ({_one_line(error)})") from None


def _check_unit_float(values: np.ndarray, name: str) -> np.ndarray:
    if values.size and not np.all(np.isfinite(values)):
        raise ImageLoadError(f"cannot read {name}: float image contains NaN or infinity")
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ImageLoadError(
            f"cannot read {name}: float image has values in [{float(values.min()):.4g}, {float(values.max()):.4g}]; "
            "colorlab expects floats in [0, 1] (divide by the maximum, or pass integers)")
    return values.astype(np.float32, copy=False)


def _array_to_float(source, max_pixels: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Converts an array-like image into (colour, alpha), like :func:`_pil_to_float`."""
    try:
        values = np.asarray(source)
    except Exception as error:  # np.asarray of an arbitrary object
        raise ImageLoadError(f"cannot read {type(source).__name__} object as an image ({_one_line(error)})") from None
    name = f"array of shape {values.shape} and dtype {values.dtype}"
    if values.dtype == object or values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[-1] not in (1, 3, 4)):
        raise ImageLoadError(f"cannot read {name}: expected an image of shape (H, W), (H, W, 1), (H, W, 3) or "
                             "(H, W, 4), or a path, file object or PIL image")
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ImageLoadError(f"cannot read {name}: the image is empty")
    height, width = values.shape[:2]
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(f"cannot read {name}: {width}×{height} = {width * height:,} pixels is more than "
                             f"max_pixels={max_pixels:,}")
    if values.dtype == np.uint8:
        values = values.astype(np.float32) / 255.0
    elif values.dtype == np.uint16:
        values = values.astype(np.float32) / 65535.0
    elif values.dtype == np.bool_:
        values = values.astype(np.float32)
    elif np.issubdtype(values.dtype, np.floating):
        values = _check_unit_float(values.astype(np.float32), name)
    else:
        raise ImageLoadError(f"cannot read {name}: unsupported dtype; use uint8 (0-255), uint16 (0-65535) or "
                             "floats in [0, 1]")
    if values.ndim == 2:
        return values, None
    if values.shape[-1] == 1:
        return values[..., 0], None
    if values.shape[-1] == 4:
        return values[..., :3], values[..., 3]
    return values, None


# ------------------------------------------------------------------------------------------------------ saving
def save_image(image, path: str | os.PathLike, *, overwrite: bool = False) -> pathlib.Path:
    """Writes an image file atomically; the format follows the suffix.

    Args:
        image: a float array in [0, 1] of shape ``(H, W, 3)``, ``(H, W)`` or ``(H, W, 1)`` (a uint8 array of
            those shapes is written as is), or a ``PIL.Image.Image`` (written as is). Floats are rounded to 8 bits.
            Values outside [0, 1] by more than 1e-6 are refused rather than clipped silently (clip them yourself,
            e.g. after a Lab -> RGB conversion that left the sRGB gamut).
        path: where to write; the suffix picks the format: ``.png``, ``.jpg``/``.jpeg``, ``.webp``, ``.tif``/
            ``.tiff`` (case-insensitive). The folder must exist.
        overwrite: replace an existing file. Without it an existing file is never touched.

    Returns:
        ``pathlib.Path(path)``.

    The file is written atomically by :func:`colorlab.files.write_atomic`: a hidden temporary file in the same
    folder, moved into place (a hard link when not overwriting, so a file that appears meanwhile is not clobbered).
    A reader therefore sees the old file or the complete new one, never half a file, and a failure leaves no
    temporary file behind. Our encoder settings: JPEG at quality 95 with 4:4:4 chroma (Pillow's default, 4:2:0, halves
    the resolution of exactly the colour channels a colorizer produces); WebP lossless for the same reason.

    Raises:
        ConfigError: unknown suffix, an image of the wrong shape/dtype/range, a mode the format cannot store (e.g.
            RGBA as JPEG), or what :func:`check_output_path` refuses (missing or read-only folder, a folder at
            ``path``).
        OutputExistsError: ``path`` exists (or is a dangling symbolic link) and ``overwrite`` is False.
        OSError: writing failed (a full disk, ...); its ``filename`` is ``path``.
    """
    path = pathlib.Path(path)
    name = repr(os.fspath(path))
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot save {name}: unknown image suffix {path.suffix!r}; use one of "
                          f"{', '.join(sorted(SAVE_FORMATS))}")
    check_output_path(path, overwrite=overwrite)

    pil = _to_pil(image, name)
    options = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True}}.get(fmt, {})

    def write(temporary: pathlib.Path) -> None:
        try:
            with open(temporary, "wb") as file:
                pil.save(file, format=fmt, **options)
        except (ValueError, KeyError, OSError) as error:
            if isinstance(error, OSError) and error.errno is not None:
                # a real file-system error (disk full, permissions): named after the file the user asked for
                raise OSError(error.errno, error.strerror, os.fspath(path)) from None
            raise ConfigError(f"cannot save {name}: {fmt} cannot store this image (mode {pil.mode}: "
                              f"{_one_line(error)})") from None

    write_atomic(path, write, overwrite=overwrite)
    return path


def check_output_path(path: str | os.PathLike, *, inputs=(), overwrite: bool = False,
                      make_folder: bool = False) -> pathlib.Path:
    """Checks, before any work, that an output file can be written at ``path``; the one rule of every command.

    Args:
        path: the output file.
        inputs: the files the job reads (paths; other objects are ignored): the output must not be one of them,
            through any link, even with ``overwrite`` (it would be replaced while being read, or by its own result).
        overwrite: an existing file (or a symbolic link, dangling or not, which is replaced, not followed) may be
            replaced.
        make_folder: the folder will be created (with its parents) when missing: the nearest existing folder
            above it must then be writable.

    Returns:
        ``pathlib.Path(path)``.

    Raises:
        ConfigError: ``path`` is one of ``inputs`` or a folder; its folder is missing (without ``make_folder``),
            is not a folder, or cannot be written to.
        OutputExistsError: ``path`` exists, or is a dangling symbolic link (said so), and ``overwrite`` is False.
    """
    path = pathlib.Path(path)
    name = repr(os.fspath(path))
    for source in inputs:
        if isinstance(source, (str, os.PathLike)) and os.path.exists(source) and os.path.exists(path) \
                and os.path.samefile(path, source):
            raise ConfigError(f"cannot write {name}: it is the input {os.fspath(source)!r}; choose another output "
                              "(--overwrite never replaces an input)")
    if path.is_dir():
        raise ConfigError(f"cannot write {name}: it is a folder")
    if path.is_symlink() and not path.exists() and not overwrite:
        raise OutputExistsError(f"cannot write {name}: it is a dangling symbolic link (to "
                                f"{os.readlink(path)!r}); remove it, or pass --overwrite / overwrite=True to "
                                "replace the link")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"cannot write {name}: file exists already (pass --overwrite / overwrite=True to "
                                "replace it)")
    folder = path.parent
    if make_folder:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    if not folder.exists():
        raise ConfigError(f"cannot write {name}: folder {os.fspath(folder)!r} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {name}: {os.fspath(folder)!r} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {name}: folder {os.fspath(folder)!r} is not writable (permission denied "
                          "or a read-only file system)")
    return path


def _to_pil(image, name: str) -> Image.Image:
    """Converts what save_image accepts into a Pillow image (8 bits per channel for arrays)."""
    if isinstance(image, Image.Image):
        return image
    values = np.asarray(image)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[-1] != 3) or 0 in values.shape:
        raise ConfigError(f"cannot save {name}: expected an image of shape (H, W, 3), (H, W) or (H, W, 1), "
                          f"got shape {np.shape(image)}")
    if values.dtype != np.uint8:
        if not np.issubdtype(values.dtype, np.floating):
            raise ConfigError(f"cannot save {name}: expected floats in [0, 1] or uint8, got dtype {values.dtype}")
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"cannot save {name}: the image contains NaN or infinity")
        low, high = float(values.min()), float(values.max())
        if low < -1e-6 or high > 1.0 + 1e-6:
            raise ConfigError(f"cannot save {name}: values lie in [{low:.4g}, {high:.4g}], expected [0, 1] "
                              "(use np.clip(image, 0, 1) first if that is what you want)")
        values = np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(values, mode="L" if values.ndim == 2 else "RGB")


# ----------------------------------------------------------------------------------------------------- samples
def sample_paths() -> list[pathlib.Path]:
    """The bundled sample photos: sorted paths of ``samples/*.jpg|*.jpeg|*.png`` in :data:`colorlab.bundle.DATA_DIR`.

    That is ``<repo>/data/samples`` in a source checkout or an editable install, and the copy the wheel carries
    (``colorlab/bundled/samples``) in an installed package.

    Returns:
        list of absolute ``pathlib.Path``, sorted by file name; ``[]`` when there are none.
    """
    if not _SAMPLES_DIR.is_dir():
        return []
    return sorted((p for p in _SAMPLES_DIR.iterdir() if p.is_file() and p.suffix.lower() in _SAMPLE_SUFFIXES),
                  key=lambda p: p.name)
