"""colorlab.course.ch07_losses (chapter 07's weight playground) and the chapter 07 exercise solutions.

The training tests share one tiny batch (two photos, 32 px) so the compiled step is traced once per session.
"""

import keras
import numpy as np
import pytest

from colorlab import losses
from colorlab.course import ch07_losses as course07
from colorlab.errors import ConfigError

PHOTOS = ("parrot", "lake_1")


@pytest.fixture(scope="module")
def batch():
    return course07.make_batch(PHOTOS, size=32)


@pytest.fixture(scope="module")
def defaults_run(batch):
    """All five terms on (the adversarial one larger than the default so the discriminator matters)."""
    weights = {"reconstruction": 1.0, "histogram": 0.5, "classification": 0.01, "adversarial": 0.1, "tv": 0.1}
    return course07.train_briefly(weights, steps=6, seed=3, batch=batch)


# ---- make_batch -------------------------------------------------------------------------------------------------

def test_make_batch_shapes_ranges_and_ground_truth(batch):
    assert batch["target_l"].shape == (2, 32, 32, 1)
    assert batch["target_ab"].shape == (2, 32, 32, 2)
    assert batch["reference_lab"].shape == (2, 32, 32, 3)
    assert batch["labels"].tolist() == [0, 1]
    assert batch["names"] == list(PHOTOS)
    assert -1.0 <= batch["target_l"].min() and batch["target_l"].max() <= 1.0
    assert np.abs(batch["target_ab"]).max() <= 1.0
    # L and ab put back together give the target photo (the ground truth is the photo's own colour).
    np.testing.assert_allclose(course07.to_rgb(batch["target_l"], batch["target_ab"]), batch["target_rgb"],
                               atol=2e-3)
    # The parrot is colourful, and the reference carries the same colours (mean ab within 10 Lab units).
    assert np.abs(batch["target_ab"][0]).mean() * 110 > 10
    np.testing.assert_allclose(batch["reference_lab"][..., 1:].mean(axis=(1, 2)) * 110,
                               batch["target_ab"].mean(axis=(1, 2)) * 110, atol=10.0)


def test_make_batch_full_crop_reference_is_the_mirrored_target():
    # fruit_1 is 512 × 338 and 338 = 13 · 26: each output pixel averages exactly 26 × 26 pixels, so the
    # box resize commutes with the flip.
    batch = course07.make_batch(["fruit_1"], size=13, crop=1.0)
    np.testing.assert_allclose(batch["reference_rgb"], batch["target_rgb"][:, :, ::-1], atol=1e-6)
    other = course07.make_batch(["fruit_1"], size=16, reference_size=24)
    assert other["reference_lab"].shape == (1, 24, 24, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(names=["no_such_photo"]), "no sample photo named 'no_such_photo'"),
    (dict(names=[]), "at least one"),
    (dict(size=4), "size must be an integer >= 8"),
    (dict(crop=0.0), "crop must be a fraction"),
])
def test_make_batch_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        course07.make_batch(**kwargs)


# ---- train_briefly ----------------------------------------------------------------------------------------------

def test_history_layout_and_finite_values(defaults_run, batch):
    history = defaults_run
    assert list(history["terms"]) == list(losses.TERMS)
    assert history["steps"] == 6
    for values in (*history["terms"].values(), history["total"], history["discriminator"]):
        assert values.shape == (6,)
        assert np.all(np.isfinite(values))
    for key in ("initial_ab", "prediction_ab"):
        assert history[key].shape == (2, 32, 32, 2)
        assert np.all(np.abs(history[key]) <= 1.0)
    for key in ("initial_rgb", "prediction_rgb"):
        assert history[key].shape == (2, 32, 32, 3)
        assert 0.0 <= history[key].min() and history[key].max() <= 1.0
    assert not np.allclose(history["initial_ab"], history["prediction_ab"])  # training moved the output
    # The total is the weighted sum of the unweighted terms.
    expected = sum(history["weights"][name] * values for name, values in history["terms"].items())
    np.testing.assert_allclose(history["total"], expected, rtol=1e-5)


def test_recorded_terms_are_the_losses_of_the_recorded_output(defaults_run, batch):
    """Step 0's histogram and TV terms, recomputed with colorlab.losses on the returned initial output."""
    history = defaults_run
    reference_ab = batch["reference_lab"][..., 1:]
    hist = float(losses.histogram_loss(history["initial_ab"], reference_ab))
    tv = float(losses.total_variation(history["initial_ab"]))
    assert history["terms"]["histogram"][0] == pytest.approx(hist, rel=1e-4)
    assert history["terms"]["tv"][0] == pytest.approx(tv, rel=1e-4)


def test_same_seed_same_history_even_after_another_run(defaults_run, batch):
    weights = defaults_run["weights"]
    other = course07.train_briefly({"histogram": 1.0}, steps=3, seed=4, batch=batch)    # other seed, other state
    again = course07.train_briefly(weights, steps=6, seed=3, batch=batch)
    for name in losses.TERMS:
        np.testing.assert_array_equal(again["terms"][name], defaults_run["terms"][name])
    np.testing.assert_array_equal(again["discriminator"], defaults_run["discriminator"])
    np.testing.assert_array_equal(again["prediction_ab"], defaults_run["prediction_ab"])
    assert not np.allclose(other["initial_ab"], defaults_run["initial_ab"])  # another seed, another init


def test_zero_weight_removes_the_term_and_reconstruction_decreases(batch):
    history = course07.train_briefly({"reconstruction": 1.0, "histogram": 0.0, "tv": 0.2}, steps=20, seed=0,
                                     batch=batch)
    assert list(history["terms"]) == ["reconstruction", "tv"]
    assert "discriminator" not in history
    assert history["weights"] == {"reconstruction": 1.0, "histogram": 0.0, "classification": 0.0,
                                  "adversarial": 0.0, "tv": 0.2}
    rec = history["terms"]["reconstruction"]
    assert rec[-5:].mean() < 0.9 * rec[:5].mean(), rec


def test_weights_coerce_like_loss_weights(batch):
    history = course07.train_briefly(None, steps=1, seed=0, batch=batch)
    assert history["weights"] == losses.LossWeights().as_dict()
    assert set(history["terms"]) == set(losses.TERMS)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights={"reconstruction": 0.0}), "every loss weight is 0"),
    (dict(weights={"recon": 1.0}), "unknown loss weight"),
    (dict(weights={"tv": -1.0}), "must be a finite number >= 0"),
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(learning_rate=0.0), "learning_rate must be a positive number"),
    (dict(adversarial_kind="wgan"), "adversarial_kind must be one of"),
    (dict(batch={"target_l": np.zeros((1, 32, 32, 1))}), "batch lacks"),
    (dict(config="huge"), "unknown config"),
])
def test_train_briefly_rejects_bad_arguments(kwargs, match, batch):
    kwargs.setdefault("batch", batch)
    with pytest.raises(ConfigError, match=match):
        course07.train_briefly(**kwargs)


def test_train_briefly_refuses_backends_other_than_tensorflow_and_jax(monkeypatch, batch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    course07.clear_cache()   # the step is made (and the backend checked) once per configuration
    with pytest.raises(ConfigError, match="'tensorflow' and 'jax'"):
        course07.train_briefly(batch=batch)


# ---- figures ----------------------------------------------------------------------------------------------------

def test_figures_have_titles_and_labels(defaults_run, batch):
    plt = pytest.importorskip("matplotlib.pyplot")
    ax = course07.plot_history(defaults_run, relative=True)
    assert ax.get_xlabel() == "training step" and "step 0" in ax.get_ylabel()
    assert {text.get_text() for text in ax.get_legend().get_texts()} == {*losses.TERMS, "discriminator", "total"}
    fig = course07.show_results(batch, {"run": defaults_run})
    assert len(fig.axes) == 2 * 4  # two photos × (gray, reference, run, ground truth)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["gray target (input)", "reference", "run", "ground truth"]
    fig2 = course07.plot_run(batch, defaults_run)
    assert len(fig2.axes) == 1 + 3 * 2
    plt.close("all")


# ---- chapter 07 exercises: reference solutions against hand values and colorlab.losses -------------------------

def test_ch07_smooth_l1_hand_values_and_losses():
    from colorlab.exercises.ch07 import smooth_l1

    x = np.array([0.0, 0.02, -0.05, 0.1, -0.3])
    np.testing.assert_allclose(smooth_l1(x), [0.0, 0.004, 0.025, 0.075, 0.275], atol=1e-12)
    # Continuous value and slope at |x| = δ.
    delta, h = 0.2, 1e-7
    assert smooth_l1(delta - h, delta) == pytest.approx(smooth_l1(delta + h, delta), abs=1e-6)
    rng = np.random.default_rng(0)
    pred, target = rng.normal(0, 0.2, (2, 4, 4, 2)), rng.normal(0, 0.2, (2, 4, 4, 2))
    assert float(np.mean(smooth_l1(pred - target, 0.1))) == pytest.approx(
        float(losses.smooth_l1(pred.astype("float32"), target.astype("float32"), 0.1)), rel=1e-5)


def test_ch07_chi_square_hand_values_and_losses():
    from colorlab.exercises.ch07 import chi_square

    p = np.array([[0.5, 0.5, 0.0, 0.0], [0.2, 0.3, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0]])
    q = np.array([[0.25, 0.25, 0.5, 0.0], [0.2, 0.3, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(chi_square(p, q), [1 / 3, 0.0, 1.0], atol=1e-5)  # hand, equal, disjoint
    np.testing.assert_allclose(chi_square(p, q), losses.chi_square_distance(p.astype("float32"),
                                                                            q.astype("float32")), atol=1e-6)


def test_ch07_total_variation_hand_values_and_losses():
    from colorlab.exercises.ch07 import total_variation

    assert float(total_variation(np.array([[0.0, 1.0], [0.0, 1.0]]).reshape(1, 2, 2, 1))) == pytest.approx(0.5)
    # A ramp rising by 0.1 per column and constant down the rows: 3·3 horizontal jumps of 0.1, 2·4 vertical of 0
    ramp = np.tile(np.arange(4) * 0.1, (3, 1)).reshape(1, 3, 4, 1)
    assert float(total_variation(ramp)) == pytest.approx(0.9 / 17)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.3, (2, 5, 4, 2))
    assert float(total_variation(x)) == pytest.approx(float(losses.total_variation(x.astype("float32"))), rel=1e-5)
