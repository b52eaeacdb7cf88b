"""colorlab.course.ch09_evaluation: the offline dev-like set, the hue-turned photo and the constant gate."""

import numpy as np
import pytest

from colorlab.cie import rgb_to_lab_np
from colorlab.course import ch09_evaluation as course09
from colorlab.errors import ConfigError


def test_sample_dev_pairs_shapes_and_ids():
    view = course09.sample_dev_pairs("view", size=24, names=["parrot"])
    pair = view[0]
    assert pair.pair_id == "view:parrot" and min(pair.target_rgb.shape[:2]) <= 24
    assert pair.target_rgb.shape == pair.reference_rgb.shape        # two crops of the same width
    other = course09.sample_dev_pairs("other", size=24, names=[("cat_1", "cat_2")])
    assert other[0].pair_id == "other:cat_1<-cat_2" and min(other[0].target_rgb.shape[:2]) == 24
    assert len(course09.sample_dev_pairs("other", size=16)) == len(course09.SAMPLE_OTHER_PAIRS)


def test_rotate_hue_keeps_l_and_chroma_and_turns_hue():
    rgb = np.array([[[0.6, 0.3, 0.2], [0.2, 0.5, 0.3]]], dtype=np.float32)
    np.testing.assert_allclose(course09.rotate_hue(rgb, 360.0), rgb, atol=1e-4)
    turned = course09.rotate_hue(rgb, 180.0)
    lab, lab_t = rgb_to_lab_np(rgb), rgb_to_lab_np(turned)
    np.testing.assert_allclose(lab_t[..., 0], lab[..., 0], atol=1e-3)
    # a 180-degree turn negates a and b: exactly for the green (in gamut after the turn), with less chroma for
    # the orange (its blue opposite leaves the gamut at that L*, so its chroma is reduced, its hue kept)
    np.testing.assert_allclose(lab_t[0, 1, 1:], -lab[0, 1, 1:], atol=1e-2)
    a, b = lab[0, 0, 1:]
    at, bt = lab_t[0, 0, 1:]
    assert abs(a * bt - b * at) < 1e-2 * np.hypot(a, b) * np.hypot(at, bt) and a * at + b * bt < 0
    assert np.hypot(at, bt) < np.hypot(a, b)


def test_constant_gate_sets_omega_and_keeps_the_weights(weights):
    from colorlab.models import load_generator
    from colorlab.models.gray2colornet import explain

    model = load_generator(weights)
    rng = np.random.default_rng(0)
    target_l = rng.uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)
    reference = rng.uniform(-0.5, 0.5, (1, 16, 16, 3)).astype(np.float32)
    ablated = course09.constant_gate(model, 1.0)
    gate = explain(ablated, target_l, reference, per_level=False)["gate"]
    np.testing.assert_allclose(gate, 1.0)
    assert ablated.config.gate_value == 1.0 and model.config.gate_value is None
    for kept, original in zip(ablated.get_weights(), model.get_weights()):   # every weight, the gate's too
        np.testing.assert_array_equal(kept, original)
    free = explain(model, target_l, reference, per_level=False)["gate"]
    assert np.all((free > 0) & (free < 1)) and not np.allclose(free, 1.0)
    with pytest.raises(ConfigError, match="gate_value"):
        course09.constant_gate(model, 1.5)
