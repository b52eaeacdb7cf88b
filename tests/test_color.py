"""colorlab.color against scikit-image (D65, 2-degree observer), hand-computed values and gradients."""

from pathlib import Path

import numpy as np
import pytest
from backend import value_and_gradients
from jaxrun import run_on_jax
from skimage import color as skcolor

import keras
from keras import ops

from colorlab import color
from colorlab.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _grad(fn, x):
    """Gradient of ``fn(x)`` (a scalar) with respect to ``x`` on the current backend, as float64 NumPy."""
    return _np(value_and_gradients(fn, x)[1][0])


def _test_colours():
    """~10,000 random colours, the 8 corners of the RGB cube and a 101-step grey ramp: (N, 3) float64."""
    rng = np.random.default_rng(0)
    corners = np.array([[r, g, b] for r in (0.0, 1.0) for g in (0.0, 1.0) for b in (0.0, 1.0)])
    ramp = np.repeat(np.linspace(0.0, 1.0, 101)[:, None], 3, axis=1)
    return np.concatenate([rng.random((10_000, 3)), corners, ramp])


# ------------------------------------------------------------------------------- conversions

def test_rgb_to_lab_matches_skimage():
    rgb = _test_colours()
    lab = _np(color.rgb_to_lab(rgb))
    expected = skcolor.rgb2lab(rgb)
    assert lab.shape == rgb.shape
    assert np.max(np.abs(lab[:, 0] - expected[:, 0])) <= 1e-3
    assert np.max(np.abs(lab[:, 1:] - expected[:, 1:])) <= 1e-2


def test_rgb_to_lab_known_values_and_image_shape():
    # White is L=100 and a, b within 0.005 of 0 (the matrix's white differs from D65's Xn, Zn in the
    # 5th digit; skimage gives a=-0.00245, b=0.00465 too); black is exactly 0; sRGB grey 0.5 is L=53.389.
    lab = _np(color.rgb_to_lab(np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]])))
    assert lab.shape == (1, 3, 3)
    np.testing.assert_allclose(lab[0, 0], [100.0, 0.0, 0.0], atol=5e-3)
    np.testing.assert_allclose(lab[0, 1], [0.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(lab[0, 2], [53.3889, 0.0, 0.0], atol=5e-3)


def test_round_trip_rgb_lab_rgb():
    rgb = _test_colours()
    back = _np(color.lab_to_rgb(color.rgb_to_lab(rgb)))
    assert np.max(np.abs(back - rgb)) <= 1e-3


def test_lab_to_rgb_matches_skimage_in_gamut():
    rng = np.random.default_rng(1)
    lab = skcolor.rgb2lab(rng.random((5_000, 3)))  # in gamut by construction
    candidates = np.stack([rng.uniform(0, 100, 5_000), rng.uniform(-110, 110, 5_000),
                           rng.uniform(-110, 110, 5_000)], axis=-1)
    raw = _np(color.lab_to_rgb(candidates, clip=False))
    lab = np.concatenate([lab, candidates[np.all((raw >= 0) & (raw <= 1), axis=-1)]])
    assert len(lab) > 5_500  # some random Lab colours are in gamut
    ours = _np(color.lab_to_rgb(lab))
    assert np.max(np.abs(ours - skcolor.lab2rgb(lab))) <= 1e-3
    assert np.all(_np(color.in_gamut(lab)))


def test_lab_to_rgb_clip_true_matches_skimage_out_of_gamut():
    # skimage also clips to [0, 1] at the end; it additionally clips negative Z, so keep Z >= 0.
    rng = np.random.default_rng(2)
    lab = np.stack([rng.uniform(0, 100, 3_000), rng.uniform(-110, 110, 3_000),
                    rng.uniform(-110, 110, 3_000)], axis=-1)
    lab = lab[(lab[:, 0] + 16) / 116 - lab[:, 2] / 200 >= 0]
    assert np.max(np.abs(_np(color.lab_to_rgb(lab)) - skcolor.lab2rgb(lab))) <= 1e-3


def test_out_of_gamut_lab_clip_false_and_in_gamut():
    lab = np.array([[50.0, 110.0, 110.0], [50.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    raw = _np(color.lab_to_rgb(lab, clip=False))
    clipped = _np(color.lab_to_rgb(lab, clip=True))
    assert np.all(np.isfinite(raw))
    # L=50, a=110, b=110 is a red too saturated for sRGB: R > 1 and G < 0 before clipping.
    assert raw[0, 0] > 1.0 and raw[0, 1] < 0.0
    np.testing.assert_allclose(clipped[0], np.clip(raw[0], 0.0, 1.0), atol=1e-6)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    # In gamut (L=100 comes out at 1 + 4e-5 because of the white-point rounding): clipping changes ~nothing.
    np.testing.assert_allclose(raw[1:], clipped[1:], atol=1e-4)
    assert _np(color.in_gamut(lab)).tolist() == [0.0, 1.0, 1.0, 1.0]


def test_in_gamut_tolerance():
    # White plus a little L is just outside [0, 1]; a tolerance large enough accepts it.
    lab = np.array([[100.5, 0.0, 0.0]])
    excess = _np(color.lab_to_rgb(lab, clip=False)).max() - 1.0
    assert 1e-3 < excess < 1e-2
    assert not bool(_np(color.in_gamut(lab))[0])
    assert bool(_np(color.in_gamut(lab, tol=1e-2))[0])


def test_rgb_to_lab_extrapolates_outside_unit_range_like_skimage():
    rng = np.random.default_rng(3)
    rgb = rng.uniform(-0.3, 1.3, (2_000, 3))
    lab = _np(color.rgb_to_lab(rgb))
    assert np.all(np.isfinite(lab))
    expected = skcolor.rgb2lab(rgb)  # skimage does not clip either
    assert np.max(np.abs(lab[:, 0] - expected[:, 0])) <= 1e-3
    assert np.max(np.abs(lab[:, 1:] - expected[:, 1:])) <= 1e-2
    # Not clipped: 1.2 is brighter than white and -0.1 differs from 0.
    assert _np(color.rgb_to_lab([1.2, 1.2, 1.2]))[0] > 100.5
    assert _np(color.rgb_to_lab([-0.1, -0.1, -0.1]))[0] < -0.5
    # lab_to_rgb(clip=False) inverts the extrapolation.
    np.testing.assert_allclose(_np(color.lab_to_rgb(lab, clip=False)), rgb, atol=1e-3)


def test_bad_inputs_raise_config_error():
    with pytest.raises(ConfigError, match="shape"):
        color.rgb_to_lab(np.zeros((4, 4)))
    with pytest.raises(ConfigError, match="255"):
        color.rgb_to_lab(np.zeros((2, 2, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match="shape"):
        color.lab_to_rgb(np.zeros((2, 4)))
    with pytest.raises(ConfigError, match=r"\(N, H, W, 2\)"):
        color.soft_ab_histogram(np.zeros((4, 4, 2)))
    with pytest.raises(ConfigError, match="bins"):
        color.soft_ab_histogram(np.zeros((1, 4, 4, 2)), bins=1)
    with pytest.raises(ConfigError, match="sigma"):
        color.soft_ab_histogram(np.zeros((1, 4, 4, 2)), sigma=0.0)
    with pytest.raises(ConfigError, match="weights"):
        color.soft_ab_histogram(np.zeros((1, 4, 4, 2)), weights=np.ones((1, 4, 3)))
    with pytest.raises(ConfigError, match=r"\(N, H, W, 2\)"):
        color.hard_ab_histogram(np.zeros((1, 4, 4, 3)))


# --------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("rgb", [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.04045, 0.2, 0.9],
                                 [-0.2, 1.2, 0.5]])
def test_rgb_to_lab_gradient_is_finite(rgb):
    for channel in range(3):
        grad = _grad(lambda x: color.rgb_to_lab(x)[channel], rgb)
        assert np.all(np.isfinite(grad)), (rgb, channel, grad)
    assert np.any(_grad(lambda x: color.rgb_to_lab(x)[0], rgb) != 0)


def test_rgb_to_lab_gradient_at_black_is_hand_computed():
    # Near black both curves are linear: L = kappa * Y, Y = (0.212671 R + 0.71516 G + 0.072169 B) / 12.92.
    expected = 24389.0 / 27.0 * np.array([0.212671, 0.715160, 0.072169]) / 12.92
    np.testing.assert_allclose(_grad(lambda x: color.rgb_to_lab(x)[0], [0.0, 0.0, 0.0]), expected, rtol=1e-5)


def test_rgb_to_lab_jacobian_matches_skimage_finite_differences():
    rgb = np.array([0.3, 0.6, 0.2])
    h = 1e-6
    for channel in range(3):
        numeric = np.array([(skcolor.rgb2lab(rgb + h * e)[channel] - skcolor.rgb2lab(rgb - h * e)[channel]) / (2 * h)
                            for e in np.eye(3)])
        ours = _grad(lambda x: color.rgb_to_lab(x)[channel], rgb)
        np.testing.assert_allclose(ours, numeric, rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("lab", [[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [50.0, 0.0, 0.0], [50.0, 110.0, 110.0],
                                 [30.0, -80.0, -100.0]])
@pytest.mark.parametrize("clip", [False, True])
def test_lab_to_rgb_gradient_is_finite(lab, clip):
    for channel in range(3):
        grad = _grad(lambda x: color.lab_to_rgb(x, clip=clip)[channel], lab)
        assert np.all(np.isfinite(grad)), (lab, clip, channel, grad)
    if not clip:
        assert np.any(_grad(lambda x: ops.sum(color.lab_to_rgb(x, clip=False)), lab) != 0)


# ------------------------------------------------------------------------------ normalisation

def test_normalisation_constants_and_end_points():
    assert color.L_SCALE == 50.0 and color.AB_SCALE == 110.0
    np.testing.assert_allclose(_np(color.normalize_l([0.0, 50.0, 100.0])), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(_np(color.denormalize_l([-1.0, 0.0, 1.0])), [0.0, 50.0, 100.0])
    np.testing.assert_allclose(_np(color.normalize_ab([-110.0, 0.0, 55.0])), [-1.0, 0.0, 0.5])
    np.testing.assert_allclose(_np(color.normalize_lab([[100.0, 110.0, -55.0]])), [[1.0, 1.0, -0.5]])


def test_normalisation_round_trips():
    rng = np.random.default_rng(4)
    lab = np.stack([rng.uniform(0, 100, 50), rng.uniform(-110, 110, 50), rng.uniform(-110, 110, 50)], -1)
    lab = lab.reshape(2, 5, 5, 3)
    np.testing.assert_allclose(_np(color.denormalize_lab(color.normalize_lab(lab))), lab, atol=1e-4)
    np.testing.assert_allclose(_np(color.denormalize_l(color.normalize_l(lab[..., 0]))), lab[..., 0], atol=1e-4)
    np.testing.assert_allclose(_np(color.denormalize_ab(color.normalize_ab(lab[..., 1:]))), lab[..., 1:], atol=1e-4)
    normalised = _np(color.normalize_lab(lab))
    assert normalised.shape == lab.shape
    np.testing.assert_allclose(normalised[..., 0], lab[..., 0] / 50.0 - 1.0, atol=1e-6)
    np.testing.assert_allclose(normalised[..., 1:], lab[..., 1:] / 110.0, atol=1e-6)


# --------------------------------------------------------------------------------- histograms

def test_soft_histogram_shape_and_rows_sum_to_one():
    rng = np.random.default_rng(5)
    ab = rng.uniform(-150, 150, (3, 8, 8, 2))  # also beyond the range: mass goes to the edge bins
    hist = _np(color.soft_ab_histogram(ab))
    assert hist.shape == (3, 441)
    assert np.all(np.isfinite(hist)) and hist.min() >= 0.0
    np.testing.assert_allclose(hist.sum(axis=1), 1.0, atol=1e-5)


def test_soft_histogram_constant_colour_peaks_in_the_right_bin():
    # Centres are -110, -99, ..., 110 (width 11): a = 33 is centre 13, b = -55 is centre 5, so the
    # a-major index is 13 * 21 + 5 = 278 (b-major would be 5 * 21 + 13 = 118).
    ab = np.broadcast_to(np.array([33.0, -55.0]), (2, 4, 4, 2))
    hist = _np(color.soft_ab_histogram(ab))
    assert np.all(np.argmax(hist, axis=1) == 278)
    # sigma = 5.5 = half a bin: a neighbour at distance 11 gets exp(-11**2 / (2 * 5.5**2)) = exp(-2),
    # two bins away exp(-8); per axis the centre keeps 1 / (1 + 2e^-2 + 2e^-8 + ...), squared in 2-D.
    per_axis = 1.0 / (1.0 + 2 * np.exp(-2.0) + 2 * np.exp(-8.0) + 2 * np.exp(-18.0))
    np.testing.assert_allclose(hist[:, 278], per_axis ** 2, rtol=1e-5)
    np.testing.assert_allclose(hist[:, 279], per_axis ** 2 * np.exp(-2.0), rtol=1e-4)  # b one bin up
    hard = color.hard_ab_histogram(ab)
    assert hard.shape == (2, 441) and np.all(hard[:, 278] == 1.0)


def test_hard_histogram_hand_computed():
    # Four pixels: two at (0, 0) -> bin (10, 10) = 220; one at (-200, 4) -> clipped to a bin 0, b bin 10
    # (4 is nearer 0 than 11) = 10; one at (6, 500) -> a bin 11 (6 is nearer 11), b clipped to 20 = 251.
    ab = np.array([[[[0.0, 0.0], [0.0, 0.0]], [[-200.0, 4.0], [6.0, 500.0]]]])
    hist = color.hard_ab_histogram(ab)
    expected = np.zeros((1, 441))
    expected[0, 220], expected[0, 10], expected[0, 251] = 0.5, 0.25, 0.25
    np.testing.assert_array_equal(hist, expected)


def test_soft_histogram_agrees_with_hard_histogram():
    rng = np.random.default_rng(6)
    # A photo-like colour distribution (a smooth blob): the default kernel moves little mass.
    blob = rng.normal([10.0, -20.0], [20.0, 15.0], (2, 64, 64, 2))
    distance = np.abs(_np(color.soft_ab_histogram(blob)) - color.hard_ab_histogram(blob)).sum(axis=1)
    assert np.all(distance < 0.15), distance
    # Any colours at all: as sigma shrinks the soft histogram tends to the hard one.
    uniform = rng.uniform(-100, 100, (2, 32, 32, 2))
    hard = color.hard_ab_histogram(uniform)
    distances = [np.abs(_np(color.soft_ab_histogram(uniform, sigma=s)) - hard).sum(axis=1).mean()
                 for s in (5.5, 2.0, 0.5)]
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 0.03, distances


def test_soft_histogram_weights_ignore_masked_pixels():
    rng = np.random.default_rng(7)
    ab = rng.uniform(-100, 100, (2, 6, 6, 2))
    mask = np.zeros((2, 6, 6))
    mask[:, :, :3] = 1.0  # keep the left half
    masked = _np(color.soft_ab_histogram(ab, weights=mask))
    left_only = _np(color.soft_ab_histogram(np.ascontiguousarray(ab[:, :, :3])))
    np.testing.assert_allclose(masked, left_only, atol=1e-6)
    # The masked-out pixels' colours do not matter at all.
    scrambled = ab.copy()
    scrambled[:, :, 3:] = 77.0
    np.testing.assert_allclose(_np(color.soft_ab_histogram(scrambled, weights=mask)), masked, atol=1e-6)
    # Weights also scale: weight 2 on the left half equals weight 1.
    np.testing.assert_allclose(_np(color.soft_ab_histogram(ab, weights=2 * mask)), masked, atol=1e-6)


def test_soft_histogram_gradient_is_finite_and_non_zero():
    rng = np.random.default_rng(8)
    ab = rng.uniform(-100, 100, (1, 4, 4, 2))
    target = rng.random((1, 441)).astype(np.float32)
    grad = _grad(lambda x: ops.sum(color.soft_ab_histogram(x) * target), ab)
    assert grad.shape == ab.shape
    assert np.all(np.isfinite(grad))
    assert np.count_nonzero(np.abs(grad) > 1e-6) == grad.size  # every pixel gets a gradient


def test_bin_centers():
    centres = color.bin_centers()
    assert centres.shape == (21,)
    np.testing.assert_allclose(centres[[0, 1, 10, 20]], [-110.0, -99.0, 0.0, 110.0])


# ------------------------------------------------------------------------------- JAX backend

_JAX_SCRIPT = r"""
import sys
import numpy as np
import keras, jax
assert keras.backend.backend() == "jax"
from colorlab import color
rgb = np.load(sys.argv[1])
lab = np.asarray(color.rgb_to_lab(rgb))
grads = [np.asarray(jax.grad(lambda x: color.rgb_to_lab(x)[0])(np.float32(v) * np.ones(3, np.float32)))
         for v in (0.0, 0.5, 1.0)]
grads += [np.asarray(jax.grad(lambda x: keras.ops.sum(color.lab_to_rgb(x, clip=False)))(np.array(v, np.float32)))
          for v in ([0.0, 0, 0], [100.0, 0, 0], [50.0, 110, 110])]
hist = np.asarray(color.soft_ab_histogram(lab[None, :, None, 1:]))
np.savez(sys.argv[2], lab=lab, grads=np.stack(grads), hist=hist)
"""


def test_rgb_to_lab_on_jax_matches_tensorflow(tmp_path):
    pytest.importorskip("jax")
    rng = np.random.default_rng(9)
    rgb = np.concatenate([rng.random((200, 3)), np.eye(3), np.zeros((1, 3)), np.ones((1, 3))]).astype(np.float32)
    np.save(tmp_path / "rgb.npy", rgb)
    run_on_jax(_JAX_SCRIPT, tmp_path / "rgb.npy", tmp_path / "out.npz", PYTHONPATH=str(ROOT))
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["lab"], _np(color.rgb_to_lab(rgb)), atol=1e-4)
    assert np.all(np.isfinite(out["grads"])) and np.all(np.abs(out["grads"]).sum(axis=1) > 0)
    lab = _np(color.rgb_to_lab(rgb))
    np.testing.assert_allclose(out["hist"], _np(color.soft_ab_histogram(lab[None, :, None, 1:])), atol=1e-6)
