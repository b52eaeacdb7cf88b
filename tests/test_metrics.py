"""colorlab.metrics against scikit-image, Sharma et al.'s CIEDE2000 test data and hand-computed values."""

import math

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import metrics as skmetrics

from colorlab import cie, metrics
from colorlab.errors import ColorlabError, ConfigError


def _pair(shape=(24, 29, 3), noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    return a, np.clip(a + noise * rng.standard_normal(shape), 0.0, 1.0)


# ------------------------------------------------------------------------------------ colour space

def test_numpy_lab_matches_colorlab_color_and_skimage():
    from keras import ops

    from colorlab import color

    rgb = np.random.default_rng(1).random((500, 3))
    lab = cie.rgb_to_lab_np(rgb)
    assert np.max(np.abs(lab - ops.convert_to_numpy(color.rgb_to_lab(rgb)))) < 2e-3   # colorlab.color is float32
    assert np.max(np.abs(lab[:, 0] - skcolor.rgb2lab(rgb)[:, 0])) < 1e-3
    assert np.max(np.abs(cie.lab_to_rgb_np(lab) - rgb)) < 1e-9                    # exact inverse


def test_lightness_of_gray_rgb_and_l_inputs():
    g = np.array([[0.0, 0.5], [1.0, 0.2]])
    expected = skcolor.rgb2lab(np.repeat(g[..., None], 3, -1))[..., 0]
    np.testing.assert_allclose(cie.lightness(g), expected, atol=1e-3)
    np.testing.assert_allclose(cie.lightness(g[..., None]), expected, atol=1e-3)
    np.testing.assert_allclose(cie.lightness(100 * g, is_l=True), 100 * g)
    with pytest.raises(ConfigError, match="L"):
        cie.lightness(g * 200, is_l=True)


# --------------------------------------------------------------------------------------- fidelity

def test_psnr_hand_value_and_batches():
    a = np.zeros((4, 4, 3))
    b = np.full((4, 4, 3), 0.1)                       # MSE = 0.01 -> 20 dB
    assert metrics.psnr(b, a) == pytest.approx(20.0)
    assert metrics.psnr(a, a) == math.inf
    batch = metrics.psnr(np.stack([b, b / 10]), np.stack([a, a]))
    np.testing.assert_allclose(batch, [20.0, 40.0])
    x, y = _pair()
    assert metrics.psnr(x, y) == pytest.approx(skmetrics.peak_signal_noise_ratio(y, x, data_range=1.0))


def test_ssim_matches_skimage():
    for seed, shape in ((0, (24, 29, 3)), (1, (11, 40, 3))):
        x, y = _pair(shape, noise=0.2, seed=seed)
        expected = skmetrics.structural_similarity(x, y, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                                   use_sample_covariance=False, data_range=1)
        assert metrics.ssim(x, y) == pytest.approx(expected, abs=1e-4)
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    assert metrics.ssim(np.stack([x, x]), np.stack([x, y])).shape == (2,)


def test_ssim_rejects_small_and_mismatched_images():
    with pytest.raises(ConfigError, match="11"):
        metrics.ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))
    with pytest.raises(ConfigError, match="same shape"):
        metrics.ssim(np.zeros((12, 12, 3)), np.zeros((12, 13, 3)))
    with pytest.raises(ConfigError, match="dtype"):
        metrics.psnr(np.zeros((12, 12, 3), np.uint8), np.zeros((12, 12, 3), np.uint8))
    with pytest.raises(ConfigError, match="channels last"):
        metrics.psnr(np.zeros((3, 12, 12)), np.zeros((3, 12, 12)))


# -------------------------------------------------------------------------------------- CIEDE2000

# (Lab1, Lab2, dE00): pairs 1, 2, 3, 7, 17, 18, 19, 20, 25 and 34 of Sharma, Wu & Dalal (2005), Table 1.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_on_sharma_pairs_and_symmetric():
    lab1 = np.array([p[0] for p in SHARMA])
    lab2 = np.array([p[1] for p in SHARMA])
    expected = np.array([p[2] for p in SHARMA])
    np.testing.assert_allclose(metrics.ciede2000(lab1, lab2), expected, atol=5e-5)
    np.testing.assert_allclose(metrics.ciede2000(lab2, lab1), expected, atol=5e-5)


def test_ciede2000_matches_skimage_on_random_colours():
    rng = np.random.default_rng(2)
    lab1 = np.column_stack([rng.uniform(0, 100, 4000), rng.uniform(-110, 110, (4000, 2))])
    lab2 = np.column_stack([rng.uniform(0, 100, 4000), rng.uniform(-110, 110, (4000, 2))])
    lab2[:50, 1:] = 0.0                              # zero chroma: the hue special cases
    np.testing.assert_allclose(metrics.ciede2000(lab1, lab2), skcolor.deltaE_ciede2000(lab1, lab2), atol=1e-8)
    x, y = _pair()
    expected = skcolor.deltaE_ciede2000(skcolor.rgb2lab(x), skcolor.rgb2lab(y)).mean()
    assert metrics.mean_ciede2000(x, y) == pytest.approx(expected, abs=1e-3)
    assert metrics.mean_ciede2000(x, x) == 0.0


# ----------------------------------------------------------------------------------------- colour

def test_colourfulness_gray_is_zero_and_two_colour_hand_value():
    assert metrics.colourfulness(np.full((5, 6, 3), 0.3)) == pytest.approx(0.0, abs=1e-9)
    image = np.zeros((2, 2, 3))
    image[0, :, 0] = 1.0                               # top row pure red, bottom row pure blue
    image[1, :, 2] = 1.0
    # red: rg = 255, yb = 127.5; blue: rg = 0, yb = -255 -> std 127.5 and 191.25, means 127.5 and -63.75
    expected = math.hypot(127.5, 191.25) + 0.3 * math.hypot(127.5, -63.75)      # = 272.618...
    assert metrics.colourfulness(image) == pytest.approx(expected)
    assert expected == pytest.approx(272.618, abs=1e-3)
    np.testing.assert_allclose(metrics.colourfulness(np.stack([image, image * 0 + 0.5])), [expected, 0.0],
                               atol=1e-9)


def test_histogram_intersection_identical_disjoint_and_half():
    red = np.broadcast_to([0.8, 0.1, 0.1], (6, 6, 3))
    blue = np.broadcast_to([0.1, 0.2, 0.9], (4, 5, 3))
    assert metrics.histogram_intersection(red, red) == pytest.approx(1.0)
    assert metrics.histogram_intersection(red, blue) == pytest.approx(0.0)
    half = np.concatenate([red[:3], np.broadcast_to([0.1, 0.2, 0.9], (3, 6, 3))])
    assert metrics.histogram_intersection(half, red) == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="batches"):
        metrics.histogram_intersection(red, np.stack([red, red]))


def test_l_preservation():
    x, _ = _pair()
    gray = skcolor.rgb2gray(x)                         # any gray image
    assert metrics.l_preservation(np.repeat(gray[..., None], 3, -1), gray) == pytest.approx(0.0, abs=1e-9)
    L = skcolor.rgb2lab(x)[..., 0]
    assert metrics.l_preservation(x, L, is_l=True) < 1e-3
    assert metrics.l_preservation(x, x) == 0.0
    assert metrics.l_preservation(x, np.clip(L - 2.0, 0, 100), is_l=True) == pytest.approx(2.0, abs=0.05)
    with pytest.raises(ConfigError, match="input_gray_or_l"):
        metrics.l_preservation(x, L[:-1], is_l=True)


def test_evaluate_returns_every_metric():
    x, y = _pair()
    result = metrics.evaluate(x, y, reference_rgb=y[:10])
    assert set(result) == {"psnr", "ssim", "ciede2000", "colourfulness", "colourfulness_target",
                           "l_preservation", "his"}
    assert result["psnr"] == pytest.approx(metrics.psnr(x, y))
    assert all(isinstance(v, float) for v in result.values())
    assert "his" not in metrics.evaluate(x, y)


# ------------------------------------------------------------------------------------------ video

def _video(flicker):
    rng = np.random.default_rng(3)
    base = rng.random((24, 32, 3)) * 0.5 + 0.25
    frames = np.stack([base] * 6)
    if flicker:
        frames[1::2] = np.clip(frames[1::2] + [0.2, -0.1, 0.0], 0, 1)
    return frames


def test_js_divergence_hand_values():
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)       # disjoint: 1 bit
    assert metrics.js_divergence([1, 1], [2, 2]) == pytest.approx(0.0)
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4); JS = 1/2 log2(4/3) + 1/2 (1/2 log2(2/3) + 1/2 log2(2))
    expected = 0.5 * math.log2(4 / 3) + 0.25 * (math.log2(2 / 3) + 1.0)
    assert metrics.js_divergence([1, 0], [0.5, 0.5]) == pytest.approx(expected)


def test_cdc_static_is_zero_and_flicker_positive():
    assert metrics.cdc(_video(False)) == 0.0
    flicker = metrics.cdc(_video(True))
    assert flicker > 0.05
    frames = _video(True)
    frames[1::2] = np.clip(_video(False)[1::2] + [0.05, 0.0, 0.0], 0, 1)   # a weaker flicker scores lower
    assert 0.0 < metrics.cdc(frames) < flicker
    # two frames whose every channel's histogram is disjoint: JS = 1 for the only pair at k = 1
    frames = np.stack([np.zeros((4, 4, 3)), np.ones((4, 4, 3))])
    assert metrics.cdc(frames) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="2 frames"):
        metrics.cdc(frames[:1])


def test_warp_with_known_shift():
    image = np.random.default_rng(4).random((6, 7, 1))
    flow = np.zeros((6, 7, 2))
    flow[..., 0] = 1.0                                 # out(p) = image(p + (1, 0)): a shift left by one column
    np.testing.assert_allclose(metrics.warp(image, flow)[:, :-1], image[:, 1:])
    flow[..., 0] = 0.5
    np.testing.assert_allclose(metrics.warp(image, flow)[:, :-1], 0.5 * (image[:, 1:] + image[:, :-1]))


def test_warping_error_with_given_flows():
    frames = _video(False)
    zero = np.zeros((5, 24, 32, 2))
    assert metrics.warping_error(frames, flows=(zero, zero)) == 0.0
    assert metrics.warping_error(_video(True), flows=(zero, zero)) == pytest.approx(0.1, abs=0.02)
    # a pan of one column per frame, with the true flows: warping undoes the motion exactly
    wide = np.random.default_rng(5).random((10, 40, 3))
    pan = np.stack([wide[:, t:t + 30] for t in range(4)])
    forward = np.zeros((3, 10, 30, 2))
    forward[..., 0] = -1.0                             # content moves one column left
    backward = -forward
    assert metrics.warping_error(pan, flows=(forward, backward)) < 0.02
    with pytest.raises(ConfigError, match="forward"):
        metrics.warping_error(pan, flows=(forward[:1], backward))


def test_warping_error_with_farneback():
    pytest.importorskip("cv2")
    # a static video: Farneback finds (almost) no motion, so the error is about 0 (noise-like frames give the
    # flow estimate a few hundredths of a pixel of jitter)
    assert metrics.warping_error(_video(False)) == pytest.approx(0.0, abs=2e-3)
    assert metrics.warping_error(_video(True)) > 0.05


def test_warping_error_without_opencv_raises(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)      # makes `import cv2` fail
    with pytest.raises(ColorlabError, match="video"):
        metrics.warping_error(_video(False))
