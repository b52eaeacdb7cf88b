"""Chapter 08's exercise solutions against hand values and against colorlab.losses (an independent implementation).

The generic checks (reference passes, wrong answers rejected, ...) run in tests/test_exercises.py.
"""

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


def test_solution_agrees_with_colorlab_losses():
    losses = pytest.importorskip("colorlab.losses")
    from keras import ops

    rng = np.random.default_rng(0)
    fake = rng.normal(-0.5, 1.5, size=(2, 3, 3, 1)).astype(np.float32)
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
