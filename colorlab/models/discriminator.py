"""The patch discriminator (PatchGAN) that supplies Gray2ColorNet's adversarial loss.

What is the paper's and what is ours
------------------------------------
* **The paper's** (Lu et al., ACM MM 2020): an adversarial term is one of its five training losses, computed
  with a patch discriminator. The official release ships test code only: no discriminator, no training code, no
  loss weights. Everything below about the discriminator's layers is therefore **ours**.
* **Ours, after pix2pix** (Isola et al., CVPR 2017), the canonical PatchGAN: the discriminator is *conditional*
  (it sees the gray L and the ab concatenated, so it judges "are these colours plausible *for this gray image*",
  not just "are these plausible colours"); 4×4 convolutions with padding 1, stride 2 for ``n_layers`` layers, then
  one stride-1 layer and a stride-1 output layer with one channel; widths ``width·min(2^i, 8)``; LeakyReLU with
  slope 0.2; weights drawn from N(0, 0.02), biases zero. The output is a map of logits, one per overlapping patch.
* **Ours, not pix2pix's: spectral normalisation** (Miyato et al., ICLR 2018) on every convolution instead of
  pix2pix's batch norm (``norm="spectral"``, the default). Why:

  1. A logit then depends *only* on the pixels in its receptive field. Instance (or batch) normalisation
     subtracts statistics of the whole feature map, so every logit sees the whole image a little and the "patch"
     is a patch only approximately — ``tests/test_discriminator.py`` shows the gradient of one logit is exactly
     zero outside its window with spectral norm.
  2. It does not depend on the batch, so batch size 1 and ``training=False`` behave like training.
  3. Dividing each kernel by (an estimate of) its largest singular value roughly bounds how fast the
     discriminator can change, the property Miyato et al. found to stabilise GAN training. (Strictly it bounds the
     norm of the reshaped kernel matrix, a cheap proxy for the convolution operator's norm, not the norm itself.)

  ``norm="instance"`` gives the pix2pix layout with instance norm (none on the first and last layer) and
  ``norm="none"`` a plain stack, for comparison in notebook 06.
  Keras has a ``SpectralNormalization`` wrapper, but it *overwrites* the kernel variable during training: the
  gradient does not see the division by σ, and ``Layer.stateless_call`` (how Keras trains on JAX) returns only
  non-trainable variables, so the overwrite is discarded there. :class:`SpectralConv2D` re-parametrises instead
  (``K / σ`` computed in ``call``, only the power-iteration vector stored), as Miyato et al. do.

Receptive field
---------------
For a stack of convolutions with kernel sizes k_l, strides s_l and dilations d_l (l = 1..L), the input window one
output value sees grows as::

    r_0 = 1,     r_l = r_{l-1} + (k_eff_l − 1) · ∏_{i<l} s_i,     k_eff_l = d_l·(k_l − 1) + 1

With 4×4 kernels, strides (2,)*n + (1, 1) this gives ``r = 9·2^n − 2``:

=========  ==============  ==========================  ==========================
n_layers   receptive field  logits for a 128² input     logits for a 256² input
=========  ==============  ==========================  ==========================
1          16               62×62                       126×126
2          34               30×30                       62×62
3          70 (pix2pix)     14×14                       30×30 (pix2pix)
4          142              6×6                         14×14
5          286              2×2                         6×6
=========  ==============  ==========================  ==========================

(output side = ⌊n/2⌋ applied ``n_layers`` times, then −1 twice; the 3-layer row at 256² is pix2pix's
"70×70 PatchGAN" with its 30×30 logits.) Which ``n_layers`` each named config uses lives in
``colorlab.models.config`` (``disc_layers``); ``PatchDiscriminator(...).receptive_field`` reports it.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import ops

from colorlab.errors import ConfigError

NORMS = ("spectral", "instance", "none")


def _check_positive_ints(name: str, values: Sequence[int]) -> list[int]:
    values = list(values)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be positive integers, got {values!r}")
    return values


def receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int] | None = None) -> int:
    """Side, in input pixels, of the window that one output value of a convolution stack depends on.

    ``r_0 = 1``, ``r_l = r_{l-1} + (d_l·(k_l − 1)) · ∏_{i<l} s_i`` — each layer widens the window by its
    (dilated) kernel's extra taps, measured in input pixels, i.e. times the product of the earlier strides.
    Padding does not change the window's size (only where it sits); pooling layers count as convolutions.

    Args:
        kernel_sizes: k_1..k_L, one per layer.
        strides: s_1..s_L.
        dilations: d_1..d_L, default all 1.

    Returns:
        The receptive field r_L (an int). ``receptive_field([4]*5, [2, 2, 2, 1, 1]) == 70`` (pix2pix).

    Raises:
        ConfigError: lengths differ, the stack is empty, or a value is not a positive integer.
    """
    kernel_sizes = _check_positive_ints("kernel_sizes", kernel_sizes)
    strides = _check_positive_ints("strides", strides)
    dilations = [1] * len(kernel_sizes) if dilations is None else _check_positive_ints("dilations", dilations)
    if not kernel_sizes or not len(kernel_sizes) == len(strides) == len(dilations):
        raise ConfigError(f"receptive_field needs one kernel size, stride and dilation per layer; got "
                          f"{len(kernel_sizes)} kernel sizes, {len(strides)} strides, {len(dilations)} dilations")
    field, jump = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations):
        field += d * (k - 1) * jump
        jump *= s
    return field


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of one convolution: ``⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1`` (can be ≤ 0: too small)."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


@keras.saving.register_keras_serializable(package="colorlab")
class SpectralConv2D(keras.layers.Layer):
    """A 2-D convolution (``"valid"`` padding) whose kernel is divided by its largest singular value.

    The kernel K (k, k, C_in, C_out) is reshaped to a matrix W of shape (k·k·C_in, C_out) and used as
    ``K / σ(W)``, where σ(W) is estimated by power iteration: with a persistent unit vector u (C_out,),
    ``u ← normalise(Wᵀ W u)`` (``power_iterations`` times per training call, u stored), then ``σ = ‖W u‖₂``
    with u held constant (no gradient through u), as in Miyato et al. (2018). The gradient *does* flow through σ.
    At ``training=False`` u is not updated, so inference is deterministic.

    Input (N, H, W, C_in) → output (N, ⌊(H − k)/s⌋ + 1, ⌊(W − k)/s⌋ + 1, filters). Pad beforehand if needed.

    Args:
        filters: C_out.
        kernel_size: k (square kernels).
        strides: s.
        use_bias: add a bias (not normalised).
        power_iterations: power-iteration steps per training call (1 is Miyato et al.'s choice: u carries over).
        kernel_initializer: initializer of K (default N(0, 0.02), pix2pix's; σ-normalisation makes the forward
            pass independent of K's scale, but the scale still sets the step size of K's updates).
        epsilon: guards the normalisations against division by zero.
    """

    def __init__(self, filters: int, kernel_size: int = 4, strides: int = 1, use_bias: bool = True,
                 power_iterations: int = 1, kernel_initializer="pix2pix_normal", epsilon: float = 1e-12,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("filters", filters), ("kernel_size", kernel_size), ("strides", strides),
                            ("power_iterations", power_iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"SpectralConv2D: {name} must be a positive integer, got {value!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.use_bias = use_bias
        self.power_iterations = power_iterations
        self.epsilon = float(epsilon)
        self.kernel_initializer = (_pix2pix_initializer() if kernel_initializer == "pix2pix_normal"
                                   else keras.initializers.get(kernel_initializer))

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ConfigError("SpectralConv2D needs a known number of input channels")
        self.kernel = self.add_weight(name="kernel",
                                      shape=(self.kernel_size, self.kernel_size, channels, self.filters),
                                      initializer=self.kernel_initializer, trainable=True)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", trainable=True)
                     if self.use_bias else None)
        self.u = self.add_weight(name="u", shape=(self.filters,),
                                 initializer=keras.initializers.RandomNormal(0.0, 1.0), trainable=False)

    def _normalise(self, x):
        return x / (ops.sqrt(ops.sum(ops.square(x))) + self.epsilon)

    def sigma(self, training: bool = False):
        """Estimate of the kernel matrix's largest singular value (scalar); updates u when ``training``."""
        weights = ops.reshape(self.kernel, (-1, self.filters))  # (k·k·C_in, C_out)
        frozen = ops.stop_gradient(weights)
        u = self._normalise(ops.convert_to_tensor(self.u))
        if training:
            for _ in range(self.power_iterations):
                v = self._normalise(ops.matmul(frozen, u))  # (k·k·C_in,)
                u = self._normalise(ops.matmul(ops.transpose(frozen), v))  # (C_out,)
            self.u.assign(u)
        u = ops.stop_gradient(u)
        return ops.sqrt(ops.sum(ops.square(ops.matmul(weights, u))) + self.epsilon)

    def call(self, inputs, training=None):
        kernel = self.kernel / self.sigma(training=bool(training))
        outputs = ops.conv(inputs, kernel, strides=self.strides, padding="valid")
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        def out(n):
            return None if n is None else conv_output_size(n, self.kernel_size, self.strides, 0)
        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      use_bias=self.use_bias, power_iterations=self.power_iterations,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                      epsilon=self.epsilon)
        return config


def _pix2pix_initializer():
    """pix2pix's convolution initialisation: N(0, 0.02)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="colorlab")
class PatchDiscriminator(keras.Model):
    """Conditional PatchGAN: (gray L, ab) → a map of real/fake logits, one per overlapping image patch.

    Input: ``(N, H, W, 3)`` — L (model scale, L/50 − 1) and ab (model scale, ab/110) concatenated on the last axis —
    or a pair ``(L (N, H, W, 1), ab (N, H, W, 2))`` that is concatenated for you.
    Output: logits ``(N, H', W', 1)`` with ``H' = output_size(H)``; logit (i, j) judges the input window
    :meth:`patch_bounds` ``(i, j)`` of side :attr:`receptive_field`.

    Layers (every convolution 4×4 with zero padding 1, so side n → ⌊(n − 2)/s⌋ + 1):
    ``n_layers`` × [conv stride 2, width·min(2^i, 8) channels] → conv stride 1, width·min(2^n_layers, 8) →
    conv stride 1, 1 channel (the logits); LeakyReLU(0.2) after every convolution but the last.
    See the module docstring for which choices are pix2pix's, which are ours and why, and the receptive fields.

    Args:
        width: channels of the first convolution (pix2pix: 64).
        n_layers: number of stride-2 convolutions (pix2pix: 3 → 70×70 patches).
        norm: ``"spectral"`` (default; ours), ``"instance"`` (pix2pix's layout with instance norm) or ``"none"``.
        kernel_size: side of every convolution kernel (4 as pix2pix); padding is ``(kernel_size − 1) // 2``.
        power_iterations: for ``norm="spectral"``.
        input_channels: channels of the input (3 = L + ab).
    """

    def __init__(self, width: int = 64, n_layers: int = 3, norm: str = "spectral", kernel_size: int = 4,
                 power_iterations: int = 1, input_channels: int = 3, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("width", width), ("n_layers", n_layers), ("kernel_size", kernel_size),
                            ("power_iterations", power_iterations), ("input_channels", input_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"PatchDiscriminator: {name} must be a positive integer, got {value!r}")
        if norm not in NORMS:
            raise ConfigError(f"PatchDiscriminator: norm must be one of {NORMS}, got {norm!r}")
        self.width = width
        self.n_layers = n_layers
        self.norm = norm
        self.kernel_size = kernel_size
        self.power_iterations = power_iterations
        self.input_channels = input_channels
        self.padding = (kernel_size - 1) // 2

        self.stack = self.layer_stack()

    def layer_stack(self) -> list:
        """The layers, input to output: per convolution a ``ZeroPadding2D``, the convolution (with its norm) and,
        except after the last, a ``LeakyReLU(0.2)``. Called once by the constructor (chapter 06's build-it
        exercise overrides it)."""
        n_convs = self.n_layers + 2
        channels = [self.width * min(2 ** i, 8) for i in range(self.n_layers + 1)] + [1]
        kernel_size, norm = self.kernel_size, self.norm
        stack = []
        for index, (filters, stride) in enumerate(zip(channels, self.strides)):
            first, last = index == 0, index == n_convs - 1
            stack.append(keras.layers.ZeroPadding2D(self.padding, name=f"pad{index}"))
            if norm == "spectral":
                stack.append(SpectralConv2D(filters, kernel_size, stride, use_bias=True,
                                            power_iterations=self.power_iterations, name=f"conv{index}"))
            else:
                use_norm = norm == "instance" and not first and not last
                # A bias just before a normalisation that re-centres would be cancelled: leave it out.
                stack.append(keras.layers.Conv2D(filters, kernel_size, strides=stride, padding="valid",
                                                 use_bias=not use_norm,
                                                 kernel_initializer=_pix2pix_initializer(),
                                                 name=f"conv{index}"))
                if use_norm:
                    stack.append(keras.layers.GroupNormalization(groups=-1, epsilon=1e-5,
                                                                 name=f"instance_norm{index}"))
            if not last:
                stack.append(keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{index}"))
        return stack

    # ---- geometry -------------------------------------------------------------------------------------------
    @property
    def kernel_sizes(self) -> list[int]:
        """Kernel side of each convolution, input to output (length n_layers + 2)."""
        return [self.kernel_size] * (self.n_layers + 2)

    @property
    def strides(self) -> list[int]:
        """Stride of each convolution: ``[2]*n_layers + [1, 1]``."""
        return [2] * self.n_layers + [1, 1]

    @property
    def receptive_field(self) -> int:
        """Side of the input window one logit sees: ``9·2^n_layers − 2`` for 4×4 kernels (70 for 3 layers)."""
        return receptive_field(self.kernel_sizes, self.strides)

    def output_size(self, input_size):
        """Logit-map side(s) for an input side (int) or (H, W) pair.

        With 4×4 kernels and padding 1: ``⌊n/2⌋`` per stride-2 layer, then −1 per stride-1 layer
        (128 → 14, 256 → 30 for 3 layers).

        Raises:
            ConfigError: the input is too small to leave at least one logit.
        """
        if isinstance(input_size, (tuple, list)):
            return tuple(self.output_size(n) for n in input_size)
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise ConfigError(f"PatchDiscriminator.output_size: input size must be a positive integer, "
                              f"got {input_size!r}")
        size = self._raw_output_size(input_size)
        if size < 1:
            raise ConfigError(f"PatchDiscriminator: input side {input_size} is too small for "
                              f"{self.n_layers} stride-2 layers (minimum {self.min_input_size})")
        return size

    def _raw_output_size(self, size: int) -> int:
        for k, s in zip(self.kernel_sizes, self.strides):
            size = conv_output_size(size, k, s, self.padding)
            if size < 1:
                return size
        return size

    @property
    def min_input_size(self) -> int:
        """The smallest input side that gives a logit map of side ≥ 1."""
        size = 1
        while self._raw_output_size(size) < 1:
            size += 1
        return size

    def patch_bounds(self, row: int, col: int):
        """Input window judged by logit (row, col): ``((top, bottom), (left, right))``, half-open, in pixels.

        ``top = row·∏s − P`` with ``P = Σ_l p·∏_{i<l} s_i`` the padding carried back to the input, and
        ``bottom = top + receptive_field``. The window can reach outside the image (into the zero padding)
        for logits near the border.
        """
        jump = math.prod(self.strides)
        offset, carried = 0, 1
        for s in self.strides:
            offset += self.padding * carried
            carried *= s
        field = self.receptive_field
        top, left = row * jump - offset, col * jump - offset
        return (top, top + field), (left, left + field)

    # ---- forward --------------------------------------------------------------------------------------------
    def call(self, inputs, training=None):
        if isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise ConfigError(f"PatchDiscriminator: expected (L, ab) or one tensor, got {len(inputs)} tensors")
            inputs = ops.concatenate([inputs[0], inputs[1]], axis=-1)
        shape = tuple(inputs.shape)
        if len(shape) != 4 or (shape[-1] is not None and shape[-1] != self.input_channels):
            raise ConfigError(f"PatchDiscriminator: input must be (N, H, W, {self.input_channels}) "
                              f"(L and ab concatenated), got shape {shape}")
        for side in shape[1:3]:
            if side is not None:
                self.output_size(side)  # raises a clear ConfigError when too small
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training) if isinstance(layer, SpectralConv2D) else layer(x)
        return x

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (tuple, list)) and input_shape and isinstance(input_shape[0], (tuple, list)):
            input_shape = tuple(input_shape[0][:-1]) + (self.input_channels,)
        sides = [None if n is None else self.output_size(n) for n in input_shape[1:3]]
        return (input_shape[0], *sides, 1)

    # ---- config ---------------------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(width=self.width, n_layers=self.n_layers, norm=self.norm, kernel_size=self.kernel_size,
                      power_iterations=self.power_iterations, input_channels=self.input_channels)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_model_config(cls, config, **overrides):
        """Builds the discriminator a model config asks for (``colorlab.models.config.get_config(name)``).

        Reads ``config.disc_width`` and ``config.disc_layers`` (and ``config.disc_norm`` when the config has
        one); keyword ``overrides`` win.
        """
        try:
            kwargs = {"width": config.disc_width, "n_layers": config.disc_layers}
        except AttributeError as error:
            raise ConfigError(f"PatchDiscriminator.from_model_config: config has no {error.name!r} "
                              f"(expected disc_width and disc_layers)") from None
        if getattr(config, "disc_norm", None) is not None:
            kwargs["norm"] = config.disc_norm
        kwargs.update(overrides)
        return cls(**kwargs)
