"""The encoders: a learned feature encoder shared by target and reference, and the reference's colour encoder.

Gray2ColorNet (Lu et al., ACM MM 2020) uses **no pretrained backbone** (the paper's choice, unlike e.g. Deep
Exemplar-based Colorization, which matches VGG-19 features): one learned encoder of six convolutional blocks.
With ``w = base_width`` (paper: 64):

=========  ======================  ================  ===========================
block      convolutions (3 x 3)    channels          resolution (of the input)
=========  ======================  ================  ===========================
block1     2                       w                 1
block2     2, first has stride 2   2w                1/2
block3     3, first has stride 2   4w                1/4
block4     3, first has stride 2   8w                1/8
block5     3, dilation 2           8w                1/8
block6     3, dilation 2           8w                1/8
=========  ======================  ================  ===========================

Each convolution is followed by a ReLU, and each block ends with instance normalisation (the paper's order:
conv-ReLU-...-conv-ReLU-norm; its official code uses PyTorch's ``InstanceNorm2d`` without learned scale and shift,
and so do we). The dilated blocks widen the receptive field without losing resolution.

How the two images enter (the paper's design, which we keep, and why):

* **Matching uses luminance only.** The target has nothing but L, so the *same* encoder (shared weights) reads the
  reference's L too. Features of the two images then live in one space, and a high cosine similarity means "this
  looks the same in gray", which is exactly what we can compare. Feeding the reference's colour into the matching
  encoder would make its features differ from the target's for a reason the target cannot see.
* **Colour has its own small encoder**, :class:`ReferenceColorEncoder`, whose features are what the
  correspondence carries over to the target. The paper's reads the reference's ab only; *ours* reads L, a and b
  (3 channels), so the colour features can tell a dark blue from a bright blue of the same ab — a cheap extra
  input channel (``Gray2ColorConfig.color_input``: ``"lab"`` ours, ``"ab"`` the official code's).

Downsampling: the official code subsamples a block's output (keeps every second pixel) before the next block;
*ours* uses a stride-2 first convolution in blocks 2-4 instead: the same cost, and it looks at every pixel before
discarding three of four positions, but it has other taps, a 1-pixel shift and another receptive field. ``downsample="subsample"`` gives the
official code's (``Gray2ColorConfig.downsample``).

Initialisation: every layer here takes ``kernel_initializer`` (None = Keras' Glorot default);
:data:`NORMAL_INIT` is the official code's N(0, 0.02) (``Gray2ColorConfig.init = "normal"``).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorlab.errors import ConfigError

__all__ = ["InstanceNormalization", "ConvBlock", "Encoder", "ReferenceColorEncoder",
           "ENCODER_LEVELS", "ENCODER_STRIDES", "DOWNSAMPLINGS", "NORMAL_INIT"]

#: Names of the encoder's six outputs, in order, and their strides relative to the input.
ENCODER_LEVELS = ("block1", "block2", "block3", "block4", "block5", "block6")
ENCODER_STRIDES = (1, 2, 4, 8, 8, 8)
#: How a block with ``strides=2`` halves the resolution: ours (a strided convolution), the official code's.
DOWNSAMPLINGS = ("stride", "subsample")
#: The official code's initialisation of every kernel, N(0, 0.02), as a Keras initializer config (each layer
#: makes its own instance from it, so no two layers share random values).
NORMAL_INIT = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02, "seed": None}}


@keras.saving.register_keras_serializable(package="colorlab")
class InstanceNormalization(layers.Layer):
    """Instance normalisation: each channel of each image to zero mean and unit variance over its positions.

    ``y = (x - mean_hw(x)) / sqrt(var_hw(x) + epsilon)`` per sample and channel; with ``scale``/``center``,
    a learned per-channel ``gamma * y + beta`` follows. Defaults: no learned scale or shift, as the paper's
    official code (PyTorch ``InstanceNorm2d(affine=False)``). Same as
    ``keras.layers.GroupNormalization(groups=-1, scale=False, center=False)``; written out so the notebooks can
    show the two lines that do the work.

    Input: ``(N, H, W, C)``. Output: same shape. A 1 x 1 map normalises to zeros (its variance is 0).
    """

    def __init__(self, epsilon=1e-5, scale=False, center=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.scale = bool(scale)
        self.center = bool(center)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta") if self.center else None

    def call(self, x):
        mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "scale": self.scale, "center": self.center}


@keras.saving.register_keras_serializable(package="colorlab")
class ConvBlock(layers.Layer):
    """``convs`` 3 x 3 convolutions, each followed by ReLU, then instance norm (the paper's encoder block).

    Args:
        filters: output channels of every convolution.
        convs: how many convolutions.
        strides: 1, or 2 (or more) to reduce the resolution, as ``downsample`` says.
        dilation_rate: dilation of every convolution (the paper's blocks 5 and 6 use 2).
        norm: end with :class:`InstanceNormalization` (True in the paper's blocks).
        downsample: ``"stride"`` (ours: the first convolution has stride ``strides``) or ``"subsample"`` (the
            official code's: keep every ``strides``-th pixel, ``x[:, ::s, ::s]``, then stride-1 convolutions).
        kernel_initializer: of every convolution; None for Keras' default (Glorot uniform).

    Input: ``(N, H, W, C)``. Output: ``(N, ceil(H / strides), ceil(W / strides), filters)``.
    """

    def __init__(self, filters, convs=2, strides=1, dilation_rate=1, norm=True, downsample="stride",
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        if downsample not in DOWNSAMPLINGS:
            raise ConfigError(f"ConvBlock: downsample must be one of {DOWNSAMPLINGS}, got {downsample!r}")
        self.filters = int(filters)
        self.convs = int(convs)
        self.strides = int(strides)
        self.dilation_rate = int(dilation_rate)
        self.norm = bool(norm)
        self.downsample = downsample
        self.kernel_initializer = kernel_initializer
        conv_stride = self.strides if downsample == "stride" else 1
        self.conv_layers = [
            layers.Conv2D(self.filters, 3, strides=conv_stride if i == 0 else 1, padding="same",
                          dilation_rate=self.dilation_rate, activation="relu", name=f"conv{i + 1}",
                          kernel_initializer=kernel_initializer or "glorot_uniform")
            for i in range(self.convs)
        ]
        self.norm_layer = InstanceNormalization(name="norm") if self.norm else None

    def call(self, x):
        if self.downsample == "subsample" and self.strides > 1:
            x = x[:, ::self.strides, ::self.strides, :]
        for conv in self.conv_layers:
            x = conv(x)
        return self.norm_layer(x) if self.norm_layer is not None else x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "convs": self.convs, "strides": self.strides,
                "dilation_rate": self.dilation_rate, "norm": self.norm, "downsample": self.downsample,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class Encoder(layers.Layer):
    """The paper's learned encoder (six blocks, table in the module docstring), shared by target and reference.

    Args:
        base_width: channels of block1 (paper: 64); the blocks have 1, 2, 4, 8, 8, 8 times this.
        downsample, kernel_initializer: as in :class:`ConvBlock`.

    Input: ``(N, H, W, C_in)`` with H and W multiples of 8 (the model pads to that); ``C_in`` = 1 (L, scaled
    ``L / 50 - 1``) in Gray2ColorNet.
    Output: a list of six feature maps, one per block (names in :data:`ENCODER_LEVELS`):
    ``(N, H, W, w)``, ``(N, H/2, W/2, 2w)``, ``(N, H/4, W/4, 4w)``, then three of ``(N, H/8, W/8, 8w)``.
    """

    def __init__(self, base_width=64, downsample="stride", kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.base_width = int(base_width)
        self.downsample = downsample
        self.kernel_initializer = kernel_initializer
        w = self.base_width
        options = dict(downsample=downsample, kernel_initializer=kernel_initializer)
        self.blocks = [
            ConvBlock(w, convs=2, name="block1", **options),
            ConvBlock(2 * w, convs=2, strides=2, name="block2", **options),
            ConvBlock(4 * w, convs=3, strides=2, name="block3", **options),
            ConvBlock(8 * w, convs=3, strides=2, name="block4", **options),
            ConvBlock(8 * w, convs=3, dilation_rate=2, name="block5", **options),
            ConvBlock(8 * w, convs=3, dilation_rate=2, name="block6", **options),
        ]

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels of the six outputs."""
        return tuple(block.filters for block in self.blocks)

    def call(self, x):
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features

    def get_config(self):
        return {**super().get_config(), "base_width": self.base_width, "downsample": self.downsample,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class ReferenceColorEncoder(layers.Layer):
    """Encodes the reference's colours into the features the correspondence warps onto the target.

    The paper's colour branch: two convolutions of width ``w`` at full resolution, then two of width ``2w`` at
    half resolution (the matching scale), each followed by ReLU, each pair ending in instance norm. The paper feeds
    it ab only; *ours* feeds Lab (see the module docstring). The layer takes whichever channels it is given.

    Args:
        base_width: ``w`` (paper: 64).
        downsample, kernel_initializer: as in :class:`ConvBlock`.

    Input: reference ``(N, h, w, 3)`` = (L/50 - 1, a/110, b/110) (ours) or ``(N, h, w, 2)`` = (a/110, b/110)
    (the official code's), h and w even.
    Output: ``(N, h/2, w/2, 2 * base_width)``.
    """

    def __init__(self, base_width=64, downsample="stride", kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.base_width = int(base_width)
        self.downsample = downsample
        self.kernel_initializer = kernel_initializer
        options = dict(downsample=downsample, kernel_initializer=kernel_initializer)
        self.block1 = ConvBlock(self.base_width, convs=2, name="block1", **options)
        self.block2 = ConvBlock(2 * self.base_width, convs=2, strides=2, name="block2", **options)

    def call(self, reference_colour):
        return self.block2(self.block1(reference_colour))

    def get_config(self):
        return {**super().get_config(), "base_width": self.base_width, "downsample": self.downsample,
                "kernel_initializer": self.kernel_initializer}
