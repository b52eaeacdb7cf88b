"""colorlab.baselines: shapes, L* kept exactly, determinism, a synthetic case with a known answer, errors."""

import numpy as np
import pytest
from skimage import color as skcolor

from colorlab import baselines
from colorlab.cie import lab_to_rgb_keep_l, lightness, rgb_to_lab_np
from colorlab.errors import ConfigError

DARK_RED = np.array([0.6, 0.05, 0.05])
BRIGHT_BLUE = np.array([0.45, 0.65, 1.0])


def _photo(seed=0, shape=(20, 26, 3)):
    """A smooth random colour image (random ab, varied L)."""
    rng = np.random.default_rng(seed)
    small = rng.random((4, 5, 3))
    rows = np.linspace(0, 3, shape[0])[:, None].round().astype(int)
    cols = np.linspace(0, 4, shape[1])[None, :].round().astype(int)
    return np.clip(small[rows, cols] + 0.05 * rng.standard_normal(shape), 0, 1)


def _l_star(rgb):
    return skcolor.rgb2lab(np.asarray(rgb, np.float64))[..., 0]       # independent L*


@pytest.mark.parametrize("name", sorted(baselines.BASELINES))
def test_shape_range_and_lightness_kept(name):
    fn = baselines.BASELINES[name]
    target_rgb = _photo(0)
    reference = _photo(1, shape=(15, 31, 3))
    for target in (target_rgb, skcolor.rgb2gray(target_rgb), skcolor.rgb2gray(target_rgb)[..., None]):
        out = fn(target, reference)
        assert out.shape == target_rgb.shape[:2] + (3,)
        assert out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert np.max(np.abs(_l_star(out) - lightness(target))) < 1e-3


def test_gray_is_the_gray_image():
    g = skcolor.rgb2gray(_photo(0))
    np.testing.assert_array_equal(baselines.gray(g), np.repeat(g[..., None], 3, -1).astype(np.float32))
    ab = rgb_to_lab_np(baselines.gray(_photo(0)).astype(np.float64))[..., 1:]
    assert np.max(np.abs(ab)) < 0.02                   # no chroma (up to the sRGB white's 0.005 offset)


def test_global_mean_ab_is_the_reference_mean():
    target = np.full((6, 7), 0.5)
    reference = _photo(2)
    out = baselines.global_mean_ab(target, reference)
    expected = skcolor.rgb2lab(reference)[..., 1:].reshape(-1, 2).mean(0)
    ab = skcolor.rgb2lab(out.astype(np.float64))[..., 1:]
    np.testing.assert_allclose(ab, np.broadcast_to(expected, ab.shape), atol=0.05)


def test_lab_to_rgb_keep_l_reduces_chroma_only_when_needed():
    L = np.array([50.0, 50.0, 95.0])
    ab = np.array([[10.0, 10.0], [110.0, 110.0], [-80.0, 90.0]])         # in gamut, out, out
    rgb = lab_to_rgb_keep_l(L, ab)
    lab = skcolor.rgb2lab(rgb)
    np.testing.assert_allclose(lab[:, 0], L, atol=1e-3)
    np.testing.assert_allclose(lab[0, 1:], ab[0], atol=1e-3)
    for i in (1, 2):                                   # same hue, less chroma
        assert np.hypot(*lab[i, 1:]) < np.hypot(*ab[i])
        cross = ab[i, 0] * lab[i, 2] - ab[i, 1] * lab[i, 1]
        assert abs(cross) / (np.hypot(*ab[i]) * np.hypot(*lab[i, 1:])) < 1e-3


def test_welsh_deterministic_with_seed():
    target, reference = skcolor.rgb2gray(_photo(0)), _photo(1, shape=(30, 30, 3))
    a = baselines.welsh(target, reference, seed=3)
    np.testing.assert_array_equal(a, baselines.welsh(target, reference, seed=3))
    assert not np.array_equal(a, baselines.welsh(target, reference, seed=4))


def test_welsh_transfers_the_matching_colours():
    # reference: left half dark red, right half bright blue; target: the same two lightnesses, as top/bottom halves
    reference = np.zeros((24, 32, 3))
    reference[:, :16] = DARK_RED
    reference[:, 16:] = BRIGHT_BLUE
    l_red, l_blue = _l_star(DARK_RED), _l_star(BRIGHT_BLUE)
    target_l = np.where(np.arange(20)[:, None] < 10, l_red, l_blue) * np.ones((20, 28))
    target = skcolor.lab2rgb(np.stack([target_l, 0 * target_l, 0 * target_l], -1))     # the gray with that L*
    out = baselines.welsh(target, reference, samples=50).astype(np.float64)
    # away from the edge (where the 5x5 std is 0, as in the reference's flat regions) colours are exact
    np.testing.assert_allclose(out[:7], np.broadcast_to(DARK_RED, (7, 28, 3)), atol=2e-3)
    np.testing.assert_allclose(out[13:], np.broadcast_to(BRIGHT_BLUE, (7, 28, 3)), atol=2e-3)


def test_local_std_matches_a_direct_computation():
    x = np.random.default_rng(6).random((7, 9))
    padded = np.pad(x, 2, mode="symmetric")
    direct = np.array([[padded[i:i + 5, j:j + 5].std() for j in range(9)] for i in range(7)])
    np.testing.assert_allclose(baselines.local_std(x, 5), direct, atol=1e-9)
    with pytest.raises(ConfigError, match="odd"):
        baselines.local_std(x, 4)


def test_bad_inputs_raise_config_error():
    reference = _photo(1)
    with pytest.raises(ConfigError, match="target"):
        baselines.welsh(np.zeros((4, 4, 2)), reference)
    with pytest.raises(ConfigError, match="reference"):
        baselines.welsh(np.zeros((4, 4)), reference[..., 0])
    with pytest.raises(ConfigError, match="reference"):
        baselines.global_mean_ab(np.zeros((4, 4)), reference * 2)
    with pytest.raises(ConfigError, match="dtype"):
        baselines.gray(np.zeros((4, 4), np.uint8))
    with pytest.raises(ConfigError, match="samples"):
        baselines.welsh(np.zeros((4, 4)), reference, samples=0)
