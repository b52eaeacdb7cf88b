"""The fast 8-bit colour paths video uses (colorlab.cie.frame_lightness, lab_to_rgb8) against the float64
reference conversions."""

import numpy as np
import pytest

from colorlab import video
from colorlab.cie import frame_lightness, lab_to_rgb8, lab_to_rgb_keep_l, rgb_to_lab_np


@pytest.fixture(scope="module")
def rgb8():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    image[0, :4] = [[0, 0, 0], [255, 255, 255], [1, 1, 1], [10, 10, 10]]   # black, white, near black
    return image


def test_frame_lightness_matches_float64_lab(rgb8):
    expected = rgb_to_lab_np(rgb8 / 255.0)[..., 0]
    got = frame_lightness(rgb8)
    assert got.dtype == np.float32 and got.shape == rgb8.shape[:2]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert got[0, 0] == pytest.approx(0.0, abs=1e-4) and got[0, 1] == pytest.approx(100.0, abs=1e-3)


def test_lab_to_rgb8_matches_keep_l_within_one_step(rgb8):
    rng = np.random.default_rng(1)
    lightness = frame_lightness(rgb8)
    ab = rng.normal(0, 45, rgb8.shape[:2] + (2,)).astype(np.float32)   # many colours outside the gamut
    expected = np.round(lab_to_rgb_keep_l(lightness, ab) * 255).astype(int)
    got = lab_to_rgb8(lightness, ab)
    assert got.dtype == np.uint8 and got.shape == rgb8.shape
    assert np.abs(got.astype(int) - expected).max() <= 1
    assert (got.astype(int) != expected).mean() < 0.01


def test_lab_to_rgb8_round_trips_8bit_colours(rgb8):
    lab = rgb_to_lab_np(rgb8 / 255.0)
    got = lab_to_rgb8(lab[..., 0], lab[..., 1:])
    assert np.abs(got.astype(int) - rgb8).max() <= 1


def test_lab_to_rgb8_gray_is_neutral_and_keeps_l(rgb8):
    lightness = frame_lightness(rgb8)
    gray = lab_to_rgb8(lightness, None)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    np.testing.assert_allclose(rgb_to_lab_np(gray / 255.0)[..., 0], lightness, atol=0.5)   # 8-bit rounding


def test_out_of_gamut_colours_keep_lightness():
    lightness = np.full((4, 4), 50.0, np.float32)
    ab = np.zeros((4, 4, 2), np.float32)
    ab[..., 0] = 150.0   # far outside sRGB at L* = 50
    out = lab_to_rgb8(lightness, ab)
    np.testing.assert_allclose(rgb_to_lab_np(out / 255.0)[..., 0], 50.0, atol=0.5)
    assert (out[..., 0].astype(int) > out[..., 1]).all()   # still red, less chroma


def test_video_frames_agree_on_tensorflow_and_jax(weights, tmp_path):
    """The same clip coloured on both backends (TF here, JAX in a subprocess): the same 8-bit frames within 2 steps."""
    import warnings

    from jaxrun import run_on_jax

    clip = video.synthetic_clip(video_sample(), 6, (48, 32), "pan")
    np.save(tmp_path / "clip.npy", clip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = video.colorize_frames(clip, clip[0], weights=weights, batch_size=4)
    script = ("import sys, warnings, numpy as np; from colorlab import video; warnings.simplefilter('ignore'); "
              "clip = np.load(sys.argv[1]); "
              "np.save(sys.argv[3], video.colorize_frames(clip, clip[0], weights=sys.argv[2], batch_size=4))")
    run_on_jax(script, tmp_path / "clip.npy", weights, tmp_path / "jax.npy")
    got = np.load(tmp_path / "jax.npy")
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).max() <= 2


def video_sample():
    from colorlab.io import sample_paths

    return next(p for p in sample_paths() if p.name == "lake_1.jpg")
