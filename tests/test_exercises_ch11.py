"""Chapter 11's exercise solutions against hand values and against the package they teach."""

import numpy as np
import pytest

from colorlab.exercises import ch11


def test_self_pair_hand_values_and_mirror():
    reference = np.arange(4 * 5 * 3, dtype=np.float64).reshape(4, 5, 3)
    crop = ch11.self_pair(reference, 1, 2, 3, False)
    assert crop.shape == (3, 3, 3) and np.array_equal(crop, reference[1:4, 2:5])
    mirrored = ch11.self_pair(reference, 1, 2, 3, True)
    assert np.array_equal(mirrored[:, 0], reference[1:4, 4]) and np.array_equal(mirrored[:, ::-1], crop)


def test_reference_pairs_are_resized_self_pairs():
    """A crop the size of the model's input needs no resizing: reference_pairs then gives exactly a self pair."""
    from colorlab.adapt import reference_pairs

    rng = np.random.default_rng(3)
    reference = rng.uniform(-1, 1, size=(16, 16, 3)).astype(np.float32)
    pairs = reference_pairs(reference, 6, 16, np.random.default_rng(0), min_crop=1.0)   # side 16: the whole photo
    for l, ab in zip(pairs["target_l"], pairs["target_ab"]):
        got = np.concatenate([l, ab], axis=-1)
        candidates = [ch11.self_pair(reference, 0, 0, 16, mirror) for mirror in (False, True)]
        assert any(np.allclose(got, c, atol=1e-5) for c in candidates)


def test_match_score_hand_value_and_agreement_with_colorizer_match(weights):
    assert float(ch11.match_score(np.array([[0.2, 0.9, -0.1], [0.5, 0.4, 0.3]]))) == pytest.approx(0.7)
    from colorlab.inference import Colorizer
    from colorlab.models import explain

    colorizer = Colorizer(str(weights))
    rng = np.random.default_rng(1)
    l_small = rng.uniform(0, 100, size=(32, 32)).astype(np.float32)
    reference_lab = colorizer.prepare_reference(rng.uniform(0, 1, size=(40, 48, 3)).astype(np.float32))
    info = explain(colorizer.trained, (l_small / 50.0 - 1.0)[None, ..., None], reference_lab[None], per_level=False)
    assert float(ch11.match_score(info["correlation"][0])) == pytest.approx(colorizer.match(l_small, reference_lab),
                                                                            abs=1e-6)
