"""colorlab.step: the backend's gradient call, the seed, and GanStep's pure and in-place steps (tiny config, 32 px).

The steps run eagerly (``compile=False``) on the TensorFlow backend, where a handful of steps is cheaper than a trace;
the compiled step runs in tests/test_train.py (the command line on JAX) and in the chapter 07 tests.
"""

import keras
import numpy as np
import pytest
from keras import ops

from colorlab import losses, step
from colorlab.errors import ConfigError
from colorlab.models import PatchDiscriminator, build_gray2colornet, get_config


def _batch(n=2, side=32, seed=0):
    rng = np.random.default_rng(seed)
    return {"target_l": rng.uniform(-1, 1, (n, side, side, 1)).astype(np.float32),
            "reference_lab": rng.uniform(-0.5, 0.5, (n, side, side, 3)).astype(np.float32),
            "target_ab": rng.uniform(-0.3, 0.3, (n, side, side, 2)).astype(np.float32),
            "label": np.arange(n, dtype=np.int32) % 2}


def _gan_step(config, **kwargs):
    step.set_seed(0)
    generator = build_gray2colornet(config)
    discriminator = PatchDiscriminator.from_model_config(config)
    discriminator(keras.KerasTensor((1, config.image_size, config.image_size, 3)))
    optimizers = [keras.optimizers.Adam(1e-3, beta_1=0.5) for _ in range(2)]
    optimizers[0].build(generator.trainable_variables)
    optimizers[1].build(discriminator.trainable_variables)
    return step.GanStep(generator, discriminator, *optimizers, config.loss_weights, **kwargs)


@pytest.fixture(scope="module")
def gan():
    return _gan_step(get_config("tiny", num_classes=2), compile=False)


def test_value_and_grad_matches_a_hand_computed_gradient():
    def loss(params):
        x, y, _unused = params
        return ops.sum(x * x) + 3.0 * ops.sum(y), "aux"

    (value, aux), grads = step.value_and_grad(loss, [ops.convert_to_tensor(np.array([1.0, -2.0], np.float32)),
                                                     ops.convert_to_tensor(np.array([0.5], np.float32)),
                                                     ops.convert_to_tensor(np.array([7.0], np.float32))])
    assert float(value) == pytest.approx(1.0 + 4.0 + 1.5) and aux == "aux"
    np.testing.assert_allclose(np.asarray(grads[0]), [2.0, -4.0])  # d(x²)/dx = 2x
    np.testing.assert_allclose(np.asarray(grads[1]), [3.0])
    np.testing.assert_array_equal(np.asarray(grads[2]), [0.0])     # not reached: a zero gradient, not None


def test_set_seed_makes_the_initial_weights_and_rejects_bad_seeds():
    config = get_config("tiny")
    weights = []
    for _ in range(2):
        step.set_seed(3)
        weights.append(build_gray2colornet(config).get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        step.set_seed(-1)


def test_gradients_losses_and_per_call_weights(gan):
    batch = _batch()
    fixed = gan.gradients(gan.state(), batch)
    assert set(fixed.losses) == {"loss", *losses.TERMS, "d_loss"}
    assert len(fixed.generator) == len(gan.generator.trainable_variables)
    assert len(fixed.discriminator) == len(gan.discriminator.trainable_variables)
    assert tuple(fixed.ab.shape) == (2, 32, 32, 2)
    weights = gan.loss_weights
    expected = sum(getattr(weights, name) * float(fixed.losses[name]) for name in losses.TERMS)
    assert float(fixed.losses["loss"]) == pytest.approx(expected, rel=1e-5)
    # the same weights given per call as a tensor: the same total and gradients (only summed in another order)
    vector = np.array([getattr(weights, name) for name in losses.TERMS], np.float32)
    tensor = gan.gradients(gan.state(), batch, vector)
    assert float(tensor.losses["loss"]) == pytest.approx(float(fixed.losses["loss"]), rel=1e-6)
    for a, b in zip(fixed.generator + fixed.discriminator, tensor.generator + tensor.discriminator):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)
    # a weight of 0 per call: that term pushes nothing (here only the TV term is on)
    only_tv = gan.gradients(gan.state(), batch, np.array([0, 0, 0, 0, 1], np.float32))
    assert float(only_tv.losses["loss"]) == pytest.approx(float(fixed.losses["tv"]), rel=1e-6)


def test_train_step_updates_in_place_and_run_matches_it():
    config = get_config("tiny")
    batch = _batch(seed=1)
    eager, again = _gan_step(config, compile=False), _gan_step(config, compile=False)
    before = [np.array(w) for w in eager.generator.get_weights()]
    losses_a, ab = eager.train_step(batch)
    assert all(np.isfinite(float(value)) for value in losses_a.values()) and tuple(ab.shape) == (2, 32, 32, 2)
    after = eager.generator.get_weights()
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after)) == len(before)   # every weight moved
    assert int(eager.g_optimizer.iterations) == 1 and int(eager.d_optimizer.iterations) == 1
    losses_b, _ = again.run(batch)   # eager on TensorFlow (compile=False): bitwise the same; JAX always compiles
    again.sync()
    # (after one Adam step of 1e-3, a weight whose gradient is round-off may move by a few 1e-5 more or less: Adam
    # divides by sqrt(v), so a near-zero gradient's rounding moves its weight by up to the step size)
    tolerance = dict(rtol=1e-5, atol=1e-4) if again.backend == "jax" else dict(rtol=0, atol=0)
    np.testing.assert_allclose([float(losses_b[k]) for k in losses_a], [float(v) for v in losses_a.values()],
                               **tolerance)
    for a, b in zip(after + eager.discriminator.get_weights(),
                    again.generator.get_weights() + again.discriminator.get_weights()):
        np.testing.assert_allclose(a, b, **tolerance)


def test_unsupported_settings_raise_config_errors(gan):
    with pytest.raises(ConfigError, match="adversarial_kind"):
        step.GanStep(gan.generator, gan.discriminator, gan.g_optimizer, gan.d_optimizer, adversarial_kind="wgan")
    with pytest.raises(ConfigError, match="Distribution"):
        step.GanStep(gan.generator, gan.discriminator, gan.g_optimizer, gan.d_optimizer, distribution=object())


def test_loss_pieces_replace_the_histogram_adversarial_and_discriminator_terms(gan):
    """A notebook's own loss functions (chapter 07) are the ones the step differentiates."""
    batch = _batch()
    plain = gan.gradients(gan.state(), batch)
    pieces = {"histogram": lambda pred, ref: 2.0 * losses.histogram_loss(pred, ref),
              "adversarial": lambda fake: 3.0 * losses.generator_adversarial_loss(fake),
              "discriminator": lambda real, fake: 4.0 * losses.discriminator_loss(real, fake)}
    doubled = step.GanStep(gan.generator, gan.discriminator, gan.g_optimizer, gan.d_optimizer,
                           gan.loss_weights, loss_pieces=pieces, compile=False)
    result = doubled.gradients(doubled.state(), batch)
    for name, factor in (("histogram", 2.0), ("adversarial", 3.0), ("d_loss", 4.0)):
        assert float(result.losses[name]) == pytest.approx(factor * float(plain.losses[name]), rel=1e-5)
    for a, b in zip(result.discriminator, plain.discriminator):
        np.testing.assert_allclose(np.asarray(a), 4.0 * np.asarray(b), rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="unknown loss piece 'tv'"):
        step.GanStep(gan.generator, gan.discriminator, gan.g_optimizer, gan.d_optimizer, loss_pieces={"tv": abs})
    with pytest.raises(ConfigError, match="loss piece 'histogram' must be a function"):
        losses.generator_loss({"ab": batch["target_ab"]}, batch["target_ab"], pieces={"histogram": 3})
