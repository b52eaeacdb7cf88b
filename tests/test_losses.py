"""The five losses: each against a value worked out by hand on a toy input, zero where it should be, gradients."""

import math
import textwrap

import numpy as np
import pytest
from backend import value_and_gradients
from jaxrun import last_json, run_on_jax

keras = pytest.importorskip("keras")

from colorlab import losses  # noqa: E402
from colorlab.errors import ConfigError  # noqa: E402
from colorlab.losses import (LossWeights, area_resize, chi_square_distance, classification_loss,  # noqa: E402
                             discriminator_loss, generator_adversarial_loss, generator_loss, histogram_loss,
                             multiscale_smooth_l1, smooth_l1, total_variation)



def f32(x):
    return np.asarray(x, dtype="float32")


def value(x):
    return float(np.asarray(x))


def grad_of(fn, x):
    out, (grad,) = value_and_gradients(fn, x)
    return out, grad


def assert_useful_gradient(grad):
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


# ---- smooth-L1 ---------------------------------------------------------------------------------------------------
# A 1x2x2x2 target against a zero prediction, delta = 0.05:
#   |x| < δ (quadratic ½x²/δ): 0.02 -> 0.004, 0.01 -> 0.001, 0.04 -> 0.016, 0 -> 0
#   |x| >= δ (linear |x| - δ/2): 0.3 -> 0.275, 0.05 -> 0.025, 0.1 -> 0.075, 0.2 -> 0.175
#   mean = 0.571 / 8 = 0.071375
TOY_TARGET = f32([[[[0.02, -0.3], [0.05, 0.0]], [[-0.01, 0.1], [0.2, -0.04]]]])


def test_smooth_l1_hand_value_both_branches():
    assert value(smooth_l1(np.zeros_like(TOY_TARGET), TOY_TARGET, delta=0.05)) == pytest.approx(0.071375, rel=1e-5)
    # Quadratic branch alone, linear branch alone.
    assert value(smooth_l1(f32([0.0]), f32([0.02]), delta=0.05)) == pytest.approx(0.004, rel=1e-5)
    assert value(smooth_l1(f32([0.0]), f32([-0.3]), delta=0.05)) == pytest.approx(0.275, rel=1e-5)
    # The branches meet at |x| = δ (value δ/2) from both sides.
    below, above = (value(smooth_l1(f32([0.0]), f32([x]), delta=0.05)) for x in (0.05 - 1e-6, 0.05 + 1e-6))
    assert below == pytest.approx(0.025, abs=2e-6) and above == pytest.approx(0.025, abs=2e-6)


def test_smooth_l1_zero_when_equal_and_gradient():
    assert value(smooth_l1(TOY_TARGET, TOY_TARGET)) == 0.0
    loss, grad = grad_of(lambda p: smooth_l1(p, TOY_TARGET, delta=0.05), np.zeros_like(TOY_TARGET))
    assert_useful_gradient(grad)
    # d/dp mean(ℓ(p - t)) at p = 0: x/δ/8 inside the quadratic zone, sign(x)/8 in the linear zone (x = p - t).
    x = -TOY_TARGET
    expected = np.where(np.abs(x) < 0.05, x / 0.05, np.sign(x)) / 8
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


# ---- area resize -------------------------------------------------------------------------------------------------
def test_area_resize_hand_values():
    # 3x3 ramp x[i, j] = 3i + j -> 2x2: each output pixel covers 1.5 x 1.5 input pixels; the mean index over
    # [0, 1.5) is (0·1 + 1·0.5)/1.5 = 1/3 and over [1.5, 3) it is (1·0.5 + 2·1)/1.5 = 5/3, so out = 3·m_i + m_j.
    ramp = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    expected = np.array([[4 / 3, 8 / 3], [16 / 3, 20 / 3]], dtype="float32")
    np.testing.assert_allclose(np.asarray(area_resize(ramp, (2, 2)))[0, :, :, 0], expected, rtol=1e-6)
    # Even halving is exactly 2x2 average pooling.
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 2)).astype("float32")
    pooled = x.reshape(2, 2, 2, 3, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(area_resize(x, (2, 3)), pooled, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size, new", [((5, 7), (3, 4)), ((9, 5), (3, 2)), ((5, 7), (2, 2)), ((3, 5), (3, 5))])
def test_area_resize_matches_tensorflow_area(size, new):
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(1).normal(size=(2, *size, 2)).astype("float32")
    np.testing.assert_allclose(area_resize(x, new), tf.image.resize(x, new, method="area"), rtol=1e-5, atol=1e-6)


# ---- multi-scale -------------------------------------------------------------------------------------------------
def test_multiscale_smooth_l1_hand_value():
    # Target 1x2x2x2: a = [[.1, .3], [.5, .7]] (mean .4), b = [[-.2, 0], [.2, .4]] (mean .1).
    target = np.stack([f32([[0.1, 0.3], [0.5, 0.7]]), f32([[-0.2, 0.0], [0.2, 0.4]])], axis=-1)[None]
    outputs = {
        "ab": target + 0.02,                              # every error 0.02 -> 0.004; mean 0.004; weight 1
        "ab_half": f32([[[[0.4 + 0.1, 0.1 + 0.01]]]]),    # ⌈2/2⌉ = 1: errors .1 -> .075, .01 -> .001; mean .038
        "ab_quarter": f32([[[[0.4 - 0.3, 0.1]]]]),        # ⌈2/4⌉ = 1: errors .3 -> .275, 0 -> 0; mean .1375
    }
    expected = 1.0 * 0.004 + 0.5 * 0.038 + 0.25 * 0.1375  # = 0.057375
    assert value(multiscale_smooth_l1(outputs, target, delta=0.05)) == pytest.approx(expected, rel=1e-5)
    # The same as a sequence, finest first; custom weights; a weight of 0 drops a scale.
    sequence = [outputs["ab"], outputs["ab_half"], outputs["ab_quarter"]]
    assert value(multiscale_smooth_l1(sequence, target, delta=0.05)) == pytest.approx(expected, rel=1e-5)
    assert value(multiscale_smooth_l1(outputs, target, weights=(0, 0, 1), delta=0.05)) == pytest.approx(0.1375,
                                                                                                       rel=1e-5)
    without_quarter = {"ab": outputs["ab"], "ab_half": outputs["ab_half"]}
    assert value(multiscale_smooth_l1(without_quarter, target, weights=(1, 0.5, 0), delta=0.05)) == \
        pytest.approx(0.004 + 0.019, rel=1e-5)
    with pytest.raises(ConfigError, match="ab_quarter"):
        multiscale_smooth_l1(without_quarter, target)
    with pytest.raises(ConfigError, match="one weight per scale"):
        multiscale_smooth_l1(outputs, target, weights=(1.0, 0.5))


def test_multiscale_odd_sizes_zero_at_resized_target_and_tensorflow_reference():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(2)
    target = rng.uniform(-0.5, 0.5, size=(2, 5, 7, 2)).astype("float32")
    shapes = [(5, 7), (3, 4), (2, 2)]  # H, ⌈H/2⌉, ⌈H/4⌉ for H = 5, W = 7
    resized = [tf.image.resize(target, s, method="area").numpy() for s in shapes]
    perfect = dict(zip(losses.SCALE_KEYS, resized))
    assert value(multiscale_smooth_l1(perfect, target)) == pytest.approx(0.0, abs=1e-7)
    noisy = {k: v + rng.normal(scale=0.1, size=v.shape).astype("float32") for k, v in perfect.items()}

    def numpy_smooth_l1(x, delta=losses.DEFAULT_DELTA):
        x = np.abs(x)
        return np.mean(np.where(x < delta, 0.5 * x ** 2 / delta, x - 0.5 * delta))

    expected = sum(w * numpy_smooth_l1(noisy[k] - r)
                   for w, k, r in zip(losses.DEFAULT_SCALE_WEIGHTS, losses.SCALE_KEYS, resized))
    assert value(multiscale_smooth_l1(noisy, target)) == pytest.approx(expected, rel=1e-4)
    _, grad = grad_of(lambda p: multiscale_smooth_l1({**noisy, "ab_half": p}, target), noisy["ab_half"])
    assert_useful_gradient(grad)


# ---- histogram χ² ------------------------------------------------------------------------------------------------
def test_chi_square_hand_values():
    # p = (.5, .5, 0), q = (.25, .25, .5): ½ [ .25²/.75 + .25²/.75 + .5²/.5 ] = ½ [1/12 + 1/12 + 1/2] = 1/3
    p, q = f32([0.5, 0.5, 0.0]), f32([0.25, 0.25, 0.5])
    assert value(chi_square_distance(p, q)) == pytest.approx(1 / 3, abs=1e-5)
    # Disjoint supports: ½ (1²/1 + 1²/1) = 1, the maximum; equal histograms: 0 (the ε term keeps 0/0 away).
    assert value(chi_square_distance(f32([1, 0, 0]), f32([0, 0, 1]))) == pytest.approx(1.0, abs=1e-5)
    assert value(chi_square_distance(q, q)) == 0.0
    batch = chi_square_distance(np.stack([p, q]), np.stack([q, q]))
    np.testing.assert_allclose(batch, [1 / 3, 0.0], atol=1e-5)
    _, grad = grad_of(lambda x: chi_square_distance(x, q), p)
    assert_useful_gradient(grad)


def _flat(a, b, shape=(1, 4, 4)):
    """An ab image of one colour (model units)."""
    return np.broadcast_to(f32([a, b]), (*shape, 2)).copy()


def test_histogram_loss_hand_values():
    pytest.importorskip("colorlab.color")
    red, blue = _flat(0.5, 0.3), _flat(-0.5, -0.4)  # far apart: soft histograms do not overlap (sigma = 5.5 ab)
    # Same image, and the same colours in another arrangement: histograms are equal -> 0.
    assert value(histogram_loss(red, red)) == pytest.approx(0.0, abs=1e-7)
    mixed = np.concatenate([red[:, :2], blue[:, 2:]], axis=1)
    shuffled = mixed[:, ::-1, ::-1]
    assert value(histogram_loss(mixed, shuffled)) == pytest.approx(0.0, abs=1e-6)
    # Disjoint colours: χ² = 1.
    assert value(histogram_loss(red, blue)) == pytest.approx(1.0, abs=1e-4)
    # Half red, half blue against all red: p = ½h_r + ½h_b, q = h_r with h_r, h_b disjoint:
    # ½ [ Σ_r (½h_r)²/(1.5h_r) + Σ_b (½h_b)²/(½h_b) ] = ½ [1/6 + 1/2] = 1/3.
    assert value(histogram_loss(mixed, red)) == pytest.approx(1 / 3, abs=1e-4)
    # Output and reference may differ in size (histograms are normalised).
    assert value(histogram_loss(red, _flat(0.5, 0.3, shape=(1, 3, 5)))) == pytest.approx(0.0, abs=1e-7)


def test_histogram_loss_gradient_and_batch_mean():
    pytest.importorskip("colorlab.color")
    rng = np.random.default_rng(3)
    pred = rng.uniform(-0.3, 0.3, size=(2, 6, 6, 2)).astype("float32")
    reference = rng.uniform(-0.8, 0.8, size=(2, 5, 5, 2)).astype("float32")
    loss, grad = grad_of(lambda p: histogram_loss(p, reference), pred)
    assert 0.0 < loss < 1.0
    assert_useful_gradient(grad)
    per_image = [value(histogram_loss(pred[i:i + 1], reference[i:i + 1])) for i in range(2)]
    assert loss == pytest.approx(np.mean(per_image), rel=1e-5)


# ---- classification ----------------------------------------------------------------------------------------------
def test_classification_hand_value_and_gradient():
    # z1 = (2, 0), y1 = 0: log(1 + e^-2);  z2 = (0, 1), y2 = 0: log(1 + e^1).
    logits, labels = f32([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0])
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.e)) / 2  # 0.720095
    assert value(classification_loss(logits, labels)) == pytest.approx(expected, rel=1e-5)
    # Uniform logits over C classes: log C.
    assert value(classification_loss(np.zeros((3, 365), "float32"), np.array([0, 5, 364]))) == \
        pytest.approx(math.log(365), rel=1e-5)
    # Nearly minimal when the right class dominates.
    assert value(classification_loss(f32([[30.0, 0.0]]), np.array([0]))) < 1e-10
    _, grad = grad_of(lambda z: classification_loss(z, labels), logits)
    # d/dz mean CE = (softmax(z) - onehot(y)) / N
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad, (soft - np.eye(2)[labels]) / 2, rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError, match="integer"):
        classification_loss(logits, f32([0, 1]))


# ---- adversarial -------------------------------------------------------------------------------------------------
REAL, FAKE = f32([[2.0, -1.0]]), f32([[0.5, -3.0]])


def sp(x):  # softplus, for the hand values
    return math.log(1 + math.exp(x))


@pytest.mark.parametrize("kind, d_expected, g_expected", [
    # bce: D = mean softplus(-r) + mean softplus(f); G = mean softplus(-f)
    ("bce", (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, (sp(-0.5) + sp(3)) / 2),   # 1.231427, 1.761332
    # lsgan: D = mean (r-1)² + mean f² = (1 + 4)/2 + (.25 + 9)/2; G = mean (f-1)² = (.25 + 16)/2
    ("lsgan", 2.5 + 4.625, 8.125),
    # hinge: D = mean relu(1-r) + mean relu(1+f) = (0 + 2)/2 + (1.5 + 0)/2; G = -mean f = 1.25
    ("hinge", 1.75, 1.25),
])
def test_adversarial_hand_values(kind, d_expected, g_expected):
    assert value(discriminator_loss(REAL, FAKE, kind)) == pytest.approx(d_expected, rel=1e-5)
    assert value(generator_adversarial_loss(FAKE, kind)) == pytest.approx(g_expected, rel=1e-5)
    _, grad = grad_of(lambda f: generator_adversarial_loss(f, kind), FAKE)
    assert_useful_gradient(grad)
    _, grad = grad_of(lambda r: discriminator_loss(r, FAKE, kind), f32([[0.5, -0.5]]))
    assert_useful_gradient(grad)


def test_adversarial_minimal_where_it_should_be():
    patches = (1, 3, 3, 1)
    assert value(discriminator_loss(np.full(patches, 30.0, "float32"), np.full(patches, -30.0, "float32"))) < 1e-12
    assert value(discriminator_loss(np.ones(patches, "float32"), np.zeros(patches, "float32"), "lsgan")) == 0.0
    assert value(discriminator_loss(np.full(patches, 1.5, "float32"), np.full(patches, -1.0, "float32"),
                                    "hinge")) == 0.0
    assert value(generator_adversarial_loss(np.ones(patches, "float32"), "lsgan")) == 0.0
    # Non-saturating: the generator's gradient stays large when D rejects the fake confidently (f = -10).
    _, grad = grad_of(lambda f: generator_adversarial_loss(f, "bce"), f32([-10.0]))
    assert abs(grad[0]) > 0.99
    with pytest.raises(ConfigError, match="kind"):
        discriminator_loss(REAL, FAKE, "wgan")


# ---- total variation ---------------------------------------------------------------------------------------------
def test_total_variation_hand_value():
    # x = [[1, 4, 2], [0, 4, 5]]: vertical |0-1| + |4-4| + |5-2| = 4; horizontal 3 + 2 + 4 + 1 = 10.
    # 3 vertical + 4 horizontal pairs: TV = 14 / 7 = 2.
    x = f32([[1, 4, 2], [0, 4, 5]])[None, :, :, None]
    assert value(total_variation(x)) == pytest.approx(2.0, rel=1e-6)
    # A second, constant channel halves the mean (N·C pairs in the denominator).
    two = np.concatenate([x, np.zeros_like(x)], axis=-1)
    assert value(total_variation(two)) == pytest.approx(1.0, rel=1e-6)
    # One row: only horizontal pairs, (3 + 2) / 2.
    assert value(total_variation(x[:, :1])) == pytest.approx(2.5, rel=1e-6)
    assert value(total_variation(np.full((2, 3, 4, 2), 0.7, "float32"))) == 0.0
    _, grad = grad_of(total_variation, two)
    assert_useful_gradient(grad)
    with pytest.raises(ConfigError, match="two pixels"):
        total_variation(np.zeros((1, 1, 1, 2), "float32"))


# ---- weights and the total ---------------------------------------------------------------------------------------
def test_loss_weights_validation():
    assert LossWeights().as_dict() == {"reconstruction": 1.0, "histogram": 0.5, "classification": 0.01,
                                       "adversarial": 0.01, "tv": 0.1}
    assert LossWeights.from_dict({"tv": 0}).tv == 0.0
    for bad in ({"tvv": 0.1}, {"tv": -0.1}, {"histogram": float("nan")}, {"adversarial": True},
                {"reconstruction": "1"}):
        with pytest.raises(ConfigError):
            LossWeights.from_dict(bad)
    with pytest.raises(ConfigError):
        LossWeights.coerce([1.0, 0.5])


def test_loss_weights_agree_with_model_config():
    config_module = pytest.importorskip("colorlab.models.config")
    assert LossWeights().as_dict() == config_module.DEFAULT_LOSS_WEIGHTS
    config = config_module.get_config("tiny", loss_weights={"tv": 0.0})
    assert LossWeights.from_model_config(config) == LossWeights(tv=0.0)


def _toy_batch(with_logits=True, seed=4):
    rng = np.random.default_rng(seed)
    target = rng.uniform(-0.5, 0.5, size=(2, 7, 5, 2)).astype("float32")
    outputs = {"ab": rng.uniform(-0.3, 0.3, size=(2, 7, 5, 2)).astype("float32"),
               "ab_half": rng.uniform(-0.3, 0.3, size=(2, 4, 3, 2)).astype("float32"),
               "ab_quarter": rng.uniform(-0.3, 0.3, size=(2, 2, 2, 2)).astype("float32")}
    if with_logits:
        outputs["logits"] = rng.normal(size=(2, 5)).astype("float32")
    return dict(outputs=outputs, target_ab=target,
                reference_ab=rng.uniform(-0.8, 0.8, size=(2, 6, 6, 2)).astype("float32"),
                labels=np.array([1, 3]), fake_logits=rng.normal(size=(2, 3, 2, 1)).astype("float32"))


def test_generator_loss_is_the_weighted_sum_of_the_terms():
    pytest.importorskip("colorlab.color")
    batch = _toy_batch()
    weights = LossWeights(reconstruction=1.0, histogram=0.5, classification=0.25, adversarial=0.125, tv=2.0)
    total, terms = generator_loss(**batch, weights=weights)
    out = batch["outputs"]
    separate = {
        "reconstruction": multiscale_smooth_l1(out, batch["target_ab"]),
        "histogram": histogram_loss(out["ab"], batch["reference_ab"]),
        "classification": classification_loss(out["logits"], batch["labels"]),
        "adversarial": generator_adversarial_loss(batch["fake_logits"]),
        "tv": total_variation(out["ab"]),
    }
    assert list(terms) == list(losses.TERMS)
    for name, expected in separate.items():
        assert value(terms[name]) == pytest.approx(value(expected), rel=1e-6), name
    assert value(total) == pytest.approx(sum(getattr(weights, k) * value(v) for k, v in separate.items()), rel=1e-6)


def test_generator_loss_drops_zero_weights_and_absent_inputs():
    pytest.importorskip("colorlab.color")
    batch = _toy_batch(with_logits=False)
    _, terms = generator_loss(**batch)  # no logits head: no classification term
    assert set(terms) == {"reconstruction", "histogram", "adversarial", "tv"}
    _, terms = generator_loss(batch["outputs"], batch["target_ab"])  # no reference, no labels, no D
    assert set(terms) == {"reconstruction", "tv"}
    weights = {"reconstruction": 0, "histogram": 0, "tv": 0}
    total, terms = generator_loss(**{**batch, "target_ab": None}, weights=weights)
    assert set(terms) == {"adversarial"}
    assert value(total) == pytest.approx(0.01 * value(generator_adversarial_loss(batch["fake_logits"])), rel=1e-6)
    all_off = {name: 0.0 for name in losses.TERMS}
    total, terms = generator_loss(**batch, weights=all_off)
    assert terms == {} and value(total) == 0.0
    with pytest.raises(ConfigError, match="target_ab"):
        generator_loss(batch["outputs"], None)


def test_generator_loss_gradients_reach_every_output():
    pytest.importorskip("colorlab.color")
    batch = _toy_batch()
    keys = list(batch["outputs"])

    def total(*arrays):
        outputs = dict(zip(keys, arrays[:-1]))
        return generator_loss(outputs, batch["target_ab"], batch["reference_ab"], batch["labels"], arrays[-1])[0]

    _, grads = value_and_gradients(total, *batch["outputs"].values(), batch["fake_logits"])
    assert len(grads) == len(keys) + 1
    for grad in grads:
        assert_useful_gradient(grad)


# ---- JAX ---------------------------------------------------------------------------------------------------------
def test_losses_give_the_same_values_on_jax():
    pytest.importorskip("jax")
    pytest.importorskip("colorlab.color")
    script = textwrap.dedent("""
        import json, numpy as np, jax, keras
        from colorlab import losses
        x = np.array([[1, 4, 2], [0, 4, 5]], "float32")[None, :, :, None]
        target = np.random.default_rng(2).uniform(-0.5, 0.5, size=(1, 5, 7, 2)).astype("float32")
        outputs = {"ab": target + 0.1, "ab_half": np.zeros((1, 3, 4, 2), "float32"),
                   "ab_quarter": np.zeros((1, 2, 2, 2), "float32")}
        def total(ab):
            return losses.generator_loss({**outputs, "ab": ab}, target, target[:, ::-1])[0]
        grad = np.asarray(jax.grad(total)(outputs["ab"]))
        print(json.dumps(dict(backend=keras.backend.backend(),
            tv=float(losses.total_variation(x)),
            d=float(losses.discriminator_loss(np.array([2.0, -1.0]), np.array([0.5, -3.0]))),
            rec=float(losses.multiscale_smooth_l1(outputs, target)),
            total=float(total(outputs["ab"])), grad_ok=bool(np.isfinite(grad).all() and np.any(grad != 0)))))
    """)
    report = last_json(run_on_jax(script))
    assert report["backend"] == "jax"
    assert report["tv"] == pytest.approx(2.0, rel=1e-6)
    assert report["d"] == pytest.approx((sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, rel=1e-5)
    target = np.random.default_rng(2).uniform(-0.5, 0.5, size=(1, 5, 7, 2)).astype("float32")
    outputs = {"ab": target + 0.1, "ab_half": np.zeros((1, 3, 4, 2), "float32"),
               "ab_quarter": np.zeros((1, 2, 2, 2), "float32")}
    assert report["rec"] == pytest.approx(value(multiscale_smooth_l1(outputs, target)), rel=1e-5)
    assert report["total"] == pytest.approx(value(generator_loss(outputs, target, target[:, ::-1])[0]), rel=1e-5)
    assert report["grad_ok"]
