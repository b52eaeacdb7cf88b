"""TensorBoard event files, written without TensorFlow (standard library, NumPy and Pillow only).

:class:`colorlab.train.Trainer` logs its scalars and image grids here, so a run on JAX (a GPU machine that has no
TensorFlow) gets the same TensorBoard logs as a run on TensorFlow::

    from colorlab.events import EventWriter

    with EventWriter("runs/course/tensorboard") as writer:
        writer.scalar("loss", 0.31, step=100)
        writer.image("grid", pixels, step=100)    # (H, W, 3) uint8

The format (TensorFlow's, which TensorBoard reads): an event file is a sequence of *records*, each
``length (uint64) | masked CRC-32C of the length (uint32) | data | masked CRC-32C of the data (uint32)``, all
little-endian, and each record's data is one serialised ``tensorflow.Event`` protocol buffer. The first event
says ``file_version = "brain.Event:2"``; every other one has a ``wall_time``, a ``step`` and a ``Summary`` of
values: a scalar is ``Summary.Value(tag, simple_value)``, an image is ``Summary.Value(tag,
image=Summary.Image(height, width, colorspace, PNG bytes))``. The few protocol-buffer fields needed are encoded
here by hand (a field is a key ``number << 3 | wire type``, then a varint, a fixed 4 or 8 bytes, or a length and
bytes), so no ``protobuf`` package is needed either. File names follow TensorFlow's,
``events.out.tfevents.<seconds>.<host>.<pid>.<n>``.
"""

from __future__ import annotations

import io
import itertools
import os
import pathlib
import socket
import struct
import time

import numpy as np

from colorlab.errors import ConfigError

__all__ = ["EventWriter", "crc32c", "masked_crc32c"]

_COUNTER = itertools.count()


# ------------------------------------------------------------------------------------------------ checksums
def _crc32c_table() -> list[int]:
    """CRC-32C (Castagnoli): the reflected polynomial 0x82F63B78, one entry per byte value."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """The CRC-32C checksum of ``data`` (``crc32c(b"123456789") == 0xE3069283``), byte by byte from a table."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked checksum: the CRC-32C rotated right by 15 bits plus 0xA282EAD8 (modulo 2³²)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ------------------------------------------------------------------------------------------------ protobuf
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _int_field(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(int(value))


def _bytes_field(number: int, value: bytes) -> bytes:
    return _key(number, 2) + _varint(len(value)) + value


def _event(step: int | None, *, file_version: str | None = None, summary_values: list[bytes] = ()) -> bytes:
    """A serialised ``Event``: wall_time (1, double), step (2, int64), file_version (3) or summary (5)."""
    out = _key(1, 1) + struct.pack("<d", time.time())
    if step is not None:
        out += _int_field(2, step)
    if file_version is not None:
        out += _bytes_field(3, file_version.encode("utf-8"))
    else:
        out += _bytes_field(5, b"".join(_bytes_field(1, value) for value in summary_values))   # Summary.value
    return out


# ------------------------------------------------------------------------------------------------ writer
class EventWriter:
    """Writes one TensorBoard event file in ``folder`` (created if missing).

    Args:
        folder: the log folder (point ``tensorboard --logdir`` at it or at a folder above).

    Every call appends its record and flushes, so TensorBoard sees it at once and a killed run loses nothing but a
    record being written (TensorBoard skips a truncated last record).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_COUNTER)}"
        self.path = self.folder / name
        self._file = open(self.path, "ab")
        self._write(_event(None, file_version="brain.Event:2"))

    def _write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", masked_crc32c(header)) + data
                         + struct.pack("<I", masked_crc32c(data)))
        self._file.flush()

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Logs a scalar (TensorBoard's Scalars tab) at ``step``."""
        value_field = struct.pack("<f", float(value))
        self._write(_event(step, summary_values=[_bytes_field(1, tag.encode("utf-8")) + _key(2, 5) + value_field]))

    def image(self, tag: str, pixels, step: int) -> None:
        """Logs an ``(H, W, 3)`` uint8 RGB image (TensorBoard's Images tab, stored as PNG) at ``step``."""
        from PIL import Image

        pixels = np.asarray(pixels)
        if pixels.ndim != 3 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
            raise ConfigError(f"EventWriter.image needs (H, W, 3) uint8 pixels, got {pixels.shape} {pixels.dtype}")
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        image = (_int_field(1, pixels.shape[0]) + _int_field(2, pixels.shape[1]) + _int_field(3, 3)
                 + _bytes_field(4, buffer.getvalue()))
        self._write(_event(step, summary_values=[_bytes_field(1, tag.encode("utf-8")) + _bytes_field(4, image)]))

    def close(self) -> None:
        """Closes the file (further calls raise ``ValueError``)."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
