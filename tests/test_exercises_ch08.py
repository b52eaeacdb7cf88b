"""Chapter 08's exercise solutions against hand values and against colorlab.losses (an independent implementation).

The generic checks (reference passes, wrong answers rejected, ...) run in tests/test_exercises.py.
"""

import math

import numpy as np
import pytest

from colorlab.exercises import ch08


def test_total_generator_loss_hand_values():
    weights = {"reconstruction": 1.0, "histogram": 0.5, "classification": 0.01, "adversarial": 0.01, "tv": 0.1}
    terms = {"reconstruction": 0.1623, "histogram": 0.3258, "classification": 2.9869, "adversarial": 0.8670,
             "tv": 0.0372}
    assert float(ch08.total_generator_loss(terms, weights)) == pytest.approx(0.367459, abs=1e-12)
    # an absent term adds nothing; a zero weight switches a present one off
    assert float(ch08.total_generator_loss({"reconstruction": 0.2, "tv": 0.5}, {"reconstruction": 2.0, "tv": 0.0,
                                                                                 "histogram": 9.0})) == 0.4
    assert float(ch08.total_generator_loss({}, weights)) == 0.0
    with pytest.raises(KeyError):
        ch08.total_generator_loss({"gan": 1.0}, weights)


def test_discriminator_bce_hand_values():
    zeros = np.zeros((1, 2, 2, 1))
    assert float(ch08.discriminator_bce(zeros, zeros)) == pytest.approx(2 * math.log(2), abs=1e-12)
    # one real logit ln 3 (σ = 3/4) and one fake logit −ln 3 (σ = 1/4): −log ¾ − log(1 − ¼) = 2 log(4/3)
    r, f = np.array([math.log(3.0)]), np.array([-math.log(3.0)])
    assert float(ch08.discriminator_bce(r, f)) == pytest.approx(2 * math.log(4 / 3), abs=1e-12)
    big = np.full((3,), 800.0)   # no overflow: softplus(800) = 800, softplus(−800) = 0
    assert float(ch08.discriminator_bce(big, big)) == pytest.approx(800.0, abs=1e-9)


def test_solutions_agree_with_colorlab_losses():
    losses = pytest.importorskip("colorlab.losses")
    from keras import ops

    rng = np.random.default_rng(0)
    real = rng.normal(0.5, 1.5, size=(2, 3, 3, 1)).astype(np.float32)
    fake = rng.normal(-0.5, 1.5, size=(2, 3, 3, 1)).astype(np.float32)
    expected = float(ops.convert_to_numpy(losses.discriminator_loss(real, fake, "bce")))
    assert float(ch08.discriminator_bce(real, fake)) == pytest.approx(expected, rel=1e-5)

    # generator_loss's total is Σ weights · (its returned unweighted terms) on a tiny toy batch
    outputs = {"ab": rng.uniform(-0.5, 0.5, size=(2, 8, 8, 2)).astype(np.float32)}
    target_ab = rng.uniform(-0.5, 0.5, size=(2, 8, 8, 2)).astype(np.float32)
    reference_ab = rng.uniform(-0.5, 0.5, size=(2, 8, 8, 2)).astype(np.float32)
    weights = {"reconstruction": 1.0, "histogram": 0.5, "classification": 0.01, "adversarial": 0.01, "tv": 0.1}
    total, terms = losses.generator_loss(outputs, target_ab, reference_ab, None, fake, weights,
                                         scale_weights=(1.0, 0.0, 0.0))
    terms = {name: float(ops.convert_to_numpy(value)) for name, value in terms.items()}
    assert set(terms) == {"reconstruction", "histogram", "adversarial", "tv"}   # no logits: no classification
    assert float(ch08.total_generator_loss(terms, weights)) == pytest.approx(
        float(ops.convert_to_numpy(total)), rel=1e-5)
