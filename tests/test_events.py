"""colorlab.events: TensorBoard event files without TensorFlow, read back by TensorBoard's own reader."""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from colorlab.errors import ConfigError
from colorlab.events import EventWriter, crc32c, masked_crc32c


def test_crc32c_known_values():
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283          # the standard check value of CRC-32C
    assert crc32c(bytes(32)) == 0x8A9136AA             # RFC 3720 (iSCSI), B.4: 32 bytes of zeros
    assert crc32c(b"\xff" * 32) == 0x62A8AB43          # ... and 32 bytes of ones
    assert masked_crc32c(b"123456789") == ((0xE3069283 >> 15 | 0xE3069283 << 17) + 0xA282EAD8) & 0xFFFFFFFF


def test_tensorboard_reads_scalars_and_images(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    pixels = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    with EventWriter(tmp_path / "logs") as writer:
        for step in (1, 2, 3):
            writer.scalar("loss", 1.0 / step, step)
            writer.scalar("generator/tv", 0.25, step)
        writer.image("grid", pixels, 3)
    assert writer.path.name.startswith("events.out.tfevents.")
    events = event_accumulator.EventAccumulator(str(tmp_path / "logs"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["generator/tv", "loss"] and events.Tags()["images"] == ["grid"]
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    image = events.Images("grid")[0]
    assert (image.step, image.width, image.height) == (3, 30, 20)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(image.encoded_image_string))), pixels)
    with pytest.raises(ConfigError, match="uint8"):
        EventWriter(tmp_path / "more").image("grid", pixels.astype(np.float32), 1)


def test_writing_imports_no_tensorflow(tmp_path):
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from colorlab.events import EventWriter
        with EventWriter(sys.argv[1]) as writer:
            writer.scalar("loss", 0.5, 1)
            writer.image("grid", np.zeros((4, 4, 3), np.uint8), 1)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax")))
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=root, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": root})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
