"""colorlab.cie's whole-photo conversions (row blocks, float64) against the reference conversions, the colour check
and the input check. The reference conversions themselves are tested in test_metrics.py (against scikit-image and
colorlab.color), the fast video ones in test_video_color.py."""

import numpy as np
import pytest

from colorlab import cie
from colorlab.errors import ConfigError


@pytest.fixture
def photo():
    rng = np.random.default_rng(3)
    return rng.random((41, 57, 3))


def test_image_lightness_is_rgb_to_lab_in_row_blocks(photo, monkeypatch):
    expected = cie.rgb_to_lab_np(photo)[..., 0].astype(np.float32)
    monkeypatch.setattr(cie, "_CHUNK_PIXELS", 100)     # blocks of one or two rows
    got = cie.image_lightness(photo)
    assert got.dtype == np.float32 and got.shape == (41, 57)
    np.testing.assert_array_equal(got, expected)


def test_image_lab_to_rgb8_keeps_l_and_agrees_with_the_fast_path(photo):
    lab = cie.rgb_to_lab_np(photo)
    lab[..., 1:] *= 3.0                                 # many colours out of gamut
    out = cie.image_lab_to_rgb8(lab[..., 0], lab[..., 1:])
    assert out.dtype == np.uint8 and out.shape == (41, 57, 3)
    np.testing.assert_array_equal(out, np.round(cie.lab_to_rgb_keep_l(lab[..., 0], lab[..., 1:]) * 255))
    fast = cie.lab_to_rgb8(lab[..., 0], lab[..., 1:])
    assert np.abs(out.astype(int) - fast).max() <= 1
    gray = cie.image_lab_to_rgb8(lab[..., 0], None)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    np.testing.assert_allclose(cie.rgb_to_lab_np(gray / 255.0)[..., 0], lab[..., 0], atol=0.5)


def test_is_colour():
    gray = np.repeat(np.random.default_rng(0).random((20, 30, 1)), 3, axis=-1)
    assert not cie.is_colour(gray)
    assert not cie.is_colour(gray + np.array([0.0, 1.0, 0.0]) / 255)   # JPEG-like noise on a gray photo
    gray[7, 11, 2] += 0.1
    assert cie.is_colour(gray)


def test_as_float64():
    assert cie.as_float64([0.5, 1.0], "x").dtype == np.float64
    with pytest.raises(ConfigError, match=r"x must hold floats.*255"):
        cie.as_float64(np.zeros(3, np.uint8), "x")
    with pytest.raises(ConfigError, match="NaN"):
        cie.as_float64([np.nan], "x")
