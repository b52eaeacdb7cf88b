"""colorlab.course.ch05_mcn, ch06_discriminator and the reference solutions of colorlab.exercises.ch05 / ch06.

Transposed convolutions are checked against hand-worked values and Keras' Conv2DTranspose; overlap counts and
receptive fields against hand values and colorlab.models.discriminator; the decoder helpers against the full
model's own outputs.
"""

import textwrap

import numpy as np
import pytest
from jaxrun import last_json, run_on_jax

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from colorlab.course import ch05_mcn as course05  # noqa: E402
from colorlab.course import ch06_discriminator as course06  # noqa: E402
from colorlab.course import figures  # noqa: E402
from colorlab.errors import ConfigError  # noqa: E402
from colorlab.exercises import ch05, ch06  # noqa: E402



def _keras_transposed(x, kernel, stride):
    """Keras' Conv2DTranspose, one channel, padding "valid": x (h, w), kernel (kh, kw) -> (H, W)."""
    layer = keras.layers.Conv2DTranspose(1, kernel.shape, strides=stride, padding="valid", use_bias=False)
    layer.build((1, *x.shape, 1))
    layer.kernel.assign(kernel.reshape(*kernel.shape, 1, 1).astype("float32"))
    return keras.ops.convert_to_numpy(layer(x.reshape(1, *x.shape, 1).astype("float32")))[0, ..., 0]


# ---- transposed convolution by hand --------------------------------------------------------------------------
def test_transposed_conv1d_hand_values():
    # stamps 1·(1,2,3) at 0, 2·(1,2,3) at 2, 3·(1,2,3) at 4 -> 1, 2, 3+2, 4, 6+3, 6, 9
    np.testing.assert_array_equal(course05.transposed_conv1d([1, 2, 3], [1, 2, 3], 2), [1, 2, 5, 4, 9, 6, 9])
    # the stride-2 linear-interpolation kernel (0.5, 1, 0.5) doubles a ramp into a finer ramp
    np.testing.assert_allclose(course05.transposed_conv1d([1, 2, 3], [0.5, 1, 0.5], 2),
                               [0.5, 1, 1.5, 2, 2.5, 3, 1.5])
    # stride larger than the kernel leaves gaps
    np.testing.assert_array_equal(course05.transposed_conv1d([1, 2], [1, 1], 3), [1, 1, 0, 2, 2])


def test_transposed_convolutions_match_keras():
    rng = np.random.default_rng(0)
    x1, w1 = rng.normal(size=5), rng.normal(size=4)
    keras1 = _keras_transposed(x1.reshape(1, 5), w1.reshape(1, 4), (1, 2))[0]
    np.testing.assert_allclose(course05.transposed_conv1d(x1, w1, 2), keras1, atol=1e-5)
    x2, w2 = rng.normal(size=(3, 4)), rng.normal(size=(3, 3))
    for stride in (1, 2, 3):
        np.testing.assert_allclose(course05.transposed_conv2d(x2, w2, stride), _keras_transposed(x2, w2, stride),
                                   atol=1e-5)


def test_transposed_conv2d_bilinear_kernel_hand_values():
    out = course05.transposed_conv2d([[1.0, 2.0], [3.0, 4.0]], np.outer([1, 2, 1], [1, 2, 1]) / 4.0, 2)
    assert out.shape == (5, 5)
    # inputs copied to even positions, averages between them: centre = mean of all four
    assert out[0, 0] == 0.25 and out[2, 2] == 2.5 and out[1, 1] == 1.0 and out[2, 3] == 3.0


def test_conv_matrix_is_a_strided_correlation_and_its_transpose_the_transposed_conv():
    rng = np.random.default_rng(1)
    kernel, stride = rng.normal(size=3), 2
    matrix = course05.conv_matrix_1d(9, kernel, stride)
    assert matrix.shape == (4, 9)
    x = rng.normal(size=9)
    # independent: NumPy's correlate (no kernel flip), every stride-th output
    np.testing.assert_allclose(matrix @ x, np.correlate(x, kernel, mode="valid")[::stride])
    y = rng.normal(size=4)
    np.testing.assert_allclose(matrix.T @ y, course05.transposed_conv1d(y, kernel, stride))
    assert np.isclose((matrix @ x) @ y, x @ course05.transposed_conv1d(y, kernel, stride))   # adjoint


def test_transposed_conv_output_size():
    for n, k, s in [(1, 3, 2), (5, 3, 2), (5, 4, 2), (7, 5, 3), (4, 2, 2)]:
        assert course05.transposed_conv_output_size(n, k, s) == course05.transposed_conv1d(np.ones(n), np.ones(k),
                                                                                           s).size
    # Keras "same" for k=4, s=2 is p=1: exactly 2n
    for n in (1, 4, 9):
        same = keras.layers.Conv2DTranspose(1, 4, strides=2, padding="same").compute_output_shape((1, n, n, 1))
        assert course05.transposed_conv_output_size(n, 4, 2, padding=1) == same[1] == 2 * n
    assert course05.transposed_conv_output_size(3, 3, 2, output_padding=1) == 8
    np.testing.assert_array_equal(course05.transposed_conv_output_size(np.array([2, 3]), 4, 2, 1), [4, 6])
    for bad in [dict(size=0, kernel_size=3, stride=2), dict(size=3, kernel_size=3, stride=2, output_padding=2),
                dict(size=1, kernel_size=2, stride=1, padding=1), dict(size=3, kernel_size=True, stride=2)]:
        with pytest.raises(ConfigError):
            course05.transposed_conv_output_size(**bad)


def test_overlap_count_hand_values_and_2d():
    np.testing.assert_array_equal(course05.overlap_count(3, 3, 2), [1, 1, 2, 1, 2, 1, 1])
    np.testing.assert_array_equal(course05.overlap_count(3, 4, 2), [1, 1, 2, 2, 2, 2, 1, 1])
    counts = course05.overlap_count((3, 4), 3, 2)
    assert counts.shape == (7, 9) and counts.max() == 4 and counts[2, 2] == 4 and counts[0, 0] == 1
    np.testing.assert_array_equal(counts, np.outer(course05.overlap_count(3, 3, 2), course05.overlap_count(4, 3, 2)))
    # k divisible by s: the interior is flat at k/s
    interior = course05.overlap_count(10, 6, 3)[6:-6]
    assert set(interior.tolist()) == {2}
    with pytest.raises(ConfigError):
        course05.overlap_count((2, 3, 4), 3, 2)


# ---- the artefact in Keras -----------------------------------------------------------------------------------
def test_ripple_separates_uneven_overlap_random_weights_and_resize_convolution():
    def response(kind, k, init, seed=0):
        stack = course05.upsampling_stack(kind, n_layers=2, kernel_size=k, channels=4, kernel_initializer=init,
                                          seed=seed)
        return course05.constant_response(stack, input_size=8, channels=4)

    ones3 = response("transposed", 3, "ones")
    assert ones3.shape == (32, 32)
    assert course05.ripple(ones3) > 0.2                       # uneven overlap: structural pattern
    assert course05.ripple(response("transposed", 4, "ones")) < 1e-6
    assert course05.ripple(response("resize", 3, "ones")) < 1e-6
    assert course05.ripple(response("transposed", 4, "glorot_uniform")) > 0.05   # even overlap, random weights
    for seed in (0, 1):
        assert course05.ripple(response("resize", 3, "glorot_uniform", seed)) < 1e-5
    # seeded stacks are reproducible
    np.testing.assert_array_equal(response("transposed", 4, "glorot_uniform", 3),
                                  response("transposed", 4, "glorot_uniform", 3))
    with pytest.raises(ConfigError):
        course05.upsampling_stack("pixel_shuffle")


def test_ripple_values():
    assert course05.ripple(np.full((8, 8), 3.0)) == 0.0
    assert course05.ripple(np.zeros((8, 8))) == 0.0
    checker = np.indices((8, 8)).sum(axis=0) % 2 + 1.0       # 1, 2, 1, 2 ...: std 0.5, mean 1.5
    assert course05.ripple(checker, margin=0) == pytest.approx(0.5 / 1.5)
    with pytest.raises(ConfigError):
        course05.ripple(np.ones((4, 4)), margin=2)
    with pytest.raises(ConfigError):
        course05.ripple(np.ones(4))


# ---- photos --------------------------------------------------------------------------------------------------
def test_load_square_and_model_units_round_trip():
    photo = course05.load_square("parrot", 16)
    assert photo.shape == (16, 16, 3) and photo.dtype == np.float32
    assert 0.0 <= photo.min() and photo.max() <= 1.0 and photo.std() > 0.05
    model_units = course05.photo_to_model(photo)
    assert model_units["L"].shape == (1, 16, 16, 1) and model_units["lab"].shape == (1, 16, 16, 3)
    assert -1.0 <= model_units["L"].min() and model_units["L"].max() <= 1.0
    np.testing.assert_array_equal(model_units["ab"], model_units["lab"][..., 1:])
    # back to RGB at full size: the photo again
    np.testing.assert_allclose(course05.lab_preview(model_units["L"][0], model_units["ab"][0]), photo, atol=2e-3)
    with pytest.raises(ConfigError, match="no sample photo named"):
        course05.load_square("no_such_photo", 16)


def test_lab_preview_averages_l_down_and_gray_ab_is_neutral():
    L = np.zeros((8, 8), "float32")
    L[:4] = 0.5                                        # top half L = 75, bottom half L = 50
    gray = course05.lab_preview(L, np.zeros((2, 2, 2), "float32"))
    assert gray.shape == (2, 2, 3)
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-3)
    skcolor = pytest.importorskip("skimage.color")
    np.testing.assert_allclose(skcolor.rgb2lab(gray.astype(np.float64))[..., 0], [[75, 75], [50, 50]], atol=0.05)
    # a size that is not a divisor goes through the area resize: still the mean lightness
    odd = course05.lab_preview(np.full((6, 6), 0.2, "float32"), np.zeros((4, 4, 2), "float32"))
    np.testing.assert_allclose(skcolor.rgb2lab(odd.astype(np.float64))[..., 0], 60.0, atol=0.05)
    with pytest.raises(ConfigError):
        course05.lab_preview(L, np.zeros((2, 2, 3)))


def test_multiscale_targets_are_area_averages():
    from colorlab.losses import area_resize

    ab = np.random.default_rng(2).uniform(-1, 1, size=(2, 8, 12, 2)).astype("float32")
    targets = course05.multiscale_targets(ab)
    assert targets["ab"] is not None and targets["ab_half"].shape == (2, 4, 6, 2)
    for key, size in (("ab_half", (4, 6)), ("ab_quarter", (2, 3))):
        np.testing.assert_allclose(targets[key], keras.ops.convert_to_numpy(area_resize(ab, size)), atol=1e-6)
    with pytest.raises(ConfigError):
        course05.multiscale_targets(ab[:, :6])


# ---- the decoder alone ---------------------------------------------------------------------------------------
def test_decoder_model_reproduces_the_model_and_fit_decoder_trains_its_mcn():
    from colorlab.models import build_gray2colornet

    keras.utils.set_random_seed(0)
    model = build_gray2colornet("tiny")
    rng = np.random.default_rng(3)
    target_l = rng.uniform(-1, 1, (1, 16, 16, 1)).astype("float32")
    reference = rng.uniform(-1, 1, (1, 16, 24, 3)).astype("float32")
    inputs = course05.decoder_inputs(model, target_l, reference)
    assert [m.shape[1:3] for m in inputs] == [(16, 16), (8, 8), (4, 4), (2, 2), (2, 2), (2, 2), (2, 2), (4, 4),
                                              (8, 8)]
    decoder = course05.decoder_model(model, inputs)
    full = model([target_l, reference])
    alone = decoder(inputs)
    for key in ("ab", "ab_half", "ab_quarter"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(alone[key]), keras.ops.convert_to_numpy(full[key]),
                                   atol=1e-5)

    target_ab = rng.uniform(-0.5, 0.5, (1, 16, 16, 2)).astype("float32")
    fit = course05.fit_decoder(model, inputs, target_ab, steps=30, snapshot_steps=(10,), learning_rate=3e-3,
                               log_every=10)
    np.testing.assert_array_equal(fit["steps"], [10, 20, 30])
    assert sorted(fit["snapshots"]) == [0, 10, 30]
    assert fit["snapshots"][30]["ab_quarter"].shape == (4, 4, 2)
    for key in ("ab", "ab_half", "ab_quarter", "total"):
        assert fit["loss"][key].shape == (3,)
        assert fit["loss"][key][-1] < fit["loss"][key][0]
    # the logged total is the weighted sum of the scales (1, 0.5, 0.25)
    np.testing.assert_allclose(fit["loss"]["total"], fit["loss"]["ab"] + 0.5 * fit["loss"]["ab_half"]
                               + 0.25 * fit["loss"]["ab_quarter"], rtol=1e-4)
    # the weights are shared: the full model now gives the trained decoder's output
    after = model([target_l, reference])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(after["ab"])[0], fit["snapshots"][30]["ab"], atol=1e-5)
    with pytest.raises(ConfigError):
        course05.fit_decoder(model, inputs, target_ab, steps=25, log_every=10)
    with pytest.raises(ConfigError):
        course05.decoder_inputs(model, target_l[:, :12], reference)


# ---- receptive fields ----------------------------------------------------------------------------------------
def test_receptive_field_table_pix2pix():
    rows = course06.receptive_field_table([4] * 5, [2, 2, 2, 1, 1], [1] * 5, input_size=256)
    assert [r["rf"] for r in rows] == [4, 10, 22, 46, 70]
    assert [r["jump_in"] for r in rows] == [1, 2, 4, 8, 8]
    assert [r["growth"] for r in rows] == [3, 6, 12, 24, 24]
    assert [r["size"] for r in rows] == [128, 64, 32, 31, 30]
    no_size = course06.receptive_field_table([3, 3], [1, 1])
    assert [r["rf"] for r in no_size] == [3, 5] and "size" not in no_size[0]
    with pytest.raises(ConfigError):
        course06.receptive_field_table([4, 4], [2])


def test_format_table():
    text = course06.format_table([{"a": 1, "bb": 22}, {"a": 333, "bb": 4}], headers=["A", "B"])
    assert text.splitlines() == ["  A   B", "---  --", "  1  22", "333   4"]
    with pytest.raises(ConfigError):
        course06.format_table([])


def test_input_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
    grad = course06.input_gradient(lambda t: keras.ops.sum(t ** 3), x)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-6)


@pytest.mark.parametrize("n_layers, size, row, col", [(1, 28, 5, 6), (2, 48, 3, 2)])
def test_logit_gradient_support_is_the_patch_window(n_layers, size, row, col):
    from colorlab.models import PatchDiscriminator

    disc = PatchDiscriminator(width=4, n_layers=n_layers)
    x = np.random.default_rng(4).uniform(-1, 1, (1, size, size, 3)).astype("float32")
    grad = course06.logit_gradient(disc, x, row, col)
    assert grad.shape == (size, size) and np.all(grad >= 0)
    (top, bottom), (left, right) = disc.patch_bounds(row, col)
    expected = np.zeros((size, size), bool)
    expected[max(top, 0):bottom, max(left, 0):right] = True
    np.testing.assert_array_equal(grad > 0, expected)
    with pytest.raises(ConfigError):
        course06.logit_gradient(disc, x[0], row, col)


def test_input_gradient_on_jax(tmp_path):
    pytest.importorskip("jax")
    script = textwrap.dedent("""
        import json, numpy as np, keras
        from colorlab.course import ch06_discriminator as course06
        from colorlab.models import PatchDiscriminator
        x = np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
        square = course06.input_gradient(lambda t: keras.ops.sum(t ** 3), x)
        disc = PatchDiscriminator(width=4, n_layers=1)
        image = np.random.default_rng(4).uniform(-1, 1, (1, 28, 28, 3)).astype("float32")
        support = course06.logit_gradient(disc, image, 5, 6) > 0
        print(json.dumps({"backend": keras.backend.backend(), "square": square.tolist(),
                          "support": [int(v) for v in np.nonzero(support.any(1))[0][[0, -1]]]
                                     + [int(v) for v in np.nonzero(support.any(0))[0][[0, -1]]],
                          "window": disc.patch_bounds(5, 6)}))
    """)
    result = last_json(run_on_jax(script))
    assert result["backend"] == "jax"
    np.testing.assert_allclose(result["square"], [[3.0, 12.0], [0.75, 27.0]], rtol=1e-6)
    (top, bottom), (left, right) = result["window"]
    assert result["support"] == [top, bottom - 1, left, right - 1]


# ---- figures -------------------------------------------------------------------------------------------------
def test_figures_have_titles_and_labels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figures.plot_maps([np.eye(3), np.ones((2, 2))], ["a", "b"], suptitle="maps", annotate=True)
    axes = fig.axes[:2]
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    assert len(axes[0].texts) == 9
    plt.close(fig)
    fig = course06.plot_receptive_field(np.zeros((20, 20, 3)), ((-3, 7), (4, 14)), np.ones((20, 20)), title="t")
    assert len(fig.axes) == 3 and "rows -3:7" in fig.axes[0].get_title()
    assert len(fig.axes[0].patches) == 1
    plt.close(fig)
    with pytest.raises(ConfigError):
        figures.plot_maps([np.eye(2)], ["a", "b"])


def test_chapter_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from colorlab.models import PatchDiscriminator

    fig = course06.plot_windows(np.zeros((40, 40, 3)), PatchDiscriminator(width=2, n_layers=1), [(0, 0), (3, 4)])
    assert len(fig.axes) == 2 and fig.axes[0].get_title().startswith("logit (0, 0)")
    assert fig.axes[0].get_xlim() == (-30, 70) and len(fig.axes[1].patches) == 1
    plt.close(fig)
    with pytest.raises(ConfigError):
        course06.plot_windows(np.zeros((40, 40, 3)), PatchDiscriminator(width=2, n_layers=1), [])
    rng = np.random.default_rng(5)
    snap = {k: rng.uniform(-0.2, 0.2, (s, s, 2)).astype("float32") for k, s in
            (("ab_quarter", 2), ("ab_half", 4), ("ab", 8))}
    fit = {"steps": np.array([10, 20]), "loss": {k: np.array([0.1, 0.01]) for k in ("ab", "ab_half", "ab_quarter")},
           "snapshots": {0: snap, 20: snap}}
    fig = course05.plot_fit_losses(fit)
    assert fig.axes[0].get_ylabel() == "smooth-L1 loss (mean over 10 steps)" and len(fig.axes[0].lines) == 3
    plt.close(fig)
    truth = course05.multiscale_targets(snap["ab"][None])
    fig = course05.plot_fit_snapshots(fit, np.zeros((8, 8)), truth)
    assert len(fig.axes) == 9 and fig.axes[6].get_ylabel() == "ground truth"
    plt.close(fig)
    fig = course05.plot_snapshot_error(np.zeros((8, 8)), snap["ab_half"], snap["ab_half"], title="t")
    assert fig.axes[1].get_title() == "error, mean 0.0 Lab units"
    plt.close(fig)
    with pytest.raises(ConfigError):
        course05.plot_snapshot_error(np.zeros((8, 8)), snap["ab_half"], snap["ab"])


def test_saturated_wrong_side():
    truth = np.array([0.5, 0.5, -0.5, 0.01, 0.5])
    pred = np.array([-0.99, 0.99, 0.96, -0.99, -0.9])
    # counted: -0.99 vs 0.5 and 0.96 vs -0.5; not: right side, truth near gray (0.01), not saturated (-0.9)
    assert course05.saturated_wrong_side(pred, truth) == 2
    assert course05.saturated_wrong_side(pred, truth, threshold=0.8) == 3
    with pytest.raises(ConfigError):
        course05.saturated_wrong_side(pred, truth[:2])


# ---- exercises of chapters 05 and 06: reference solutions against independent values ------------------------
def test_ch05_reference_solutions_agree_with_course05_and_keras():
    for n, k, s, p in [(1, 4, 2, 1), (7, 3, 2, 0), (5, 5, 3, 2), (16, 4, 2, 1)]:
        assert int(ch05.deconv_output_size(n, k, s, p)) == course05.transposed_conv_output_size(n, k, s, p)
    assert int(ch05.deconv_output_size(16, 4, 2, 1)) == 32       # the MCN's layer doubles the side
    for n, k, s in [(3, 3, 2), (3, 4, 2), (5, 3, 1), (4, 5, 3), (6, 2, 3)]:
        np.testing.assert_array_equal(ch05.overlap_count(n, k, s), course05.overlap_count(n, k, s))
    np.testing.assert_array_equal(ch05.overlap_count(3, 3, 2), [1, 1, 2, 1, 2, 1, 1])
    keras_counts = _keras_transposed(np.ones((1, 4)), np.ones((1, 3)), (1, 2))[0]
    np.testing.assert_array_equal(ch05.overlap_count(4, 3, 2), keras_counts)


def test_ch06_reference_solutions_agree_with_the_discriminator():
    from colorlab.models import PatchDiscriminator
    from colorlab.models.discriminator import receptive_field

    assert ch06.receptive_field([4] * 5, [2, 2, 2, 1, 1]) == 70
    assert ch06.receptive_field([3, 3, 3], [1, 1, 1]) == 7
    assert ch06.output_size(256, [4] * 5, [2, 2, 2, 1, 1], 1) == 30
    for n_layers in (1, 2, 3, 4):
        disc = PatchDiscriminator(width=2, n_layers=n_layers)
        assert ch06.receptive_field(disc.kernel_sizes, disc.strides) == disc.receptive_field == 9 * 2 ** n_layers - 2
        for size in (64, 100, 128, 256):
            assert ch06.output_size(size, disc.kernel_sizes, disc.strides, disc.padding) == disc.output_size(size)
    for kernels, strides in [([3, 3, 2, 3], [1, 1, 2, 1]), ([7, 3, 3], [2, 2, 1])]:
        assert ch06.receptive_field(kernels, strides) == receptive_field(kernels, strides)
