"""PatchDiscriminator: geometry (receptive field, output sizes) checked by hand and empirically, gradients, config."""

import json
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from backend import numpy, value_and_gradients
from jaxrun import last_json, run_on_jax

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from colorlab.errors import ConfigError  # noqa: E402
from colorlab.models.discriminator import (NORMS, PatchDiscriminator, SpectralConv2D,  # noqa: E402
                                           conv_output_size, receptive_field)



def _inputs(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype("float32")


# ---- receptive field ---------------------------------------------------------------------------------------------
def test_receptive_field_of_pix2pix_stack_is_70():
    # pix2pix's 70x70 PatchGAN: five 4x4 convolutions, strides 2, 2, 2, 1, 1.
    # r = 1 + 3*1 + 3*2 + 3*4 + 3*8 + 3*8 = 70
    assert receptive_field([4] * 5, [2, 2, 2, 1, 1]) == 70
    assert PatchDiscriminator(width=8, n_layers=3).receptive_field == 70


def test_receptive_field_hand_values_with_dilation():
    # Two 3x3 convs, second dilated by 2: 1 + 2*1 + (2*2)*1 = 7.
    assert receptive_field([3, 3], [1, 1], [1, 2]) == 7
    # 3x3 stride 2, 3x3 stride 2, 3x3 stride 1: 1 + 2 + 2*2 + 2*4 = 15.
    assert receptive_field([3, 3, 3], [2, 2, 1]) == 15
    assert receptive_field([1], [1]) == 1


@pytest.mark.parametrize("n_layers, expected", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_receptive_field_table_in_docstring(n_layers, expected):
    assert expected == 9 * 2 ** n_layers - 2
    assert PatchDiscriminator(width=2, n_layers=n_layers).receptive_field == expected


@pytest.mark.parametrize("args", [([4, 4], [2]), ([], []), ([4, 0], [1, 1]), ([4], [1], [1, 1]), ([4.0], [1])])
def test_receptive_field_rejects_bad_stacks(args):
    with pytest.raises(ConfigError):
        receptive_field(*args)


# ---- output sizes ------------------------------------------------------------------------------------------------
def test_output_size_hand_values():
    # 4x4, padding 1: stride 2 maps n -> floor(n/2), stride 1 maps n -> n - 1.
    d3 = PatchDiscriminator(width=2, n_layers=3)
    assert d3.output_size(256) == 30  # pix2pix: 128, 64, 32, 31, 30
    assert d3.output_size(128) == 14
    assert d3.output_size((33, 40)) == (2, 3)  # 33: 16, 8, 4, 3, 2;  40: 20, 10, 5, 4, 3
    assert conv_output_size(7, 4, 2, 1) == 3
    assert d3.min_input_size == 24  # 24 -> 12, 6, 3, 2, 1; 23 -> 11, 5, 2, 1, 0
    with pytest.raises(ConfigError, match="too small"):
        d3.output_size(23)


@pytest.mark.parametrize("height, width, expected", [
    (32, 32, (6, 6)),   # 16, 8, 7, 6
    (33, 27, (6, 4)),   # 33: 16, 8, 7, 6;  27: 13, 6, 5, 4
    (21, 40, (3, 8)),   # 21: 10, 5, 4, 3;  40: 20, 10, 9, 8
])
def test_forward_shapes_including_odd_sizes(height, width, expected):
    disc = PatchDiscriminator(width=4, n_layers=2)
    logits = disc(_inputs((2, height, width, 3)))
    assert tuple(logits.shape) == (2, *expected, 1)
    assert disc.output_size((height, width)) == expected
    assert disc.compute_output_shape((2, height, width, 3)) == (2, *expected, 1)


def test_pix2pix_size_gives_30x30_logits():
    disc = PatchDiscriminator(width=2, n_layers=3)
    assert tuple(disc(_inputs((1, 256, 256, 3))).shape) == (1, 30, 30, 1)


def test_pair_input_equals_concatenated_input_and_bad_inputs_raise():
    disc = PatchDiscriminator(width=4, n_layers=1)
    x = _inputs((1, 16, 16, 3))
    np.testing.assert_allclose(disc((x[..., :1], x[..., 1:])), disc(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="channels|N, H, W, 3"):
        disc(_inputs((1, 16, 16, 2)))
    with pytest.raises(ConfigError, match="too small"):
        disc(_inputs((1, 5, 16, 3)))


# ---- the receptive field, measured -------------------------------------------------------------------------------
def _gradient_support(disc, shape, row, col):
    _, (grad,) = value_and_gradients(lambda x: disc(x, training=False)[0, row, col, 0], _inputs(shape, seed=3))
    grad = grad[0]
    return np.any(grad != 0.0, axis=-1)  # (H, W): pixels this logit depends on


@pytest.mark.parametrize("norm", ["spectral", "none"])
@pytest.mark.parametrize("n_layers, size, row, col", [(1, 28, 5, 6), (2, 48, 4, 5)])
def test_gradient_of_one_logit_is_nonzero_exactly_inside_its_receptive_field(norm, n_layers, size, row, col):
    disc = PatchDiscriminator(width=4, n_layers=n_layers, norm=norm)
    support = _gradient_support(disc, (1, size, size, 3), row, col)
    (top, bottom), (left, right) = disc.patch_bounds(row, col)
    assert bottom - top == right - left == disc.receptive_field
    assert 0 <= top and bottom <= size and 0 <= left and right <= size  # chosen so the window is inside
    expected = np.zeros_like(support)
    expected[top:bottom, left:right] = True
    rows, cols = np.nonzero(support)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (top, bottom, left, right)
    np.testing.assert_array_equal(support, expected)


def test_instance_norm_lets_every_logit_see_the_whole_image():
    # Why spectral norm is our default: instance norm's statistics couple all positions.
    disc = PatchDiscriminator(width=4, n_layers=1, norm="instance")
    support = _gradient_support(disc, (1, 28, 28, 3), 5, 6)
    assert support.sum() > disc.receptive_field ** 2
    assert support.all()


# ---- weights, gradients, spectral normalisation ------------------------------------------------------------------
@pytest.mark.parametrize("norm", NORMS)
def test_gradients_reach_every_trainable_weight(norm):
    disc = PatchDiscriminator(width=4, n_layers=2, norm=norm)
    x = _inputs((2, 24, 24, 3))
    disc(x)
    n_convs = 4
    assert len([w for w in disc.trainable_weights if "kernel" in w.path]) == n_convs
    frozen = [v.value for v in disc.non_trainable_variables]

    def loss(*trainable):
        logits, _ = disc.stateless_call(list(trainable), frozen, x, training=True)
        return ops.mean(ops.square(logits - 1.0))

    _, grads = value_and_gradients(loss, *[numpy(w) for w in disc.trainable_variables])
    assert len(grads) == len(disc.trainable_weights)
    for weight, grad in zip(disc.trainable_weights, grads):
        assert np.all(np.isfinite(grad)) and np.any(grad != 0), weight.path


def test_init_is_pix2pix_normal_002():
    disc = PatchDiscriminator(width=16, n_layers=2, norm="none")
    disc(_inputs((1, 24, 24, 3)))
    kernels = np.concatenate([np.ravel(numpy(w)) for w in disc.trainable_weights if "kernel" in w.path])
    biases = np.concatenate([np.ravel(numpy(w)) for w in disc.trainable_weights if "bias" in w.path])
    assert abs(kernels.mean()) < 0.002 and 0.018 < kernels.std() < 0.022  # ~50k draws of N(0, 0.02)
    assert np.all(biases == 0)


def test_spectral_conv_sigma_converges_to_largest_singular_value():
    keras.utils.set_random_seed(1)
    layer = SpectralConv2D(8, kernel_size=3, strides=1)
    x = _inputs((1, 6, 6, 5))
    layer(x)
    assert SpectralConv2D.from_config(layer.get_config()).get_config() == layer.get_config()
    matrix = numpy(layer.kernel).reshape(-1, 8)
    true_sigma = np.linalg.svd(matrix, compute_uv=False)[0]
    u_before = numpy(layer.u).copy()
    layer(x, training=False)
    np.testing.assert_array_equal(numpy(layer.u), u_before)  # inference leaves u alone
    for _ in range(30):
        layer(x, training=True)  # one power-iteration step per training call
    assert not np.allclose(numpy(layer.u), u_before)
    np.testing.assert_allclose(float(layer.sigma()), true_sigma, rtol=1e-3)
    normalised = matrix / float(layer.sigma())
    np.testing.assert_allclose(np.linalg.svd(normalised, compute_uv=False)[0], 1.0, rtol=1e-3)
    # The layer computes conv(x, K / sigma) + b (b = 0 at init); the convolution here is NumPy's, window by window.
    kernel = numpy(layer.kernel) / float(layer.sigma())                    # (3, 3, 5, 8)
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))   # (1, 4, 4, 5, 3, 3)
    expected = np.einsum("nhwcij,ijco->nhwo", windows, kernel)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-4, atol=1e-5)


# ---- config ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm", NORMS)
def test_get_config_round_trip_and_weights_file(norm, tmp_path):
    disc = PatchDiscriminator(width=4, n_layers=2, norm=norm, name="d")
    x = _inputs((1, 24, 20, 3))
    expected = numpy(disc(x))
    config = disc.get_config()
    assert {k: config[k] for k in ("width", "n_layers", "norm", "kernel_size")} == \
        {"width": 4, "n_layers": 2, "norm": norm, "kernel_size": 4}
    json.dumps(config)
    clone = PatchDiscriminator.from_config(config)
    assert clone.get_config() == config
    clone(x)
    path = tmp_path / "d.weights.h5"
    disc.save_weights(path)
    clone.load_weights(path)
    np.testing.assert_allclose(clone(x), expected, rtol=1e-6, atol=1e-6)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(disc))
    assert isinstance(revived, PatchDiscriminator) and revived.get_config() == config


def test_from_model_config():
    fake = SimpleNamespace(disc_width=8, disc_layers=2)
    disc = PatchDiscriminator.from_model_config(fake, norm="none")
    assert (disc.width, disc.n_layers, disc.norm, disc.receptive_field) == (8, 2, "none", 34)
    with pytest.raises(ConfigError, match="disc_width"):
        PatchDiscriminator.from_model_config(SimpleNamespace(disc_layers=2))
    config_module = pytest.importorskip("colorlab.models.config")
    tiny = config_module.get_config("tiny")
    disc = PatchDiscriminator.from_model_config(tiny)
    assert (disc.width, disc.n_layers) == (tiny.disc_width, tiny.disc_layers)


@pytest.mark.parametrize("kwargs", [dict(width=0), dict(n_layers=-1), dict(norm="batch"), dict(kernel_size=2.5),
                                    dict(width=True)])
def test_bad_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        PatchDiscriminator(**kwargs)


# ---- JAX ---------------------------------------------------------------------------------------------------------
def test_same_logits_and_a_training_step_on_jax(tmp_path):
    """Weights saved on TensorFlow give the same logits on JAX; a stateless JAX step updates u and has gradients."""
    pytest.importorskip("jax")
    disc = PatchDiscriminator(width=4, n_layers=1, norm="spectral")
    x = _inputs((2, 20, 18, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "tf.npy", numpy(disc(x)))
    disc.save_weights(tmp_path / "d.weights.h5")
    script = textwrap.dedent(f"""
        import json, numpy as np, jax, keras
        from colorlab.models.discriminator import PatchDiscriminator
        x = np.load({str(tmp_path / 'x.npy')!r})
        disc = PatchDiscriminator(width=4, n_layers=1, norm="spectral")
        disc(x)
        disc.load_weights({str(tmp_path / 'd.weights.h5')!r})
        same = float(np.max(np.abs(np.asarray(disc(x)) - np.load({str(tmp_path / 'tf.npy')!r}))))
        trainable = [v.value for v in disc.trainable_variables]
        frozen = [v.value for v in disc.non_trainable_variables]
        def loss(trainable):
            logits, new_frozen = disc.stateless_call(trainable, frozen, x, training=True)
            return jax.numpy.mean(logits ** 2), new_frozen
        (value, new_frozen), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(trainable)
        print(json.dumps(dict(backend=keras.backend.backend(), same=same,
            grads_ok=all(bool(np.isfinite(g).all() and np.any(g != 0)) for g in grads),
            u_changed=any(not np.allclose(a, b) for a, b in zip(frozen, new_frozen)))))
    """)
    report = last_json(run_on_jax(script))
    assert report["backend"] == "jax"
    assert report["same"] < 1e-5
    assert report["grads_ok"] and report["u_changed"]
