"""Chapter 10's exercise solutions against hand values and against colorlab.video.TemporalPropagation.

The generic checks (reference passes, off-by-one answers rejected, ...) run in tests/test_exercises.py; here the
checker also rejects the plausible mistakes a student makes (no inside mask, sigma instead of 2 sigma², no cut rule).
"""

import math

import numpy as np
import pytest

from colorlab.errors import ExerciseError
from colorlab.exercises import ch10

cv2 = pytest.importorskip("cv2")
video = pytest.importorskip("colorlab.video")


def _textured_pair(shift: float = 2.0, size=(24, 32), seed: int = 0):
    """Two L* frames of a smooth random texture, the second moved right by ``shift`` px (a pan), in [0, 100]."""
    rng = np.random.default_rng(seed)
    h, w = size
    noise = cv2.GaussianBlur(rng.uniform(0, 100, (h, w + 8)).astype(np.float32), (0, 0), 2.0)
    noise = (noise - noise.min()) / (noise.max() - noise.min()) * 80 + 10
    matrix = np.float32([[1, 0, shift], [0, 1, 0]])
    moved = cv2.warpAffine(noise, matrix, (w + 8, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return noise[:, 4:4 + w].copy(), moved[:, 4:4 + w].copy()


def _maps(l_now, l_previous):
    map_x, map_y, c = video.TemporalPropagation().confidence(l_now, l_previous)
    # the propagation's own "lands inside the previous frame" rule: its confidence with an infinitely wide
    # lightness check (exp(-0) = 1 inside, 0 outside)
    inside = video.TemporalPropagation(sigma=1e30).confidence(l_now, l_previous)[2] > 0.5
    l_warp = cv2.remap(l_previous.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return map_x, map_y, inside, l_warp, c


def test_confidence_hand_values():
    flat = np.full((2, 3), 50.0)
    inside = np.array([[True, True, False], [True, True, True]])
    c = ch10.confidence(flat + 4.0, flat, inside, 4.0)
    assert c[0, 0] == pytest.approx(math.exp(-0.5), abs=1e-12)       # off by sigma: exp(-1/2) = 0.6065
    assert c[0, 2] == 0.0                                             # flow points outside: no trust
    assert ch10.confidence(flat + 8.0, flat, inside, 4.0)[1, 1] == pytest.approx(math.exp(-2.0), abs=1e-12)
    assert ch10.confidence(flat, flat, inside, 1.0)[1, 2] == 1.0       # exact match: full trust


def test_blend_hand_values():
    ab_warp = np.full((1, 2, 2), 10.0)
    ab_model = np.full((1, 2, 2), -10.0)
    c = np.array([[1.0, 0.5]])
    out = ch10.blend(ab_warp, ab_model, c, 0.5, 0.35)
    # w c = 0.5: (10 - 10) / 2 = 0; w c = 0.25: 0.25 * 10 + 0.75 * -10 = -5
    np.testing.assert_allclose(out[0, :, 0], [0.0, -5.0])
    # mean c = 0.25 < 0.4: a scene cut, the model's colours alone
    np.testing.assert_array_equal(ch10.blend(ab_warp, ab_model, c * 0.5, 0.85, 0.4), ab_model)
    np.testing.assert_array_equal(ch10.blend(ab_warp, ab_model, c, 0.0, 0.35), ab_model)   # w = 0: per-frame


def test_confidence_agrees_with_temporal_propagation():
    for shift, sigma in ((2.0, 4.0), (3.5, 2.0)):
        l_previous, l_now = _textured_pair(shift)
        propagation = video.TemporalPropagation(sigma=sigma)
        map_x, map_y, c = propagation.confidence(l_now, l_previous)
        _, _, inside, l_warp, _ = _maps(l_now, l_previous)
        assert not inside.all() and inside.mean() > 0.8        # the pan brings new content in at one edge
        np.testing.assert_allclose(ch10.confidence(l_now, l_warp, inside, sigma), c, atol=1e-5)


def test_blend_agrees_with_temporal_propagation_and_detects_the_cut():
    rng = np.random.default_rng(1)
    l_previous, l_now = _textured_pair(2.0)
    ab_previous = rng.uniform(-50, 50, l_now.shape + (2,)).astype(np.float32)
    ab_model = rng.uniform(-50, 50, l_now.shape + (2,)).astype(np.float32)
    propagation = video.TemporalPropagation(weight=0.85)
    propagation.set_state({"l": l_previous, "ab": ab_previous})
    expected, stats = propagation(l_now, ab_model)
    assert not stats.cut
    map_x, map_y, inside, l_warp, _ = _maps(l_now, l_previous)
    ab_warp = cv2.remap(ab_previous, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    c = ch10.confidence(l_now, l_warp, inside, video.CONSISTENCY_SIGMA)
    np.testing.assert_allclose(ch10.blend(ab_warp, ab_model, c, 0.85, video.CUT_THRESHOLD), expected, atol=1e-3)
    # another picture: nothing survives the warp, both call it a cut and return the model's colours
    other = np.asarray(_textured_pair(0.0, seed=5)[0])
    propagation.set_state({"l": l_previous, "ab": ab_previous})
    expected, stats = propagation(other, ab_model)
    _, _, inside, l_warp, c_ref = _maps(other, l_previous)
    c = ch10.confidence(other, l_warp, inside, video.CONSISTENCY_SIGMA)
    assert stats.cut and c.mean() < video.CUT_THRESHOLD
    np.testing.assert_allclose(ch10.blend(ab_previous, ab_model, c, 0.85, video.CUT_THRESHOLD), expected)


@pytest.mark.parametrize("name, wrong", [
    ("confidence", lambda l_now, l_warp, inside, sigma: np.exp(-(l_now - l_warp) ** 2 / (2 * sigma ** 2))),
    ("confidence", lambda l_now, l_warp, inside, sigma: np.exp(-(l_now - l_warp) ** 2 / sigma) * inside),
    ("blend", lambda ab_warp, ab_model, c, w, cut: w * c[..., None] * ab_warp + (1 - w * c[..., None]) * ab_model),
    ("blend", lambda ab_warp, ab_model, c, w, cut: ab_model if c.mean() < cut else w * ab_warp + (1 - w) * ab_model),
])
def test_plausible_mistakes_are_rejected(name, wrong):
    with pytest.raises(ExerciseError, match=f"^✗ {name}: case "):
        ch10.check(name, wrong)
