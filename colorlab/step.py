"""One GAN training step for Gray2ColorNet and its patch discriminator, the same code on TensorFlow and on JAX.

:class:`GanStep` is the step that :class:`colorlab.train.Trainer` runs for real training and that chapter 07's
playground (:func:`colorlab.course.ch07_losses.train_briefly`) runs for its few-step demonstrations::

    import keras
    from colorlab.models import PatchDiscriminator, build_gray2colornet
    from colorlab.step import GanStep

    generator = build_gray2colornet("tiny")
    discriminator = PatchDiscriminator.from_model_config("tiny")
    discriminator(keras.KerasTensor((1, 32, 32, 3)))
    step = GanStep(generator, discriminator, keras.optimizers.Adam(2e-4, beta_1=0.5),
                   keras.optimizers.Adam(2e-4, beta_1=0.5))
    losses, ab = step.run(batch)     # batch: {"target_l", "reference_lab", "target_ab", "label"}
    step.sync()                      # the Keras variables hold the new weights

How a step works (all of it is ours: the paper, Lu et al., ACM MM 2020, releases test code only)
--------------------------------------------------------------------------------------------------
One forward pass of the generator on the batch gives the colourings. From it:

* the **generator gradient** differentiates :func:`colorlab.losses.generator_loss` (the paper's five terms,
  weighted; the adversarial term through the discriminator, whose power-iteration vector is not moved) with
  respect to the generator's weights;
* the **discriminator gradient** differentiates :func:`colorlab.losses.discriminator_loss` on the ground truth
  (real) and on the same colourings, detached (fake), with respect to the discriminator's weights, in one call on
  both halves (so its spectral-norm power iteration advances once per step).

Both gradients are taken at the same weights, then each optimizer applies its own (pix2pix's TensorFlow tutorial
does the same; it costs one generator pass per step instead of two).

Backend-neutral by construction: the models run through Keras 3's *stateless* API
(``model.stateless_call(trainable, non_trainable, inputs)`` returns the outputs and the new non-trainable values,
here the discriminator's power-iteration vectors), so the losses and gradients are one code on every backend. The
backend-specific pieces are small: how a gradient is taken (:func:`value_and_grad`: ``jax.value_and_grad`` on JAX,
``tf.GradientTape`` on TensorFlow), how the step is compiled (``jax.jit`` / ``tf.function``) and how the update is
applied. The **state** of a step is a tuple of six lists of arrays (see :meth:`GanStep.variables`):

* :meth:`GanStep.gradients` ``(state, batch) -> StepGradients`` and :meth:`GanStep.apply`
  ``(state, gradients) -> new state`` are pure functions of it; :meth:`GanStep.stateless_train_step` chains them,
  ``(state, batch) -> (new state, losses, ab)``, which ``jax.jit`` compiles as a whole. Keras 3.15 refuses
  ``optimizer.stateless_apply`` on TensorFlow (it does not mix with ``tf.distribute``), so there
  :meth:`GanStep.train_step` reads the state from the variables, takes the same gradients and lets
  ``optimizer.apply`` update the variables in place (``tf.function`` compiles it; eagerly it runs on any backend).
* :meth:`GanStep.run` is the compiled step for the current backend. On JAX the state then lives in arrays between
  steps; :meth:`GanStep.sync` writes it back into the Keras variables (before saving, exporting, evaluating, or
  changing the variables from outside).

Loss weights: fixed ones (a :class:`colorlab.losses.LossWeights`: a term weighted 0 is not computed), or, per call,
a ``(5,)`` tensor in :data:`colorlab.losses.TERMS` order. A tensor enters a compiled step as an input, so one trace
serves every weight setting (the playground's sliders): every term is computed and the total is ``Σ_t w_t · L_t``.

Precision: under a ``mixed_bfloat16`` policy the models compute in bfloat16; their outputs are cast to float32
before the losses, which are always float32.
"""

from __future__ import annotations

import random
from typing import NamedTuple

import numpy as np

from colorlab.errors import ConfigError
from colorlab.quiet import filtered_stderr

__all__ = ["GanStep", "StepGradients", "value_and_grad", "set_seed", "BATCH_KEYS"]

#: The arrays a batch holds (:class:`colorlab.data.PairDataset`'s inputs and targets, merged).
BATCH_KEYS = ("target_l", "reference_lab", "target_ab", "label")


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _unsupported(backend: str) -> ConfigError:
    return ConfigError(f"colorlab trains on the 'tensorflow' and 'jax' Keras backends, not {backend!r} "
                       "(set KERAS_BACKEND)")


def value_and_grad(loss_fn, params):
    """``((value, aux), grads)`` of ``loss_fn(params) -> (scalar, aux)`` with respect to ``params`` (a list).

    Keras 3 has no backend-neutral gradient call; this is ours: ``jax.value_and_grad`` on JAX, ``tf.GradientTape``
    on TensorFlow. A parameter the loss does not reach gets a zero gradient (on both backends).

    Args:
        loss_fn: maps a list of tensors like ``params`` to ``(scalar tensor, anything)``.
        params: list of tensors (not Keras variables: their current values).

    Returns:
        ``((value, aux), grads)``, ``grads`` a list in the order of ``params``.

    Raises:
        ConfigError: another backend.
    """
    backend = _backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(loss_fn, has_aux=True)(list(params))
    if backend == "tensorflow":
        import tensorflow as tf

        params = list(params)
        with tf.GradientTape() as tape:
            tape.watch(params)
            value, aux = loss_fn(params)
        grads = tape.gradient(value, params, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return (value, aux), list(grads)
    raise _unsupported(backend)


def set_seed(seed: int) -> None:
    """Seeds everything random in training, without importing TensorFlow on another backend.

    On TensorFlow: ``keras.utils.set_random_seed(seed)`` (Python's, NumPy's, TensorFlow's and Keras' generators)
    and ``tf.config.experimental.enable_op_determinism()`` (no non-deterministic kernels: the same inputs give
    bitwise the same outputs; it stays on for the process). On other backends Keras' call would import TensorFlow
    whenever it is installed (to seed ``tf.data``); here it is not needed, so Python's and NumPy's global generators
    are seeded directly: Keras draws every initialiser's seed from Python's, so the initial weights are a function
    of ``seed`` just the same.
    """
    import keras

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"set_seed: seed must be an integer >= 0, got {seed!r}")
    if _backend() == "tensorflow":
        import tensorflow as tf

        keras.utils.set_random_seed(int(seed))
        tf.config.experimental.enable_op_determinism()
    else:
        random.seed(int(seed))
        np.random.seed(int(seed))


def _shape_of(value) -> tuple:
    """A batch entry's shape; for a ``tf.distribute`` ``PerReplica`` value, the shapes of its replicas' parts."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return tuple(_shape_of(part) for part in getattr(value, "values", ()))
    return tuple(shape)


class StepGradients(NamedTuple):
    """What :meth:`GanStep.gradients` returns (a tuple, so ``jax.jit`` and ``tf.function`` pass it through).

    Attributes:
        generator, discriminator: gradients, in the order of each model's ``trainable_variables``.
        generator_non_trainable, discriminator_non_trainable: the models' non-trainable values after this step's
            forward passes (the discriminator's power-iteration vectors).
        losses: float32 scalars: ``"loss"`` (the generator's weighted total), each computed term of
            :data:`colorlab.losses.TERMS` (unweighted) and ``"d_loss"`` (the discriminator's).
        ab: the generator's output ``(N, H, W, 2)`` (model units, float32) at the step's weights (None when the
            gradients were averaged over replicas).
    """

    generator: list
    discriminator: list
    generator_non_trainable: list
    discriminator_non_trainable: list
    losses: dict
    ab: object


class GanStep:
    """The training step of Gray2ColorNet and its patch discriminator (see the module docstring).

    Args:
        generator: a built :class:`colorlab.models.Gray2ColorNet`.
        discriminator: a built :class:`colorlab.models.PatchDiscriminator`.
        g_optimizer, d_optimizer: Keras optimizers, built on the models' ``trainable_variables``.
        loss_weights: the generator's fixed loss weights: a :class:`colorlab.losses.LossWeights`, a dict, or None
            (the defaults).
        adversarial_kind: the GAN objective, one of :data:`colorlab.losses.ADVERSARIAL_KINDS`.
        loss_pieces: optional ``{name: function}`` of :data:`colorlab.losses.LOSS_PIECES`: a notebook's own
            histogram, adversarial or discriminator loss in place of the package's (chapter 07).
        compile: compile :meth:`run` (``jax.jit`` / ``tf.function``). ``False`` runs it eagerly on TensorFlow
            (slower per step, but no tracing: it wins for a handful of steps). JAX always compiles.
        distribution: a :class:`colorlab.distribute.Distribution` (default: one device), under whose
            :meth:`~colorlab.distribute.Distribution.scope` the models and optimizers were made. :meth:`run` takes
            this process's rows of the global batch and makes the global batch of them
            (:meth:`~colorlab.distribute.Distribution.global_batch`). JAX: the compiled step runs on every device,
            each on its slice of the batch; the losses are means over the whole batch, so XLA averages the gradients
            itself. TensorFlow: each replica takes the gradients of its slice, and their mean is applied once
            (:meth:`mirrored_gradients`).

    Raises:
        ConfigError: a backend other than TensorFlow or JAX, an unknown ``adversarial_kind``, bad weights.
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, loss_weights=None,
                 adversarial_kind: str = "bce", *, loss_pieces=None, compile: bool = True, distribution=None):
        from colorlab import losses
        from colorlab.distribute import Distribution

        self.backend = _backend()
        if self.backend not in ("tensorflow", "jax"):
            raise _unsupported(self.backend)
        if adversarial_kind not in losses.ADVERSARIAL_KINDS:
            raise ConfigError(f"adversarial_kind must be one of {losses.ADVERSARIAL_KINDS}, got {adversarial_kind!r}")
        if distribution is not None and not isinstance(distribution, Distribution):
            raise ConfigError(f"distribution must be a colorlab.distribute.Distribution, got {distribution!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.loss_weights = losses.LossWeights.coerce(loss_weights)
        self.adversarial_kind = adversarial_kind
        self.loss_pieces = losses.check_loss_pieces(loss_pieces)
        self.compile = bool(compile) or self.backend == "jax"
        self.distribution = Distribution() if distribution is None else distribution
        self._state = None      # JAX: the state's arrays while they are newer than the Keras variables
        self._compiled = None
        self._traced_shapes = None    # the batch shapes of the last call that could trace (TensorFlow)

    # ---------------------------------------------------------------------------------------- state
    def variables(self) -> tuple[list, list, list, list, list, list]:
        """The Keras variables of the state, in its order: generator trainable, generator non-trainable,
        discriminator trainable, discriminator non-trainable, generator optimizer, discriminator optimizer."""
        g, d = self.generator, self.discriminator
        return (g.trainable_variables, g.non_trainable_variables, d.trainable_variables,
                d.non_trainable_variables, self.g_optimizer.variables, self.d_optimizer.variables)

    def state(self) -> tuple[list, list, list, list, list, list]:
        """The current state as arrays (on TensorFlow read afresh from the variables, also inside a graph)."""
        from keras import ops

        if self.backend != "jax":
            return tuple([ops.convert_to_tensor(v.value) for v in group] for group in self.variables())
        if self._state is None:
            self._state = tuple([ops.convert_to_tensor(ops.copy(v.value)) for v in group]
                                for group in self.variables())
        return self._state

    def sync(self) -> None:
        """Writes the state kept in arrays (JAX, after :meth:`run`) back into the Keras variables.

        Call it before reading or changing the models' or optimizers' variables from outside the step.
        """
        if self._state is None:
            return
        for group, values in zip(self.variables(), self._state):
            for variable, value in zip(group, values):
                variable.assign(value)
        self._state = None

    # ---------------------------------------------------------------------------------------- the step
    def gradients(self, state, batch: dict, loss_weights=None) -> StepGradients:
        """The losses and both networks' gradients at ``state`` for one batch (pure; one device).

        Args:
            state: six lists of arrays, as :meth:`state` gives.
            batch: dict of :data:`BATCH_KEYS`: ``target_l`` ``(N, H, W, 1)``, ``reference_lab`` ``(N, h, w, 3)``,
                ``target_ab`` ``(N, H, W, 2)``, ``label`` ``(N,)`` int.
            loss_weights: None (the fixed :attr:`loss_weights`) or a ``(5,)`` float32 tensor in
                :data:`colorlab.losses.TERMS` order (every term computed; the total is their weighted sum).

        Returns:
            :class:`StepGradients`.
        """
        from keras import ops

        from colorlab import losses

        g_tv, g_ntv, d_tv, d_ntv = state[:4]
        target_l, reference_lab, target_ab, labels = (batch[key] for key in BATCH_KEYS)
        generator, discriminator, kind = self.generator, self.discriminator, self.adversarial_kind
        pieces = self.loss_pieces
        d_loss_fn = pieces.get("discriminator", lambda real, fake: losses.discriminator_loss(real, fake, kind))
        fixed = loss_weights is None
        weights = self.loss_weights if fixed else losses.LossWeights(**{name: 1.0 for name in losses.TERMS})

        def generator_loss(params):
            outputs, new_g_ntv = generator.stateless_call(params, g_ntv, [target_l, reference_lab], training=True)
            outputs = {key: ops.cast(value, "float32") for key, value in outputs.items()}
            fake_logits, _ = discriminator.stateless_call(d_tv, d_ntv, [target_l, outputs["ab"]], training=False)
            total, terms = losses.generator_loss(outputs, target_ab, reference_lab[..., 1:], labels,
                                                 ops.cast(fake_logits, "float32"), weights, adversarial_kind=kind,
                                                 pieces=pieces)
            if not fixed:
                total = ops.zeros((), "float32")
                for index, name in enumerate(losses.TERMS):
                    if name in terms:
                        total = total + loss_weights[index] * terms[name]
            return total, (terms, outputs["ab"], new_g_ntv)

        (g_total, (terms, fake_ab, new_g_ntv)), g_grads = value_and_grad(generator_loss, g_tv)
        fake_ab = ops.stop_gradient(fake_ab)
        n = ops.shape(target_l)[0]
        pair = ops.concatenate([ops.concatenate([target_l, target_ab], axis=-1),
                                ops.concatenate([target_l, fake_ab], axis=-1)], axis=0)

        def discriminator_loss(params):
            logits, new_d_ntv = discriminator.stateless_call(params, d_ntv, pair, training=True)
            logits = ops.cast(logits, "float32")
            return d_loss_fn(logits[:n], logits[n:]), new_d_ntv

        (d_loss, new_d_ntv), d_grads = value_and_grad(discriminator_loss, d_tv)
        metrics = {"loss": g_total, **{name: ops.cast(value, "float32") for name, value in terms.items()},
                   "d_loss": d_loss}
        return StepGradients(list(g_grads), list(d_grads), list(new_g_ntv), list(new_d_ntv), metrics, fake_ab)

    def mirrored_gradients(self, batch, loss_weights=None) -> StepGradients:
        """Under the distribution's ``tf.distribute`` strategy: each replica's :meth:`gradients` of its slice of the
        batch at the weights it holds, averaged over the replicas (all-reduce, across processes too).

        Args:
            batch: the global batch as :meth:`colorlab.distribute.Distribution.global_batch` makes it (each replica
                holds its slice).
            loss_weights: as :meth:`gradients`.

        Returns:
            :class:`StepGradients` whose ``ab`` is None.
        """
        import tensorflow as tf

        strategy = self.distribution.strategy

        def replica_fn(batch):
            return tuple(self.gradients(self.state(), batch, loss_weights))[:5]

        results = strategy.run(replica_fn, args=(batch,))
        g_grads, d_grads, metrics = tf.nest.map_structure(
            lambda value: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None),
            (results[0], results[1], results[4]))
        # The power-iteration vectors depend on the weights only (not the data): every replica has the same ones.
        first = lambda values: [strategy.experimental_local_results(v)[0] for v in values]  # noqa: E731
        return StepGradients(list(g_grads), list(d_grads), first(results[2]), first(results[3]), metrics, None)

    def apply(self, state, gradients: StepGradients):
        """The state after the optimizers apply ``gradients`` (pure: ``optimizer.stateless_apply``; JAX)."""
        g_tv, _, d_tv, _, g_ov, d_ov = state
        new_g_tv, new_g_ov = self.g_optimizer.stateless_apply(list(g_ov), gradients.generator, list(g_tv))
        new_d_tv, new_d_ov = self.d_optimizer.stateless_apply(list(d_ov), gradients.discriminator, list(d_tv))
        return (list(new_g_tv), list(gradients.generator_non_trainable), list(new_d_tv),
                list(gradients.discriminator_non_trainable), list(new_g_ov), list(new_d_ov))

    def stateless_train_step(self, state, batch: dict, loss_weights=None):
        """One step as a pure function, ``(state, batch) -> (new state, losses, ab)`` (what ``jax.jit`` compiles)."""
        gradients = self.gradients(state, batch, loss_weights)
        return self.apply(state, gradients), gradients.losses, gradients.ab

    def train_step(self, batch: dict, loss_weights=None):
        """One step that updates the Keras variables in place; returns ``(losses, ab)``.

        Reads the state from the variables, takes :meth:`gradients` (:meth:`mirrored_gradients` of a global batch
        under a ``tf.distribute`` strategy), then ``optimizer.apply`` writes the new weights. What ``tf.function``
        compiles on TensorFlow; eagerly it runs on any backend.
        """
        if self.distribution.strategy is None:
            gradients = self.gradients(self.state(), batch, loss_weights)
        else:
            gradients = self.mirrored_gradients(batch, loss_weights)
        self.g_optimizer.apply(gradients.generator, self.generator.trainable_variables)
        self.d_optimizer.apply(gradients.discriminator, self.discriminator.trainable_variables)
        for variables, values in ((self.generator.non_trainable_variables, gradients.generator_non_trainable),
                                  (self.discriminator.non_trainable_variables,
                                   gradients.discriminator_non_trainable)):
            for variable, value in zip(variables, values):
                variable.assign(value)
        return gradients.losses, gradients.ab

    def run(self, batch: dict, loss_weights=None):
        """One step, compiled for the backend (``jax.jit`` of :meth:`stateless_train_step`, ``tf.function`` of
        :meth:`train_step`, or eager :meth:`train_step` with ``compile=False``); returns ``(losses, ab)`` as
        backend tensors. On JAX the new state stays in arrays until :meth:`sync`.

        ``batch`` is this process's rows of the global batch (all of it with one process); ``ab`` is None under a
        ``tf.distribute`` strategy, and on JAX with several processes a global array of which this process holds
        its rows."""
        batch = self.distribution.global_batch(batch)
        if self._compiled is None:
            if self.backend == "jax":
                import jax

                self._compiled = jax.jit(self.stateless_train_step)
            elif self.compile:
                import tensorflow as tf

                self._compiled = tf.function(self.train_step, reduce_retracing=True)
            else:
                self._compiled = self.train_step
        if self.backend == "jax":
            new_state, metrics, ab = self._compiled(self.state(), batch, loss_weights)
            self._state = tuple(list(group) for group in new_state)
            return metrics, ab
        shapes = tuple((key, _shape_of(value)) for key, value in sorted(batch.items()))
        if shapes != self._traced_shapes:   # tf.function may trace and optimise anew; eager ops get new kernels
            self._traced_shapes = shapes
            with filtered_stderr():
                return self._compiled(batch, loss_weights)
        return self._compiled(batch, loss_weights)
