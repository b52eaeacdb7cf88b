"""Exercises of chapter 08 (training), checked by :func:`check`.

In ``notebooks/08_training.ipynb`` the student writes each function in plain Python/NumPy and calls::

    from colorlab.exercises import ch08
    total_generator_loss = ch08.check("total_generator_loss", total_generator_loss)

Exercises (name: what the student writes):

* ``"total_generator_loss"``: ``total_generator_loss(terms, weights) -> float`` — the generator's loss
  ``Σ_t w_t · L_t`` from a dict of **unweighted** term values (what :func:`colorlab.losses.generator_loss` returns
  beside the total, and what ``metrics.csv`` logs) and a dict of weights (``config.loss_weights``). A term that
  was not computed (weight 0, or a config without a classification head) is absent from ``terms`` and adds
  nothing; a weight without a term is ignored.

Build it, in Keras (a class, checked against :class:`colorlab.step.GanStep` on the same models and batch):

* ``"GanStep"``: a subclass of :class:`colorlab.step.GanStep` whose ``gradients(state, batch)`` the student
  writes: the generator's forward pass and weighted loss through ``stateless_call``, its gradient, the
  discriminator's loss on the real and the (detached) generated colourings in one call, its gradient. Every
  loss, gradient and new non-trainable value must match the package's. The notebook then trains with it
  (``Trainer(..., step_class=...)``).

The discriminator's loss is not an exercise here: the student wrote it in chapter 07 (``"discriminator_loss"``).
The reference solution of the NumPy exercise is written independently of :mod:`colorlab.losses` (the tests compare
the two).
"""

import numpy as np

from colorlab.exercises import BuildCase, BuildExercise, Exercise, Probe, make_checker
from colorlab.step import GanStep

__all__ = ["total_generator_loss", "EXERCISES", "check"]


def total_generator_loss(terms, weights):
    """The generator's total loss ``Σ_t w_t · L_t`` over the terms that were computed.

    Args:
        terms: dict ``{term name: unweighted value}`` (floats), e.g. ``{"reconstruction": 0.16, "tv": 0.037}``;
            the names are those of :data:`colorlab.losses.TERMS`.
        weights: dict ``{term name: weight}``; must have a weight for every key of ``terms`` (it may have more).

    Returns:
        float (a 0-d float64 array).
    """
    return np.asarray(sum(float(weights[name]) * float(value) for name, value in terms.items()), dtype=np.float64)


#: The default weights of :class:`colorlab.losses.LossWeights` (ours; see chapter 07).
_DEFAULT_WEIGHTS = {"reconstruction": 1.0, "histogram": 0.5, "classification": 0.01, "adversarial": 0.01,
                    "tv": 0.1}


class _TinyGan:
    """The tiny generator and discriminator both steps share (made on first use: building them takes a second)."""

    def __init__(self):
        self.models = None

    def build(self, step_class):
        import keras

        from colorlab.models import PatchDiscriminator, build_gray2colornet, get_config
        from colorlab.step import set_seed

        if self.models is None:
            config = get_config("tiny", num_classes=3)
            set_seed(8)
            generator = build_gray2colornet(config)
            discriminator = PatchDiscriminator.from_model_config(config)
            discriminator(keras.KerasTensor((1, config.image_size, config.image_size, 3)))
            self.models = (generator, discriminator, config.loss_weights)
        generator, discriminator, weights = self.models
        optimizers = [keras.optimizers.Adam(1e-3) for _ in range(2)]
        optimizers[0].build(generator.trainable_variables)
        optimizers[1].build(discriminator.trainable_variables)
        return step_class(generator, discriminator, *optimizers, weights, compile=False)


def _step_probe(rng):
    batch = {"target_l": rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32"),
             "reference_lab": rng.uniform(-0.5, 0.5, (2, 32, 32, 3)).astype("float32"),
             "target_ab": rng.uniform(-0.3, 0.3, (2, 32, 32, 2)).astype("float32"),
             "label": np.array([0, 2], "int32")}
    return Probe("gradients(state, batch)", lambda gan, batch: gan.gradients(gan.state(), batch), (batch,), (),
                 ("batch",))


def _cases():
    rng = np.random.default_rng(8)
    # Hand value (a row of a laptop run's metrics.csv, rounded): 0.1623 + 0.5·0.3258 + 0.01·2.9869 + 0.01·0.8670
    # + 0.1·0.0372 = 0.1623 + 0.1629 + 0.029869 + 0.00867 + 0.00372 = 0.367459.
    logged = {"reconstruction": 0.1623, "histogram": 0.3258, "classification": 2.9869, "adversarial": 0.8670,
              "tv": 0.0372}
    # No classification head (the tiny config): the term is absent and adds nothing; 1·0.2 + 2·0.5 + 0.1·0.03.
    no_head = {"reconstruction": 0.2, "histogram": 0.5, "adversarial": 0.7, "tv": 0.03}
    no_head_weights = {"reconstruction": 1.0, "histogram": 2.0, "classification": 5.0, "adversarial": 0.0,
                       "tv": 0.1}
    step_probe = _step_probe(rng)
    return [
        BuildExercise("GanStep", GanStep, [BuildCase(_TinyGan().build, [step_probe])],
                      rtol=1e-4, atol=1e-5),
        Exercise("total_generator_loss", total_generator_loss,
                 [(logged, _DEFAULT_WEIGHTS), (no_head, no_head_weights)], rtol=1e-9, atol=1e-9),
    ]


EXERCISES = _cases()
check = make_checker(EXERCISES, "ch08")
