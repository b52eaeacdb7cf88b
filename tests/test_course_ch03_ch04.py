"""Chapters 03-04: colorlab.course.ch03_correspondence and ch04_gcfn, and the reference solutions of their exercises.

Array helpers are checked against hand-computed values and against the model code they mirror (an independent
implementation in keras.ops); figures for titles and labels; the two explorers are driven headlessly by setting
slider values. Tiny shapes throughout.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from colorlab.course import ch03_correspondence as course03  # noqa: E402
from colorlab.course import ch04_gcfn as course04  # noqa: E402
from colorlab.errors import ConfigError  # noqa: E402
from colorlab.exercises import ch03, ch04  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image(height=24, width=28, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(height, width, 3)).astype(np.float32)


# ------------------------------------------------------------------------------------------------ view pairs

def test_crop_pair_cuts_the_stated_windows():
    image = _image()
    pair = course03.crop_pair(image, 16, (4, 10))
    assert pair.size == 16 and pair.shift == (4, 10) and not pair.flip
    np.testing.assert_array_equal(pair.target, image[:16, :16])
    np.testing.assert_array_equal(pair.reference, image[4:20, 10:26])
    flipped = course03.crop_pair(image, 16, (4, 10), flip=True)
    np.testing.assert_array_equal(flipped.reference, image[4:20, 10:26][:, ::-1])


@pytest.mark.parametrize("flip", [False, True])
def test_reference_pixel_points_at_the_same_image_pixel(flip):
    image = _image()
    pair = course03.crop_pair(image, 16, (4, 10), flip=flip)
    # hand values: target (5, 12) is image (5, 12) = reference (1, 2), or (1, 13) when mirrored (16 - 1 - 2)
    assert pair.reference_pixel(5, 12) == ((1, 13) if flip else (1, 2))
    assert pair.reference_pixel(3, 12) is None      # above the reference (rows < 4)
    assert pair.reference_pixel(5, 9) is None       # left of the reference (cols < 10)
    for row in range(16):
        for col in range(16):
            where = pair.reference_pixel(row, col)
            if where is not None:
                np.testing.assert_array_equal(pair.reference[where], pair.target[row, col])


@pytest.mark.parametrize("flip", [False, True])
def test_true_cells_agree_with_reference_pixel(flip):
    pair = course03.crop_pair(_image(), 16, (4, 10), flip=flip)
    cells = pair.true_cells()
    assert cells.shape == (64,) and cells.dtype == np.int64
    for index, cell in enumerate(cells):
        row, col = divmod(index, 8)
        where = pair.reference_pixel(2 * row, 2 * col)
        if where is None:
            assert cell == -1
        else:
            assert cell == (where[0] // 2) * 8 + where[1] // 2
    assert pair.overlap_mask().sum() == (8 - 2) * (8 - 5)     # shift of (2, 5) cells


def test_crop_pair_rejects_bad_arguments():
    image = _image()
    with pytest.raises(ConfigError, match="multiple of 8"):
        course03.crop_pair(image, 12, (0, 0))
    with pytest.raises(ConfigError, match="even"):
        course03.crop_pair(image, 16, (3, 0))
    with pytest.raises(ConfigError, match="at least 24 x 30"):
        course03.crop_pair(image, 16, (8, 14))


def test_resize_short_side():
    out = course03.resize_short_side(_image(30, 60), 10)
    assert out.shape == (10, 20, 3) and out.dtype == np.float32
    flat = course03.resize_short_side(np.full((40, 20, 3), 0.4, np.float32), 8)
    assert flat.shape == (16, 8, 3)
    np.testing.assert_allclose(flat, 0.4, atol=1 / 255)


def test_model_inputs_scaling():
    skcolor = pytest.importorskip("skimage.color")
    rgb = _image(8, 8)
    target_l, reference_lab = course03.model_inputs(rgb, rgb[:, :6])
    assert target_l.shape == (1, 8, 8, 1) and reference_lab.shape == (1, 8, 6, 3)
    lab = skcolor.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(target_l[0, ..., 0], lab[..., 0] / 50 - 1, atol=1e-4)
    np.testing.assert_allclose(reference_lab[0, ..., 1:], lab[:, :6, 1:] / 110, atol=1e-4)


# ---------------------------------------------------------------------------------------------- array helpers

def test_softmax_with_temperature_hand_values_and_stability():
    # exp(0), exp(-1), exp(-4) over their sum 1.38620: 0.72140, 0.26539, 0.01321
    np.testing.assert_allclose(course03.softmax_with_temperature(np.array([0.9, 0.8, 0.5]), 0.1),
                               [0.72140, 0.26539, 0.01321], atol=1e-5)
    sharp = course03.softmax_with_temperature(np.array([[1.0, 0.999, 0.5]]), 1e-3)
    assert np.all(np.isfinite(sharp))
    np.testing.assert_allclose(sharp, [[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0]], atol=1e-6)
    with pytest.raises(ConfigError):
        course03.softmax_with_temperature(np.zeros(3), 0.0)


def test_softmax_and_warp_agree_with_the_model_layer():
    from keras import ops

    from colorlab.models import Correspondence

    rng = np.random.default_rng(0)
    correlation = np.tanh(rng.normal(size=(1, 12, 20))).astype(np.float32)
    layer = Correspondence(temperature=0.05)
    expected = ops.convert_to_numpy(layer.attention(correlation))
    ours = course03.softmax_with_temperature(correlation[0], 0.05)
    np.testing.assert_allclose(ours, expected[0], atol=1e-6)
    values = rng.normal(size=(1, 4, 5, 2)).astype(np.float32)
    warped = ops.convert_to_numpy(Correspondence.warp(ops.convert_to_tensor(expected), values, (3, 4)))
    np.testing.assert_allclose(course03.warp(ours, values[0], (3, 4)), warped[0], atol=1e-5)


def test_warp_with_one_hot_attention_copies_values():
    values = np.arange(12, dtype=np.float32).reshape(2, 3, 2)      # 6 reference cells, 2 channels
    attention = np.eye(6)[[5, 0, 2, 2]]                             # target cells pick reference 5, 0, 2, 2
    out = course03.warp(attention, values, (2, 2))
    np.testing.assert_array_equal(out.reshape(4, 2), [[10, 11], [0, 1], [4, 5], [4, 5]])
    with pytest.raises(ConfigError, match="do not fit"):
        course03.warp(attention, values, (3, 2))


def test_normalized_entropy_hand_values_and_model_twin():
    from keras import ops

    from colorlab.models import attention_entropy

    hand = np.array([[1.0, 0.0, 0.0, 0.0], [0.25] * 4, [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(course03.normalized_entropy(hand), [0.0, 1.0, 0.5], atol=1e-12)
    rows = np.random.default_rng(1).dirichlet(np.ones(7), size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(course03.normalized_entropy(rows),
                               ops.convert_to_numpy(attention_entropy(rows)), atol=1e-5)


def test_gate_statistics_match_the_stats_gate():
    from keras import ops

    from colorlab.models import StatsGate

    rng = np.random.default_rng(2)
    correlation = np.tanh(rng.normal(size=(1, 6, 10))).astype(np.float32)
    attention = course03.softmax_with_temperature(correlation, 0.1)
    gate = StatsGate(top_k=3, hidden=4)
    expected = ops.convert_to_numpy(gate.statistics(correlation, attention))[0]      # (6, 3 + 2)
    ours = course04.gate_statistics(correlation[0], attention[0], top_k=3)
    np.testing.assert_allclose(ours["top_k"], expected[:, :3], atol=1e-6)
    np.testing.assert_allclose(ours["mean_cosine"], expected[:, 3], atol=1e-6)
    np.testing.assert_allclose(ours["entropy"], expected[:, 4], atol=1e-5)
    np.testing.assert_allclose(ours["top1_cosine"], correlation[0].max(axis=-1), atol=1e-7)
    np.testing.assert_allclose(ours["max_attention"], attention[0].max(axis=-1))
    short = course04.gate_statistics(np.array([[0.5, 0.2]]), np.array([[0.6, 0.4]]), top_k=4)
    np.testing.assert_allclose(short["top_k"], [[0.5, 0.2, -1.0, -1.0]])    # fewer than k: padded with -1


def test_blend_ab_and_optimal_gate_hand_values():
    warped, global_ = np.array([[10.0, 0.0], [0.0, 20.0]]), np.array([0.0, 0.0])
    np.testing.assert_allclose(course04.blend_ab(warped, global_, 0.25), [[2.5, 0.0], [0.0, 5.0]])
    np.testing.assert_allclose(course04.blend_ab(warped, global_, np.array([[1.0], [0.0]])),
                               [[10.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ConfigError):
        course04.blend_ab(warped, global_, 1.5)
    w = np.array([[10.0, 0.0], [10.0, 0.0], [10.0, 0.0], [3.0, 3.0]])
    t = np.array([[5.0, 0.0], [20.0, 0.0], [-5.0, 3.0], [9.0, 9.0]])
    # (5)/(10) = 0.5; 20/10 = 2 -> clipped to 1; -5/10 -> clipped to 0; w = g -> 0.5
    np.testing.assert_allclose(course04.optimal_gate(w, np.array([[0, 0], [0, 0], [0, 0], [3, 3]]), t),
                               [0.5, 1.0, 0.0, 0.5])


def test_optimal_gate_beats_every_other_gate():
    rng = np.random.default_rng(3)
    w, g, t = rng.normal(size=(50, 2)), rng.normal(size=2), rng.normal(size=(50, 2))
    best = course04.optimal_gate(w, g, t)
    error = ((course04.blend_ab(w, g, best[:, None]) - t) ** 2).sum(-1)
    for omega in np.linspace(0, 1, 21):
        assert np.all(error <= ((course04.blend_ab(w, g, omega) - t) ** 2).sum(-1) + 1e-9)


def test_upsample_colorize_psnr():
    skcolor = pytest.importorskip("skimage.color")
    flat = course03.upsample(np.full((3, 4, 2), 7.0, np.float32), (6, 8))
    assert flat.shape == (6, 8, 2)
    np.testing.assert_allclose(flat, 7.0, atol=1e-5)
    ramp = course03.upsample(np.arange(4, dtype=np.float32).reshape(1, 4, 1), (1, 8))[0, :, 0]
    assert np.all(np.diff(ramp) >= 0) and ramp[0] == pytest.approx(0.0) and ramp[-1] == pytest.approx(3.0)
    gray = course03.colorize(np.full((2, 2), 50.0), np.zeros(2))
    np.testing.assert_allclose(gray, 0.4663, atol=2e-3)    # scikit-image: lab2rgb([50, 0, 0])
    lab = np.stack([np.full((3, 3), 60.0), np.full((3, 3), 20.0), np.full((3, 3), -30.0)], -1)
    np.testing.assert_allclose(course03.colorize(lab[..., 0], lab[..., 1:]), skcolor.lab2rgb(lab), atol=2e-3)
    a = np.zeros((4, 4, 3))
    assert course03.psnr(a + 0.1, a) == pytest.approx(20.0)         # mse 0.01 -> 20 dB
    assert course03.psnr(a, a) == float("inf")
    with pytest.raises(ConfigError, match="shapes differ"):
        course03.psnr(a, a[:2])


def test_warped_colorization_limits():
    # Target and reference grids of 2 x 2 cells; cell i of the target is most similar to reference cell i.
    correlation = np.full((4, 4), 0.2, np.float32) + 0.7 * np.eye(4, dtype=np.float32)
    reference_ab = np.array([[[40.0, 0.0], [0.0, 40.0]], [[-40.0, 0.0], [0.0, -40.0]]], np.float32)
    L = np.full((4, 4), 60.0, np.float32)
    sharp = course03.warped_colorization(correlation, reference_ab, L, 1e-3)
    np.testing.assert_allclose(sharp, course03.colorize(L, course03.upsample(reference_ab, (4, 4))), atol=1e-5)
    flat = course03.warped_colorization(correlation, reference_ab, L, 1e3)   # uniform attention: the mean ab
    np.testing.assert_allclose(flat, course03.colorize(L, np.zeros(2)), atol=2e-3)
    truth = course03.colorize(L, course03.upsample(reference_ab, (4, 4)))
    psnrs = course03.temperature_sweep(correlation, reference_ab, L, truth, [1e-3, 1.0, 1e3])
    assert psnrs.shape == (3,) and psnrs[0] > 60 and psnrs[0] > psnrs[1] > psnrs[2]


def test_match_accuracy_hand_values():
    attention = np.zeros((3, 16))
    attention[0, 5] = attention[1, 15] = attention[2, 0] = 1.0        # reference grid 4 x 4
    true_cells = np.array([6, 5, -1])                                  # 5 vs 6: one cell off; 15 vs 5: far
    assert course03.match_accuracy(attention, true_cells, (4, 4)) == pytest.approx(0.5)
    assert course03.match_accuracy(attention, true_cells, (4, 4), tolerance=0) == pytest.approx(0.0)
    assert np.isnan(course03.match_accuracy(attention, np.array([-1, -1, -1]), (4, 4)))


def test_center_crop_cell_average_binned_means():
    image = np.arange(6 * 8, dtype=np.float32).reshape(6, 8, 1)
    np.testing.assert_array_equal(course04.center_crop(image, 4)[..., 0], image[1:5, 2:6, 0])
    with pytest.raises(ConfigError):
        course04.center_crop(image, 7)
    pooled = course04.cell_average(image, 2)
    assert pooled.shape == (3, 4, 1)
    assert pooled[0, 0, 0] == pytest.approx((0 + 1 + 8 + 9) / 4)
    with pytest.raises(ConfigError, match="multiple"):
        course04.cell_average(image[:5], 2)
    x = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 6.0])
    centres, means = course04.binned_means(x, 10 * x, bins=3)
    np.testing.assert_allclose(centres, [1.5, 3.5, 5.5])
    np.testing.assert_allclose(means, [15.0, 35.0, 55.0])


def test_encoder_shapes_table():
    rows = course03.encoder_shapes({"a": 2, "b": 3}, size=32)
    assert [row["block"] for row in rows] == ["block1", "block2", "block3", "block4", "block5", "block6"]
    assert [row["shape"]["a"] for row in rows] == [(32, 32, 2), (16, 16, 4), (8, 8, 8), (4, 4, 16),
                                                   (4, 4, 16), (4, 4, 16)]
    assert rows[3]["shape"]["b"] == (4, 4, 24)
    # block1 at width 2 on a 1-channel input: conv 3x3x1x2 + 2 biases, conv 3x3x2x2 + 2 biases = 20 + 38
    assert rows[0]["params"]["a"] == 58


# ---------------------------------------------------------------------------------------- figures and widgets

def _toy_pair():
    pair = course03.crop_pair(_image(24, 24), 16, (2, 4))
    # a correlation in which each target cell matches its true reference cell (cosine 0.9), others 0
    cells = pair.true_cells()
    correlation = np.zeros((64, 64), np.float32)
    correlation[np.arange(64)[cells >= 0], cells[cells >= 0]] = 0.9
    return pair, correlation


def test_plot_helpers_label_their_axes():
    pair, correlation = _toy_pair()
    attention = course03.softmax_with_temperature(correlation[9], 0.01).reshape(8, 8)
    fig = course03.plot_attention(pair.target, pair.reference, attention, (2, 2), pair.reference_pixel(2, 2), 0.01)
    assert len(fig.axes) == 2 and "pixel (2, 2)" in fig.axes[0].get_title()
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in fig.axes)
    fig = course03.plot_attention_grid(pair.target, pair.reference, correlation, (8, 8), [(2, 2), (10, 12)],
                                       [0.01, 0.1], true_pixels=[None, pair.reference_pixel(10, 12)])
    assert len(fig.axes) == 6 and fig._suptitle is not None
    assert all(ax.get_title() for ax in fig.axes)
    fig = course03.plot_view_pair(course03.crop_pair(_image(24, 30), 16, (2, 6), flip=True))
    assert len(fig.axes) == 3 and "mirrored" in fig.axes[2].get_title() and len(fig.axes[0].patches) == 2
    ax = course03.plot_temperature_curve([0.01, 0.1], [20.0, 18.0], baselines={"gray": 15.0})
    assert ax.get_xscale() == "log" and "PSNR" in ax.get_ylabel()
    fig = course04.plot_cell_maps([np.zeros((4, 4)), np.ones((4, 4))], ["a", "b"], contour=np.eye(4) > 0)
    assert len(fig.axes) == 4      # two maps, two colour bars
    with pytest.raises(ConfigError):
        course04.plot_cell_maps([np.zeros((2, 2))], ["a", "b"])
    ax = course04.plot_histograms({"in": np.random.default_rng(0).uniform(size=20), "out": np.ones(5)}, "t", "x")
    assert ax.get_title() == "t" and ax.get_xlabel() == "x" and len(ax.patches) == 2
    ax = course04.plot_binned_means({"c": ([0.1, 0.5], [0.2, 0.8])}, "t", "x", "y")
    assert ax.get_ylabel() == "y" and len(ax.lines) == 1
    ax = course04.plot_blend_curves([0.0, 1.0], {"good": [20.0, 25.0]}, best={"good": 27.0})
    assert len(ax.lines) == 2 and "PSNR" in ax.get_ylabel()


def test_attention_explorer_follows_its_sliders():
    pytest.importorskip("ipywidgets")
    pair, correlation = _toy_pair()
    explorer = course03.attention_explorer(pair.target, pair.reference, correlation, (8, 8),
                                           true_pixel=pair.reference_pixel, draw=False)
    assert explorer.state["pixel"] == (8, 8)            # the first draw, at the centre
    explorer.sliders["row"].value = 10
    explorer.sliders["col"].value = 13
    assert explorer.state["pixel"] == (10, 13)
    attention = explorer.state["attention"]
    assert attention.shape == (8, 8) and attention.sum() == pytest.approx(1.0, abs=1e-5)
    # target cell (5, 6) is reference cell (5 - 1, 6 - 2) = (4, 4)
    assert np.unravel_index(attention.argmax(), attention.shape) == (4, 4)
    sharp = attention.max()
    explorer.sliders["temperature"].value = 1.0
    assert explorer.state["temperature"] == pytest.approx(1.0)
    assert explorer.state["attention"].max() < sharp    # a higher temperature spreads the attention
    drawn = course03.attention_explorer(pair.target, pair.reference, correlation, (8, 8))
    drawn.sliders["row"].value = 3                     # drawing works too (headless)
    assert drawn.state["pixel"][0] == 3


def test_blend_explorer_ends_are_the_two_sources():
    pytest.importorskip("ipywidgets")
    L = np.full((4, 4), 55.0, np.float32)
    warped = np.zeros((4, 4, 2), np.float32)
    warped[..., 0] = 30.0
    global_ab = np.array([0.0, -25.0], np.float32)
    truth = course03.colorize(L, warped)
    explorer = course04.blend_explorer(L, warped, global_ab, truth=truth, draw=False)
    assert explorer.state["omega"] == pytest.approx(0.5)
    explorer.slider.value = 1.0
    np.testing.assert_allclose(explorer.state["rgb"], truth)
    assert explorer.state["psnr"] == float("inf")
    explorer.slider.value = 0.0
    np.testing.assert_allclose(explorer.state["rgb"], course03.colorize(L, global_ab))
    assert np.isfinite(explorer.state["psnr"])
    course04.blend_explorer(L, warped, global_ab, truth=truth).slider.value = 0.3  # drawing works headless


def test_helpers_agree_with_the_tiny_model():
    from colorlab.models import build_gray2colornet, explain

    pair = course03.crop_pair(_image(24, 24, seed=5), 16, (4, 4))
    target_l, reference_lab = course03.model_inputs(pair.target, pair.reference)
    model = build_gray2colornet("tiny")
    info = explain(model, target_l, reference_lab, per_level=False)
    assert info["correlation"].shape == (1, 64, 64)
    ours = course03.softmax_with_temperature(info["correlation"][0], model.config.temperature)
    np.testing.assert_allclose(ours, info["attention"][0], atol=1e-5)
    warped = course03.warp(ours, info["reference_ab_small"][0], info["target_grid"])
    np.testing.assert_allclose(warped, info["warped_ab"][0], atol=1e-4)


# ------------------------------------------------------------------------- exercise solutions (ch03, ch04)

def test_ch03_cosine_correlation_hand_values():
    target = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    reference = np.array([[2.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.6, 0.8, 0.0]])
    np.testing.assert_allclose(ch03.cosine_correlation(target, reference),
                               [[1.0, 0.0, 0.6], [0.0, -1.0, 0.8], [0.6, -0.8, 1.0], [0.0, 0.0, 0.0]], atol=1e-9)


def test_ch03_cosine_correlation_matches_the_model():
    from keras import ops

    from colorlab.models import Correspondence

    rng = np.random.default_rng(6)
    t, r = rng.normal(size=(1, 2, 3, 5)), rng.normal(size=(1, 3, 2, 5))
    expected = ops.convert_to_numpy(Correspondence.correlation(t.astype("float32"), r.astype("float32")))[0]
    np.testing.assert_allclose(ch03.cosine_correlation(t.reshape(6, 5), r.reshape(6, 5)), expected, atol=1e-5)


def test_ch03_softmax_and_warp_hand_values():
    np.testing.assert_allclose(ch03.softmax_temperature(np.array([0.9, 0.8, 0.5]), 0.1),
                               [0.72140, 0.26539, 0.01321], atol=1e-5)
    assert np.all(np.isfinite(ch03.softmax_temperature(np.array([1.0, 0.9995]), 1e-4)))
    np.testing.assert_allclose(ch03.warp(np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]),
                                         np.array([[10.0, 0.0], [0.0, 20.0], [-4.0, 4.0]])),
                               [[5.0, 10.0], [-4.0, 4.0]])


def test_ch04_solutions_hand_values():
    scipy_stats = pytest.importorskip("scipy.stats")
    np.testing.assert_allclose(ch04.entropy(np.array([[1.0, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]])),
                               [0.0, 1.0, 0.5], atol=1e-12)
    rows = np.random.default_rng(7).dirichlet(np.ones(6), size=4)
    np.testing.assert_allclose(ch04.entropy(rows), scipy_stats.entropy(rows, axis=-1) / np.log(6), atol=1e-12)
    np.testing.assert_allclose(ch04.gated_fusion(np.array([[2.0, 4.0], [1.0, -1.0]]), np.array([0.0, 10.0]),
                                                 np.array([1.0, 0.25])),
                               [[2.0, 4.0], [0.25, 7.25]])     # 0.25·(1, −1) + 0.75·(0, 10)
