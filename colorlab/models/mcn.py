"""MCN, the multi-scale colorization network: the decoder that turns target features + fused colour into ab.

The paper's design (Lu et al., ACM MM 2020), three stages from the deepest target features (1/8 of the input) up
to full resolution. With ``w = base_width`` (paper 64), stage by stage:

=======  ===========  ==================  ===============================  =====================
stage    works at     adds fused colour   upsamples to (transposed conv)   skip from the encoder
=======  ===========  ==================  ===============================  =====================
1        1/8, 8w      ``fused[0]`` (8w)   1/4, 4w                          block3 (1/4, 4w)
2        1/4, 4w      ``fused[1]`` (4w)   1/2, 2w                          block2 (1/2, 2w)
3        1/2, 2w      ``fused[2]`` (2w)   1, 2w                            block1 (1, w)
=======  ===========  ==================  ===============================  =====================

Inside a stage: ``x = x + fused``; a conv-norm-ReLU and ``res_blocks`` residual blocks (paper: 2) at that scale;
a 4 x 4 transposed convolution with stride 2 doubles the resolution, and a 3 x 3 convolution of the encoder's
skip feature map of that resolution is added (a U-Net-style skip: fine detail the deep features lost); then
ReLU-conv-ReLU (-norm) and a **1 x 1 convolution with tanh gives ab** at that resolution. So the network predicts
ab at 1/4, 1/2 and full resolution — the paper's multi-scale supervision: the coarse outputs are trained too,
which pushes colour into the deep features early.

Transposed convolutions (kernel 4, stride 2, as in the paper) can leave checkerboard patterns. The classic cause,
uneven overlap (Odena et al., Distill 2016), is absent here — 4 is divisible by 2, so every output pixel receives
2 x 2 kernel taps — but even and odd output positions use different quarters of the kernel, and until those agree
the output shows a 2-pixel period; chapter 05 shows this.

Norm and bias (ours): a convolution directly followed by instance norm has no bias (``use_bias=False``): the norm
subtracts the per-channel mean, so a bias there would be cancelled exactly and never learn. The official code
keeps it (harmless, but a dead weight): ``norm_bias=True`` (``Gray2ColorConfig.norm_bias``), so its weights load.

Every layer here takes ``kernel_initializer`` (None = ours: Keras' Glorot default, the special heads below; the
official code's is :data:`colorlab.models.encoder.NORMAL_INIT` for every kernel).
"""

from __future__ import annotations

import keras
from keras import layers

from colorlab.models.encoder import InstanceNormalization

__all__ = ["ResBlock", "DecoderStage", "MCN", "ClassificationHead"]


@keras.saving.register_keras_serializable(package="colorlab")
class ResBlock(layers.Layer):
    """Residual block: ``x + IN(conv(ReLU(IN(conv(x)))))``, 3 x 3 convolutions (the paper's).

    Args:
        filters: channels.
        use_bias: the two convolutions have a bias (the official code's; ours: no, the norm cancels it).
        kernel_initializer: of both convolutions; None for Keras' default.

    Input: ``(N, H, W, filters)``. Output: same shape.
    """

    def __init__(self, filters, use_bias=False, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        options = dict(padding="same", use_bias=self.use_bias,
                       kernel_initializer=kernel_initializer or "glorot_uniform")
        self.conv1 = layers.Conv2D(self.filters, 3, name="conv1", **options)
        self.norm1 = InstanceNormalization(name="norm1")
        self.conv2 = layers.Conv2D(self.filters, 3, name="conv2", **options)
        self.norm2 = InstanceNormalization(name="norm2")
        self.relu = layers.ReLU(name="relu")

    def call(self, x):
        y = self.relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(y))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class DecoderStage(layers.Layer):
    """One MCN stage: add fused colour, refine, upsample x2, add the skip, refine, predict ab.

    Args:
        filters: channels at the stage's input scale (must equal the fused features' channels).
        out_filters: channels after upsampling.
        res_blocks: residual blocks at the input scale (paper: 2).
        post_convs: 3 x 3 convolutions after the upsampling (paper: 2 in stage 1, then 1).
        final: the last stage — its last activation is LeakyReLU(0.2) and there is no norm (the paper's).
        norm_bias: the convolutions followed by instance norm (entry, residual blocks) have a bias (the official
            code's; ours: no).
        kernel_initializer: of every convolution; None for ours (Keras' default, the ab head N(0, 0.02)).

    ``call(x, fused, skip)``: ``x`` ``(N, h, w, filters)``, ``fused`` same shape, ``skip``
    ``(N, 2h, 2w, C_skip)``. Returns ``(features (N, 2h, 2w, out_filters), ab (N, 2h, 2w, 2))``, ab in (-1, 1).
    """

    def __init__(self, filters, out_filters, res_blocks=2, post_convs=1, final=False, norm_bias=False,
                 kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.out_filters = int(out_filters)
        self.res_blocks = int(res_blocks)
        self.post_convs = int(post_convs)
        self.final = bool(final)
        self.norm_bias = bool(norm_bias)
        self.kernel_initializer = kernel_initializer
        init = kernel_initializer or "glorot_uniform"
        self.entry_conv = layers.Conv2D(self.filters, 3, padding="same", use_bias=self.norm_bias, name="entry_conv",
                                        kernel_initializer=init)
        self.entry_norm = InstanceNormalization(name="entry_norm")
        self.blocks = [ResBlock(self.filters, use_bias=self.norm_bias, kernel_initializer=kernel_initializer,
                                name=f"res{i + 1}") for i in range(self.res_blocks)]
        self.up = layers.Conv2DTranspose(self.out_filters, 4, strides=2, padding="same", name="up",
                                         kernel_initializer=init)
        self.skip_conv = layers.Conv2D(self.out_filters, 3, padding="same", name="skip_conv", kernel_initializer=init)
        self.post_conv_layers = [layers.Conv2D(self.out_filters, 3, padding="same", name=f"post_conv{i + 1}",
                                               kernel_initializer=init)
                                 for i in range(self.post_convs)]
        self.post_activations = [
            layers.LeakyReLU(0.2, name=f"post_act{i + 1}") if (self.final and i == self.post_convs - 1)
            else layers.ReLU(name=f"post_act{i + 1}")
            for i in range(self.post_convs)
        ]
        self.post_norm = None if self.final else InstanceNormalization(name="post_norm")
        # Ours: the heads start near gray (N(0, 0.02) kernels, the official code's init for every layer) instead
        # of Keras' Glorot default, which saturates tanh at the start (pre-activations of std ~1.5 measured).
        self.head = layers.Conv2D(2, 1, activation="tanh", name="ab_head",
                                  kernel_initializer=kernel_initializer or keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x, fused, skip):
        x = x + fused
        x = keras.ops.relu(self.entry_norm(self.entry_conv(x)))
        for block in self.blocks:
            x = block(x)
        x = self.up(x) + self.skip_conv(skip)
        x = keras.ops.relu(x)
        for conv, activation in zip(self.post_conv_layers, self.post_activations):
            x = activation(conv(x))
        if self.post_norm is not None:
            x = self.post_norm(x)
        return x, self.head(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "out_filters": self.out_filters,
                "res_blocks": self.res_blocks, "post_convs": self.post_convs, "final": self.final,
                "norm_bias": self.norm_bias, "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class MCN(layers.Layer):
    """The multi-scale colorization decoder (three :class:`DecoderStage`s, table in the module docstring).

    Args:
        base_width: ``w`` (paper: 64).
        res_blocks: residual blocks per stage (paper: 2).
        norm_bias, kernel_initializer: as in :class:`DecoderStage`.
        stage_class: the class of the three stages, constructed like :class:`DecoderStage` (the default). A
            notebook passes its own subclass here (through ``build_gray2colornet(..., pieces=...)``); it is not part
            of the config, so a saved model holds :class:`DecoderStage`.

    ``call(target_features, fused, return_features=False)``:

    Inputs:
        target_features: the encoder's six maps for the (padded) target, ``(N, H, W, w)`` ... ``(N, H/8, W/8,
            8w)`` (see :class:`colorlab.models.encoder.Encoder`).
        fused: ``[(N, H/8, W/8, 8w), (N, H/4, W/4, 4w), (N, H/2, W/2, 2w)]`` from :class:`GCFN`.
    Output: ``[ab_quarter (N, H/4, W/4, 2), ab_half (N, H/2, W/2, 2), ab (N, H, W, 2)]``, tanh, in model units
    (``ab / 110``); with ``return_features`` also the three stages' feature maps.
    """

    def __init__(self, base_width=64, res_blocks=2, norm_bias=False, kernel_initializer=None, stage_class=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.base_width = int(base_width)
        self.res_blocks = int(res_blocks)
        self.norm_bias = bool(norm_bias)
        self.kernel_initializer = kernel_initializer
        w = self.base_width
        options = dict(res_blocks=self.res_blocks, norm_bias=self.norm_bias, kernel_initializer=kernel_initializer)
        stage = stage_class or DecoderStage
        self.stages = [
            stage(8 * w, 4 * w, post_convs=2, name="stage1", **options),
            stage(4 * w, 2 * w, post_convs=1, name="stage2", **options),
            stage(2 * w, 2 * w, post_convs=1, final=True, name="stage3", **options),
        ]

    def call(self, target_features, fused, return_features=False):
        block1, block2, block3, _, _, block6 = target_features
        x = block6
        outputs, features = [], []
        for stage, fused_s, skip in zip(self.stages, fused, (block3, block2, block1)):
            x, ab = stage(x, fused_s, skip)
            outputs.append(ab)
            features.append(x)
        return (outputs, features) if return_features else outputs

    def get_config(self):
        return {**super().get_config(), "base_width": self.base_width, "res_blocks": self.res_blocks,
                "norm_bias": self.norm_bias, "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class ClassificationHead(layers.Layer):
    """Scene classification from the deepest target features: global max pooling, then a dense layer.

    The paper's (global max pooling of the last encoder block, then a linear layer; it classifies ImageNet's
    1000 classes — ours Places365's 365 scenes). An auxiliary task: knowing the scene helps pick plausible colours.

    Initialisation (ours): the dense kernel starts small, N(0, 0.01), so the first logits are small (std ~0.6
    measured on photos with the ``course`` config) and the cross-entropy starts near ``log(num_classes)`` (5.9 for
    365). With Keras' Glorot default the max-pooled, instance-normalised features give logits of std ~3.5 and a
    starting loss ~12.5 whose gradient swamps the reconstruction term (measured for ``colorlab.losses``).

    ``kernel_initializer``: None for ours, N(0, 0.01); the official code's is N(0, 0.02).

    Input: ``(N, h, w, C)``. Output: logits ``(N, num_classes)`` (no softmax).
    """

    def __init__(self, num_classes, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.kernel_initializer = kernel_initializer
        self.pool = layers.GlobalMaxPooling2D(name="pool")
        self.dense = layers.Dense(self.num_classes, name="logits",
                                  kernel_initializer=kernel_initializer or keras.initializers.RandomNormal(stddev=0.01))

    def call(self, x):
        return self.dense(self.pool(x))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "kernel_initializer": self.kernel_initializer}
