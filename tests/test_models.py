"""Gray2ColorNet generator: configs, every block (shapes, hand-checked values, get_config), the assembled model
(shapes for odd / non-square / mismatched sizes, gradients to every weight, .weights.h5 round trip) and the same
weights on the JAX backend. Tiny config and tiny shapes throughout: the whole file runs in well under a minute.
"""

import dataclasses
import json
import math

import numpy as np
import pytest
from jaxrun import run_on_jax

import keras
from keras import ops

from colorlab.errors import ConfigError
from colorlab.models import (CONFIG_NAMES, DEFAULT_LOSS_WEIGHTS, GCFN, MCN, ClassificationHead, ConvBlock,
                             Correspondence, DecoderStage, Encoder, FullColumnGate, Gray2ColorConfig, Gray2ColorNet,
                             HistogramEncoder, InstanceNormalization, MatchingFeatures, ReferenceColorEncoder,
                             ResBlock, StatsGate, WarpedColorPyramid, attention_entropy, attention_map,
                             build_gray2colornet, count_params, explain, get_config, pad_to_multiple,
                             triangular_ab_histogram)



def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _pair(rng, n, target_hw, reference_hw):
    """A random (target_l, reference_lab) pair in model units."""
    target = rng.uniform(-1, 1, (n, *target_hw, 1)).astype("float32")
    reference = np.concatenate([rng.uniform(-1, 1, (n, *reference_hw, 1)),
                                rng.uniform(-0.6, 0.6, (n, *reference_hw, 2))], axis=-1).astype("float32")
    return target, reference


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return build_gray2colornet("tiny")


@pytest.fixture(scope="module")
def tiny_full_column():
    keras.utils.set_random_seed(1)
    return build_gray2colornet("tiny", gate="full_column", reference_size=16, num_classes=3)


# ------------------------------------------------------------------------------------------------ configs

def test_config_names_and_the_papers_values():
    assert CONFIG_NAMES == ("tiny", "laptop", "laptop96", "course", "paper")
    paper = get_config("paper")
    assert (paper.image_size, paper.reference_size, paper.base_width) == (128, 128, 64)
    assert (paper.temperature, paper.hist_bins, paper.gate, paper.gate_hidden) == (0.01, 21, "full_column", 1024)
    assert paper.reference_positions == 64 * 64 == 4096          # the official gate's Conv1d(4096, 1024)
    assert (paper.num_classes, paper.disc_width, paper.disc_layers) == (365, 64, 3)
    course, tiny = get_config("course"), get_config("tiny")
    assert course.gate == "stats" and course.num_classes == 365 and course.image_size == 128
    assert tiny.num_classes == 0 and tiny.image_size in (32, 64) and tiny.base_width < course.base_width
    assert paper.loss_weights == DEFAULT_LOSS_WEIGHTS == {"reconstruction": 1.0, "histogram": 0.5,
                                                          "classification": 0.01, "adversarial": 0.01, "tv": 0.1}


def test_config_overrides_round_trip_and_immutability():
    config = get_config("tiny", temperature=0.05, loss_weights={"tv": 0.0})
    assert config.temperature == 0.05 and config.name == "tiny"
    assert config.loss_weights == {**DEFAULT_LOSS_WEIGHTS, "tv": 0.0}          # partial weights merge
    assert get_config("tiny").temperature == 0.01                               # the registry is untouched
    data = config.to_dict()
    assert Gray2ColorConfig.from_dict(json.loads(json.dumps(data))) == config
    data["loss_weights"]["tv"] = 5.0                                            # to_dict hands out a copy
    assert config.loss_weights["tv"] == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.temperature = 1.0


@pytest.mark.parametrize("name, overrides, fragment", [
    ("imagenet", {}, "tiny, laptop, laptop96, course, paper"),
    ("tiny", {"temprature": 0.1}, "temprature"),
    ("tiny", {"temperature": 0.0}, "temperature"),
    ("tiny", {"gate": "attention"}, "gate"),
    ("tiny", {"image_size": 30}, "multiple of 8"),
    ("tiny", {"num_classes": -1}, "num_classes"),
    ("tiny", {"loss_weights": {"tv": -1.0}}, "tv"),
    ("tiny", {"loss_weights": {"perceptual": 1.0}}, "perceptual"),
    ("paper", {"reference_size": 100}, "full_column"),
    ("tiny", {"gate_value": 1.5}, "gate_value"),
])
def test_config_errors_name_the_problem(name, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        get_config(name, **overrides)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="typo_field"):
        Gray2ColorConfig.from_dict({**get_config("tiny").to_dict(), "typo_field": 1})


# ------------------------------------------------------------------------------------------------ blocks

def test_instance_norm_matches_keras_group_norm_with_one_channel_per_group():
    x = np.random.default_rng(0).normal(2.0, 3.0, (2, 5, 7, 4)).astype("float32")
    ours = _np(InstanceNormalization()(x))
    keras_gn = _np(keras.layers.GroupNormalization(groups=-1, center=False, scale=False, epsilon=1e-5)(x))
    np.testing.assert_allclose(ours, keras_gn, atol=1e-4)
    np.testing.assert_allclose(ours.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(ours.std(axis=(1, 2)), 1.0, atol=1e-3)


def test_pad_to_multiple_mirrors_bottom_right_and_keeps_the_image():
    x = np.arange(5 * 9, dtype="float32").reshape(1, 5, 9, 1)
    padded = _np(pad_to_multiple(x, 8))
    assert padded.shape == (1, 8, 16, 1)
    np.testing.assert_array_equal(padded[:, :5, :9], x)
    np.testing.assert_array_equal(padded[0, 5, :9, 0], x[0, 4, :, 0])     # symmetric: row 5 mirrors row 4
    np.testing.assert_array_equal(padded[0, :5, 9, 0], x[0, :, 8, 0])
    aligned = np.ones((1, 8, 16, 1), "float32")
    np.testing.assert_array_equal(_np(pad_to_multiple(aligned, 8)), aligned)


def test_encoder_levels_have_the_papers_widths_and_strides():
    encoder = Encoder(base_width=2)
    features = encoder(np.zeros((1, 16, 24, 1), "float32"))
    shapes = [tuple(f.shape) for f in features]
    assert shapes == [(1, 16, 24, 2), (1, 8, 12, 4), (1, 4, 6, 8), (1, 2, 3, 16), (1, 2, 3, 16), (1, 2, 3, 16)]
    assert tuple(ReferenceColorEncoder(2)(np.zeros((1, 16, 24, 3), "float32")).shape) == (1, 8, 12, 4)
    matching = MatchingFeatures()(features)
    assert tuple(matching.shape) == (1, 8, 12, 2 + 4 + 8 + 16 * 3)


def test_correspondence_hand_checked_two_positions():
    """t0 = (1, 0), t1 = (0, 1); r0 = (1, 0), r1 = (1, 1)/sqrt(2) after normalising; tau = 0.1.

    Row 0: cosines (1, 1/sqrt2) -> softmax((10, 7.0711)) = (0.94926, 0.05074).
    Row 1: cosines (0, 1/sqrt2) -> softmax((0, 7.0711)) = (0.000849, 0.999151).
    Warping values (2, -4): 0.94926 * 2 - 0.05074 * 4 = 1.69556, and 0.000849 * 2 - 0.999151 * 4 = -3.99491.
    """
    target = np.array([[[[1.0, 0.0], [0.0, 1.0]]]], "float32")        # (1, 1, 2, 2)
    reference = np.array([[[[1.0, 0.0], [3.0, 3.0]]]], "float32")     # r1's length must not matter
    values = np.array([[[[2.0], [-4.0]]]], "float32")
    layer = Correspondence(temperature=0.1)
    warped, attention, correlation = layer(target, reference, values, return_attention=True,
                                           return_correlation=True)
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(_np(correlation)[0], [[1, s], [0, s]], atol=1e-6)
    p0 = 1 / (1 + math.exp(-(1 - s) / 0.1))
    p1 = 1 / (1 + math.exp(s / 0.1))
    np.testing.assert_allclose(_np(attention)[0], [[p0, 1 - p0], [p1, 1 - p1]], rtol=1e-5)
    assert p0 == pytest.approx(0.94926, abs=1e-5) and p1 == pytest.approx(0.000849, abs=1e-6)
    np.testing.assert_allclose(_np(warped)[0, 0, :, 0], [2 * p0 - 4 * (1 - p0), 2 * p1 - 4 * (1 - p1)], rtol=1e-5)
    assert tuple(warped.shape) == (1, 1, 2, 1)


def test_reference_equal_to_target_attends_to_the_same_position():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 4, 5, 16)).astype("float32")
    values = rng.normal(size=(2, 4, 5, 3)).astype("float32")
    warped, attention = Correspondence(0.01)(features, features, values, return_attention=True)
    attention = _np(attention)
    assert attention.shape == (2, 20, 20)
    np.testing.assert_array_equal(attention.argmax(-1), np.tile(np.arange(20), (2, 1)))
    assert attention[:, np.arange(20), np.arange(20)].min() > 0.99
    np.testing.assert_allclose(_np(warped), values, atol=0.05)


def test_attention_rows_sum_to_one_and_lower_temperature_sharpens():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(1, 3, 4, 8)).astype("float32")
    reference = rng.normal(size=(1, 5, 3, 8)).astype("float32")      # another grid than the target's
    correlation = Correspondence.correlation(target, reference)
    entropies = []
    for tau in (1.0, 0.1, 0.01):
        attention = Correspondence(tau).attention(correlation)
        np.testing.assert_allclose(_np(ops.sum(attention, -1)), 1.0, atol=1e-6)
        entropies.append(_np(attention_entropy(attention)))
    assert entropies[0].shape == (1, 12)
    assert np.all(entropies[0] > entropies[1]) and np.all(entropies[1] > entropies[2])
    assert entropies[0].min() > 0.9                                   # tau = 1 on cosines: almost uniform


def test_masked_reference_positions_get_exactly_zero_attention():
    rng = np.random.default_rng(2)
    target = rng.normal(size=(1, 2, 2, 4)).astype("float32")
    reference = rng.normal(size=(1, 2, 3, 4)).astype("float32")
    mask = np.array([[[1, 1, 0], [1, 1, 0]]], "float32")
    layer = Correspondence(0.5)
    attention = _np(layer.attention(layer.correlation(target, reference), mask))
    assert np.all(attention[..., [2, 5]] == 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-6)


def test_stats_gate_statistics_by_hand():
    gate = StatsGate(top_k=2, hidden=3)
    correlation = np.array([[[0.9, 0.1, 0.5]]], "float32")           # (N=1, Lt=1, Lr=3)
    attention = np.array([[[0.5, 0.25, 0.25]]], "float32")
    stats = _np(gate.statistics(correlation, attention))[0, 0]
    entropy = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    np.testing.assert_allclose(stats, [0.9, 0.5, 0.5, entropy], rtol=1e-5)
    masked = _np(gate.statistics(correlation, attention, np.array([[1, 1, 0]], "float32")))[0, 0]
    np.testing.assert_allclose(masked[:3], [0.9, 0.1, 0.5], rtol=1e-5)  # top-2 of (0.9, 0.1); mean 0.5
    wide = _np(StatsGate(top_k=4, hidden=3).statistics(correlation, attention))[0, 0]
    np.testing.assert_allclose(wide[:4], [0.9, 0.5, 0.1, -1.0], rtol=1e-5)   # fewer positions than k: -1
    omega = _np(gate(correlation, attention))
    assert omega.shape == (1, 1) and 0.0 < omega[0, 0] < 1.0


def test_full_column_gate_rejects_another_number_of_positions():
    gate = FullColumnGate(reference_positions=6, hidden=4)
    assert tuple(gate(np.zeros((2, 5, 6), "float32")).shape) == (2, 5)
    with pytest.raises(ConfigError, match="6 reference positions"):
        gate(np.zeros((2, 5, 8), "float32"))


def test_gcfn_fuses_with_the_gate_and_uses_the_reference_histogram():
    from colorlab.color import soft_ab_histogram

    rng = np.random.default_rng(3)
    layer = GCFN(base_width=2, gate="stats", gate_top_k=2, gate_hidden=4, hist_bins=5)
    warped = rng.normal(size=(2, 4, 4, 4)).astype("float32")            # (N, H/2, W/2, 2w), H = W = 8
    correlation = rng.uniform(-1, 1, (2, 16, 6)).astype("float32")
    attention = _np(ops.softmax(correlation / 0.1, axis=-1))
    reference_ab = rng.uniform(-0.5, 0.5, (2, 5, 7, 2)).astype("float32")
    fused, internals = layer(warped, correlation, attention, reference_ab, return_internals=True)
    assert [tuple(f.shape) for f in fused] == [(2, 1, 1, 16), (2, 2, 2, 8), (2, 4, 4, 4)]
    np.testing.assert_allclose(_np(internals["histogram"]),
                               _np(soft_ab_histogram(reference_ab * 110.0, bins=5, ab_max=110.0)), atol=1e-6)
    for f, w, g, o in zip(fused, internals["warped"], internals["global"], internals["gate"]):
        w, g, o = _np(w), _np(g), _np(o)
        assert np.all((o > 0) & (o < 1))
        np.testing.assert_allclose(_np(f), w * o + g[:, None, None, :] * (1 - o), rtol=1e-5, atol=1e-6)


def _layer_examples():
    return [
        InstanceNormalization(epsilon=1e-3, scale=True, name="in"),
        ConvBlock(5, convs=3, strides=2, dilation_rate=1, norm=False, name="cb"),
        Encoder(3, name="enc"), ReferenceColorEncoder(3, name="cenc"),
        MatchingFeatures((1, 2, 4), 2, name="mf"), Correspondence(0.05, name="corr"),
        HistogramEncoder((8, 4, 2), hidden=16, depth=2, name="he"), StatsGate(3, 7, name="sg"),
        FullColumnGate(16, 5, name="fcg"), WarpedColorPyramid(3, name="wcp"),
        GCFN(3, "full_column", 3, 5, 16, 11, name="gcfn"), GCFN(3, gate_value=0.25, name="gcfn_constant"),
        ResBlock(6, name="rb"),
        DecoderStage(8, 4, res_blocks=1, post_convs=2, final=True, name="ds"), MCN(3, 1, name="mcn"),
        ClassificationHead(7, name="head"),
    ]


@pytest.mark.parametrize("layer", _layer_examples(), ids=lambda layer: type(layer).__name__)
def test_every_layer_round_trips_through_get_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer) and clone.get_config() == config
    json.dumps(config)                                                   # serialisable as-is
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_model_round_trips_through_get_config(tiny):
    clone = Gray2ColorNet.from_config(tiny.get_config())
    assert clone.config == tiny.config and clone.name == tiny.name


# ------------------------------------------------------------------------- the official code's switches

def _official_small(**overrides):
    """The official layout at test sizes (tests/test_official.py converts weights into the same)."""
    sizes = dict(base_width=4, image_size=16, reference_size=16, gate_hidden=8, num_classes=5)
    return Gray2ColorConfig.official(**{**sizes, **overrides})


def test_official_config_is_the_paper_with_the_official_codes_switches():
    official, paper = Gray2ColorConfig.official(), get_config("paper")
    switches = {"num_classes": 1000, "downsample": "subsample", "color_input": "ab", "norm_bias": True,
                "histogram": "triangular", "gate_resize": "subsample", "init": "normal"}
    assert official == paper.replace(name="official", **switches)
    ours = {"downsample": "stride", "color_input": "lab", "norm_bias": False, "histogram": "gaussian",
            "gate_resize": "average", "init": "glorot"}
    for name in CONFIG_NAMES:                                          # every named config keeps our choices
        assert {key: getattr(get_config(name), key) for key in ours} == ours
    assert Gray2ColorConfig.from_dict(json.loads(json.dumps(official.to_dict()))) == official
    assert Gray2ColorConfig.official(base_width=8).base_width == 8
    for field_name, value in [("downsample", "pool"), ("color_input", "rgb"), ("histogram", "hard"),
                              ("gate_resize", "max"), ("init", "zeros"), ("norm_bias", 1)]:
        with pytest.raises(ConfigError, match=field_name):
            get_config("tiny", **{field_name: value})


def test_subsample_downsampling_keeps_every_second_pixel_then_convolves_with_stride_1():
    x = np.random.default_rng(20).normal(size=(2, 9, 12, 3)).astype("float32")
    subsample = ConvBlock(4, convs=2, strides=2, downsample="subsample")
    plain = ConvBlock(4, convs=2, strides=1)
    out = _np(subsample(x))
    plain(x[:, ::2, ::2])                                              # builds it
    plain.set_weights(subsample.get_weights())
    assert out.shape == (2, 5, 6, 4)
    np.testing.assert_allclose(out, _np(plain(x[:, ::2, ::2])), atol=1e-5)
    stride = ConvBlock(4, convs=2, strides=2)                          # ours: same weights, other taps
    stride(x)
    stride.set_weights(subsample.get_weights())
    assert _np(stride(x)).shape == out.shape and not np.allclose(_np(stride(x)), out, atol=1e-3)
    model = build_gray2colornet(_official_small())
    blocks = [*model.encoder.blocks, model.color_encoder.block2, model.gcfn.pyramid.block_quarter]
    assert {b.downsample for b in blocks} == {"subsample"} and all(
        c.strides == (1, 1) for b in blocks for c in b.conv_layers)


def test_colour_encoder_reads_ab_only_with_color_input_ab():
    target, reference = _pair(np.random.default_rng(21), 1, (16, 16), (16, 16))
    model = build_gray2colornet(_official_small())
    assert tuple(model.color_encoder.block1.conv_layers[0].kernel.shape) == (3, 3, 2, 4)
    assert tuple(build_gray2colornet("tiny").color_encoder.block1.conv_layers[0].kernel.shape) == (3, 3, 3, 8)
    _, internals = model([target, reference], return_internals=True)
    brighter = reference.copy()
    brighter[..., 0] = np.clip(brighter[..., 0] + 0.5, -1, 1)           # the reference's L changes the matching...
    _, other = model([target, brighter], return_internals=True)
    colour = _np(model.color_encoder(reference[..., 1:]))               # ...but not the colour features
    np.testing.assert_allclose(_np(model.color_encoder(brighter[..., 1:])), colour, atol=0)
    assert not np.allclose(_np(internals["attention"]), _np(other["attention"]))


def test_norm_bias_adds_the_official_codes_biases_before_instance_norm():
    official_counts, no_bias = count_params(_official_small()), count_params(_official_small(norm_bias=False))
    w = 4
    # per stage: the entry convolution and 2 residual blocks x 2 convolutions, at 8w, 4w, 2w channels
    assert official_counts["mcn"] - no_bias["mcn"] == 5 * (8 * w + 4 * w + 2 * w)
    assert official_counts["total"] - no_bias["total"] == official_counts["mcn"] - no_bias["mcn"]
    block = ResBlock(3, use_bias=True)
    x = np.random.default_rng(22).normal(size=(1, 5, 5, 3)).astype("float32")
    before = _np(block(x))
    assert [tuple(v.shape) for v in block.weights] == [(3, 3, 3, 3), (3,), (3, 3, 3, 3), (3,)]
    # A bias before instance norm cancels: a new bias leaves the output as it was.
    block.conv1.bias.assign(np.float32([1.0, -2.0, 3.0]))
    np.testing.assert_allclose(_np(block(x)), before, atol=1e-4)


def test_triangular_histogram_is_the_official_calc_hist():
    """Bins 0.1 apart on ab/110: a pixel on a centre fills that bin, one between two splits 50/50 (bilinear),
    one at 1.05 keeps half its mass (in the edge bin), one at 1.2 none."""
    ab = np.array([[[[0.0, 0.0], [0.05, 0.0], [1.05, 0.3], [1.2, 0.0]]]], "float32")   # (1, 1, 4, 2)
    hist = _np(triangular_ab_histogram(ab)).reshape(21, 21)
    expected = np.zeros((21, 21))
    expected[10, 10] += 1 / 4                                           # (0, 0)
    expected[10, 10] += 0.5 / 4
    expected[11, 10] += 0.5 / 4                                         # (0.05, 0): halfway between 0 and 0.1
    expected[20, 13] += 0.5 / 4                                         # (1.05, 0.3): half beyond +1 falls off
    np.testing.assert_allclose(hist, expected, atol=1e-6)
    # The official formula, max(0.1 - |grid - x|, 0) * 10 per axis, mean over pixels, on random ab:
    ab = np.random.default_rng(23).uniform(-1.2, 1.2, (2, 6, 7, 2)).astype("float32")
    grid = np.linspace(-1, 1, 21)
    share = np.maximum(0.1 - np.abs(grid[None, None, None, :, None] - ab[..., None, :]), 0) * 10  # (N,H,W,21,2)
    official = np.einsum("nhwa,nhwb->nab", share[..., 0], share[..., 1]) / (6 * 7)
    np.testing.assert_allclose(_np(triangular_ab_histogram(ab)), official.reshape(2, 441), atol=1e-6)
    gcfn = GCFN(2, histogram="triangular")
    np.testing.assert_allclose(_np(gcfn.histogram(ab)), official.reshape(2, 441), atol=1e-6)
    assert not np.allclose(_np(GCFN(2).histogram(ab)), official.reshape(2, 441), atol=1e-3)   # ours: Gaussian


def test_gate_subsampled_or_averaged_to_the_coarser_scales():
    omega = np.random.default_rng(24).uniform(size=(1, 8, 8, 1)).astype("float32")
    eighth, quarter, half = (_np(g) for g in GCFN(2, gate_resize="subsample").resize_gate(omega))
    np.testing.assert_array_equal(quarter, omega[:, ::2, ::2])
    np.testing.assert_array_equal(eighth, omega[:, ::4, ::4])
    np.testing.assert_array_equal(half, omega)
    eighth, quarter, _ = (_np(g) for g in GCFN(2).resize_gate(omega))
    np.testing.assert_allclose(quarter, omega.reshape(1, 4, 2, 4, 2, 1).mean(axis=(2, 4)), atol=1e-6)
    np.testing.assert_allclose(eighth, omega.reshape(1, 2, 4, 2, 4, 1).mean(axis=(2, 4)), atol=1e-6)


def test_normal_init_draws_every_kernel_from_n_0_002_and_zero_biases():
    keras.utils.set_random_seed(25)
    model = build_gray2colornet(_official_small())
    kernels = [v for v in model.weights if v.path.endswith("kernel")]
    values = np.concatenate([_np(v).reshape(-1) for v in kernels])
    assert abs(values.std() - 0.02) < 0.001 and abs(values.mean()) < 0.001
    for v in kernels:                                                   # heads and gate too
        assert _np(v).std() < 0.03, v.path
    assert all(np.all(_np(v) == 0) for v in model.weights if v.path.endswith("bias"))
    first, second = model.encoder.blocks[4].conv_layers[:2]             # same shape, own draws
    assert not np.allclose(_np(first.kernel), _np(second.kernel))
    glorot = ConvBlock(4)                                              # ours: Keras' Glorot uniform
    glorot(np.zeros((1, 8, 8, 4), "float32"))
    assert _np(glorot.conv_layers[0].kernel).std() > 0.1


@pytest.mark.parametrize("layer", [
    ConvBlock(5, strides=2, downsample="subsample", kernel_initializer={"class_name": "RandomNormal",
                                                                        "config": {"stddev": 0.02}}),
    Encoder(3, downsample="subsample"), ReferenceColorEncoder(3, downsample="subsample"),
    WarpedColorPyramid(3, downsample="subsample"),
    GCFN(3, "full_column", 3, 5, 16, histogram="triangular", gate_resize="subsample", downsample="subsample"),
    ResBlock(6, use_bias=True), DecoderStage(8, 4, res_blocks=1, norm_bias=True), MCN(3, 1, norm_bias=True),
    ClassificationHead(7, kernel_initializer={"class_name": "RandomNormal", "config": {"stddev": 0.02}}),
], ids=lambda layer: type(layer).__name__)
def test_layers_with_the_official_switches_round_trip_through_get_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    json.dumps(config)


# ------------------------------------------------------------------------------------------ the model

@pytest.mark.parametrize("target_hw, reference_hw", [((32, 32), (32, 32)), ((37, 50), (24, 40)),
                                                     ((16, 40), (21, 13))])
def test_forward_shapes_for_any_sizes(tiny, target_hw, reference_hw):
    target, reference = _pair(np.random.default_rng(4), 2, target_hw, reference_hw)
    out = tiny([target, reference])
    h, w = target_hw
    assert sorted(out) == ["ab", "ab_half", "ab_quarter"]                # tiny has no classification head
    assert tuple(out["ab"].shape) == (2, h, w, 2)
    assert tuple(out["ab_half"].shape) == (2, math.ceil(h / 2), math.ceil(w / 2), 2)
    assert tuple(out["ab_quarter"].shape) == (2, math.ceil(h / 4), math.ceil(w / 4), 2)
    assert all(np.all(np.abs(_np(v)) < 1) for v in out.values())       # tanh


def test_explain_attention_gate_and_warped_ab(tiny):
    target, reference = _pair(np.random.default_rng(5), 2, (37, 50), (21, 13))
    info = explain(tiny, target, reference)
    assert info["target_grid"] == (19, 25) and info["reference_grid"] == (11, 7)
    assert info["attention"].shape == (2, 19 * 25, 11 * 7)
    # Rows still sum to 1 after cropping the padded reference positions: padding got no attention at all.
    np.testing.assert_allclose(info["attention"].sum(-1), 1.0, atol=1e-5)
    assert set(info["attention_by_level"]) == {f"block{i}" for i in range(1, 7)}
    for attention in info["attention_by_level"].values():
        np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert info["gate"].shape == (2, 19, 25) and info["gate_quarter"].shape == (2, 10, 13)
    assert info["gate_eighth"].shape == (2, 5, 7)
    for key in ("gate", "gate_quarter", "gate_eighth"):
        assert np.all((info[key] > 0) & (info[key] < 1))
    # The warped ab is the attention applied to the 2 x 2-averaged reference ab.
    small = info["reference_ab_small"]
    assert small.shape == (2, 11, 7, 2)
    np.testing.assert_allclose(small[0, 0, 0], reference[0, :2, :2, 1:].mean(axis=(0, 1)), atol=1e-6)
    expected = np.einsum("ntr,nrc->ntc", info["attention"], small.reshape(2, -1, 2)).reshape(2, 19, 25, 2)
    np.testing.assert_allclose(info["warped_ab"], expected, atol=1e-5)
    np.testing.assert_allclose(info["histogram"].sum(-1), 1.0, atol=1e-5)
    assert [f.shape for f in info["fused_norm"]] == [(2, 5, 7), (2, 10, 13), (2, 19, 25)]
    np.testing.assert_allclose(info["ab"], _np(tiny([target, reference])["ab"]), atol=1e-6)
    # Pixel (36, 49) lies in matching cell (18, 24), the last row of the attention matrix.
    heat = attention_map(info, 36, 49, image=1)
    assert heat.shape == (11, 7)
    np.testing.assert_array_equal(heat.ravel(), info["attention"][1, 18 * 25 + 24])
    assert attention_map(info, 0, 0, level="block6").sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ConfigError, match="outside"):
        attention_map(info, 38, 0)


def test_full_column_gate_pins_the_reference_size(tiny_full_column):
    target, reference = _pair(np.random.default_rng(6), 1, (20, 28), (16, 16))
    out = tiny_full_column([target, reference])
    assert tuple(out["ab"].shape) == (1, 20, 28, 2) and tuple(out["logits"].shape) == (1, 3)
    gate = explain(tiny_full_column, target, reference, per_level=False)["gate"]
    assert np.all((gate > 0) & (gate < 1))
    _, wrong = _pair(np.random.default_rng(6), 1, (20, 28), (24, 16))
    with pytest.raises(ConfigError, match="16 x 16 reference"):
        tiny_full_column([target, wrong])


def test_bad_inputs_raise_config_errors(tiny):
    target, reference = _pair(np.random.default_rng(7), 1, (16, 16), (16, 16))
    with pytest.raises(ConfigError, match="reference_lab"):
        tiny([target, reference[..., :2]])
    with pytest.raises(ConfigError, match="at least 8"):
        tiny([target[:, :4], reference])
    with pytest.raises(ConfigError, match="batch"):
        tiny([np.concatenate([target, target]), reference])
    with pytest.raises(ConfigError, match=r"model\(\[target_l, reference_lab\]\)"):
        tiny(target)


def _gradients(model, target, reference):
    """d(sum of every output)/d(each trainable weight), on the current backend (colorlab.step.value_and_grad)."""
    from colorlab.step import value_and_grad

    def total(params):
        out, _ = model.stateless_call(params, [v.value for v in model.non_trainable_variables], [target, reference])
        return sum(ops.sum(v) for v in out.values()), None

    _, grads = value_and_grad(total, [v.value for v in model.trainable_variables])
    return grads


@pytest.mark.parametrize("which", ["stats_with_head", "full_column"])
def test_gradients_reach_every_trainable_weight(which, tiny_full_column):
    if which == "full_column":
        model, ref_hw = tiny_full_column, (16, 16)
    else:
        keras.utils.set_random_seed(2)
        model, ref_hw = build_gray2colornet("tiny", num_classes=3), (13, 22)
    target, reference = _pair(np.random.default_rng(8), 2, (19, 27), ref_hw)
    grads = _gradients(model, target, reference)
    assert len(model.trainable_variables) == len(model.weights) > 0
    # A weight with no influence still gets float32 round-off (measured ~1e-7 for a conv bias placed right before
    # instance norm, which the norm cancels); the smallest real gradient here is ~3e-4.
    dead = [v.path for v, g in zip(model.trainable_variables, grads)
            if g is None or not np.max(np.abs(_np(g))) > 1e-5 or not np.all(np.isfinite(_np(g)))]
    assert dead == []


def test_a_constant_gate_keeps_the_learned_gates_weights_unused(tiny, tmp_path):
    # gate_value (ours, for ablations): Omega is the constant everywhere; the learned gate is built but not called,
    # so a file saved with the learned gate loads into the ablated model and back, and its weights get no gradient
    path = tmp_path / "tiny.weights.h5"
    tiny.save_weights(path)
    keras.utils.set_random_seed(5)
    ablated = build_gray2colornet(get_config("tiny", gate_value=0.0))
    assert ablated.config.gate_value == 0.0 and len(ablated.weights) == len(tiny.weights)
    ablated.load_weights(path)
    for a, b in zip(ablated.get_weights(), tiny.get_weights()):
        np.testing.assert_array_equal(a, b)
    target, reference = _pair(np.random.default_rng(3), 1, (24, 24), (16, 20))
    np.testing.assert_array_equal(explain(ablated, target, reference, per_level=False)["gate"], 0.0)
    assert not np.allclose(_np(ablated([target, reference])["ab"]), _np(tiny([target, reference])["ab"]))
    gate_weights = {id(v) for v in ablated.gcfn.gate_layer.trainable_variables}
    grads = _gradients(ablated, target, reference)
    for variable, grad in zip(ablated.trainable_variables, grads):
        if id(variable) in gate_weights:
            np.testing.assert_array_equal(_np(grad), 0.0)
    back = tmp_path / "ablated.weights.h5"
    ablated.save_weights(back)
    keras.utils.set_random_seed(6)
    learned = build_gray2colornet("tiny")
    learned.load_weights(back)
    np.testing.assert_array_equal(_np(learned([target, reference])["ab"]), _np(tiny([target, reference])["ab"]))


def test_weights_h5_round_trip_gives_identical_outputs(tiny, tmp_path):
    target, reference = _pair(np.random.default_rng(9), 2, (21, 30), (18, 26))
    expected = tiny([target, reference])
    path = tmp_path / "tiny.weights.h5"
    tiny.save_weights(path)
    keras.utils.set_random_seed(123)
    fresh = build_gray2colornet("tiny")
    assert not np.allclose(_np(fresh([target, reference])["ab"]), _np(expected["ab"]))   # other init
    fresh.load_weights(path)
    got = fresh([target, reference])
    for key in expected:
        np.testing.assert_array_equal(_np(got[key]), _np(expected[key]))


def test_save_generator_and_load_generator(tiny, tmp_path):
    from colorlab.models import (clear_generator_cache, config_path_for, load_generator, read_config,
                                 save_generator)

    weights, config_path = save_generator(tiny, tmp_path / "run" / "generator.weights.h5")   # the folder is made
    assert config_path == config_path_for(weights) == tmp_path / "run" / "generator.json"
    assert sorted(p.name for p in weights.parent.iterdir()) == ["generator.json", "generator.weights.h5"]
    assert read_config(weights) == tiny.config
    loaded = load_generator(weights)
    assert loaded is not tiny and load_generator(weights) is loaded                 # built once, then cached
    for got, expected in zip(loaded.get_weights(), tiny.get_weights()):
        np.testing.assert_array_equal(got, expected)
    assert load_generator(tiny) is tiny and load_generator(tiny, config=tiny.config) is tiny
    clear_generator_cache()
    assert load_generator(weights) is not loaded
    with pytest.raises(ConfigError, match="differs"):
        load_generator(tiny, config=get_config("tiny", base_width=4))
    with pytest.raises(ConfigError, match="weights must be"):
        load_generator(3)
    with pytest.raises(ConfigError, match=r"\.weights\.h5"):
        save_generator(tiny, tmp_path / "generator.h5")
    config_path.unlink()
    with pytest.raises(ConfigError, match="generator.json"):
        read_config(weights)


def test_count_params_components_add_up():
    counts = count_params("tiny")
    parts = ("encoder", "color_encoder", "gcfn", "mcn", "classifier")
    assert counts["total"] == sum(counts[p] for p in parts) > 0
    assert counts["gcfn"] == counts["gcfn.gate"] + counts["gcfn.histogram_encoder"] + counts["gcfn.warped_pyramid"]
    assert counts["classifier"] == 0
    # The stats gate: (k + 2) -> hidden -> 1 with tiny's k = 4, hidden = 16.
    assert counts["gcfn.gate"] == (4 + 2) * 16 + 16 + 16 + 1


_JAX_SCRIPT = """
import sys
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from colorlab.models import build_gray2colornet
data = np.load(sys.argv[1])
model = build_gray2colornet("tiny")
model.load_weights(sys.argv[2])
out = model.predict([data["target"], data["reference"]], verbose=0)
np.savez(sys.argv[3], **out)
"""


def test_same_weights_on_the_jax_backend(tiny, tmp_path):
    pytest.importorskip("jax")
    target, reference = _pair(np.random.default_rng(10), 2, (21, 30), (18, 26))
    expected = {key: _np(value) for key, value in tiny([target, reference]).items()}
    np.savez(tmp_path / "inputs.npz", target=target, reference=reference)
    tiny.save_weights(tmp_path / "tiny.weights.h5")
    # Tests only: XLA's CPU compiler at low optimisation compiles the many small kernels ~5x faster.
    run_on_jax(_JAX_SCRIPT, tmp_path / "inputs.npz", tmp_path / "tiny.weights.h5", tmp_path / "jax.npz",
               XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
    got = np.load(tmp_path / "jax.npz")
    assert sorted(got.files) == sorted(expected)
    for key in expected:
        assert got[key].shape == expected[key].shape
        np.testing.assert_allclose(got[key], expected[key], atol=2e-4)
    assert not np.allclose(got["ab"], 0.0, atol=1e-3)                   # not trivially equal


_JAX_OFFICIAL_SCRIPT = """
import sys
import numpy as np
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from colorlab.models import load_generator
data = np.load(sys.argv[1])
out = load_generator(sys.argv[2])([data["target"], data["reference"]])
np.savez(sys.argv[3], **{key: keras.ops.convert_to_numpy(value) for key, value in out.items()})
"""


def test_the_official_switches_run_the_same_on_the_jax_backend(tmp_path):
    pytest.importorskip("jax")
    from colorlab.models import save_generator

    keras.utils.set_random_seed(26)
    model = build_gray2colornet(_official_small())
    target, reference = _pair(np.random.default_rng(27), 1, (20, 24), (16, 16))
    expected = {key: _np(value) for key, value in model([target, reference]).items()}
    np.savez(tmp_path / "inputs.npz", target=target, reference=reference)
    weights, _ = save_generator(model, tmp_path / "official.weights.h5")
    run_on_jax(_JAX_OFFICIAL_SCRIPT, tmp_path / "inputs.npz", weights, tmp_path / "jax.npz",
               XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
    got = np.load(tmp_path / "jax.npz")
    assert sorted(got.files) == sorted(expected) == ["ab", "ab_half", "ab_quarter", "logits"]
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=2e-4)
