"""GCFN, the gated colour fusion network: matched colours where the match is good, the palette elsewhere.

The paper's design (Lu et al., ACM MM 2020) has two sources of colour for each target position:

* **Semantic colour** — the reference's colour features warped onto the target by the correspondence
  (:mod:`colorlab.models.correspondence`). Precise where the target has a true counterpart in the reference,
  wrong where it has none (a red car in the target, no car in the reference).
* **Global colour** — the reference's colour *distribution*: its soft 21 x 21 = 441-bin ab histogram
  (:func:`colorlab.color.soft_ab_histogram`), turned by dense layers into one feature vector per decoder scale
  and broadcast over all positions (:class:`HistogramEncoder`). It knows which colours the reference has, not
  where — so colours absent from the matches can still be transferred ("transfer *more* colours").

A **gate** ``Omega`` in (0, 1) per target position decides between them::

    fused = warped * Omega + global * (1 - Omega)

at three scales (1/8, 1/4, 1/2 of the input), and the decoder adds ``fused`` to its features there.

The gate (paper vs ours)
------------------------
*The paper's* gate (:class:`FullColumnGate`, ``gate="full_column"``): the whole row of cosine correlations of a
target position with every reference position — 4096 numbers for a 128 x 128 reference — through a 4096 -> 1024
-> 1 MLP with a sigmoid. Its input size is the number of reference positions, so the reference must always have
exactly the training size, and the order of the inputs is tied to *where* in the reference a match is, which
should not matter.

*Ours* (:class:`StatsGate`, ``gate="stats"``, the default): the same question — "did this position find a
convincing match?" — asked through statistics of the row that do not depend on the reference's size or layout:
the ``k`` largest correlations (sorted), the mean correlation, and the normalised entropy of the attention row
(0 = one clear match, 1 = looks everywhere equally). A small MLP with a sigmoid maps these ``k + 2`` numbers to
``Omega``. Any reference size works, and the gate is invariant to permuting reference positions.

Both gates are computed at the matching scale (1/2); the maps at 1/4 and 1/8 are 2 x 2 and 4 x 4 averages
(*ours*; the official code keeps every second / fourth value: ``gate_resize="subsample"``).

The histogram (ours vs the official code's): ours is :func:`colorlab.color.soft_ab_histogram` (a Gaussian of
half a bin; mass beyond +-110 moves to the edge bins); the official code's ``calc_hist`` is
:func:`triangular_ab_histogram` (a one-bin-wide triangle, mass beyond +-110 falls off): ``histogram="triangular"``.

*Ours*, for ablations (chapter 09): ``gate_value`` fixes ``Omega`` to a constant everywhere (1 = only the matched
colours reach the decoder, 0 = only the palette). The learned gate keeps its weights, unused (they get zero
gradient), so a model trained with the learned gate loads into one with a constant gate and back.

The warped colour features come at the matching scale (``2w`` channels); the paper turns them into the 1/4 and
1/8 scales with two more convolution blocks applied *after* warping (:class:`WarpedColorPyramid`), i.e. on the
target's geometry.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorlab.errors import ConfigError
from colorlab.models.encoder import ConvBlock

__all__ = ["HistogramEncoder", "StatsGate", "FullColumnGate", "WarpedColorPyramid", "GatedFusion", "GCFN",
           "triangular_ab_histogram", "HISTOGRAMS", "GATE_RESIZES"]

#: How the model bins the reference's ab histogram: ours (Gaussian), the official code's (triangular).
HISTOGRAMS = ("gaussian", "triangular")
#: How the gate reaches the coarser scales: ours (averaging), the official code's (subsampling).
GATE_RESIZES = ("average", "subsample")


def triangular_ab_histogram(ab, bins=21):
    """The official code's ``calc_hist``: an ab histogram with a triangular (bilinear) kernel one bin wide.

    Bin centres ``c`` run from -1 to 1 on ``ab / 110`` (21 bins: 0.1 apart); a pixel gives bin ``c`` the share
    ``max(0, 1 - |a - c| / width)`` on each axis (``width`` = the bin spacing), the product of the two axes in 2-D,
    and the histogram is the mean over pixels. Inside +-1 every pixel's shares sum to 1; beyond it the mass falls
    off (a pixel at 1.05 keeps half of it, one at 1.1 or further none), so rows can sum to less than 1.

    Args:
        ab: ``(N, H, W, 2)`` in model units (``ab / 110``).
        bins: bins per axis.

    Returns:
        ``(N, bins * bins)``, a-major (``index = i_a * bins + i_b``), as :func:`colorlab.color.soft_ab_histogram`.
    """
    width = 2.0 / (bins - 1)
    n = ops.shape(ab)[0]
    pixels = ops.reshape(ops.cast(ab, "float32"), (n, -1, 2))                 # (N, P, 2)
    centres = ops.linspace(-1.0, 1.0, bins, dtype="float32")
    shares = ops.relu(width - ops.abs(centres - pixels[..., None])) / width   # (N, P, 2, bins)
    hist = ops.matmul(ops.transpose(shares[:, :, 0, :], (0, 2, 1)), shares[:, :, 1, :])   # (N, bins, bins)
    return ops.reshape(hist, (n, bins * bins)) / ops.cast(ops.shape(pixels)[1], "float32")


@keras.saving.register_keras_serializable(package="colorlab")
class HistogramEncoder(layers.Layer):
    """The colour-distribution branch: ab histogram -> one global colour vector per decoder scale.

    The paper's: three dense layers of 512 units with ReLU, then three heads of 512, 256 and 128 units with ReLU
    (one per decoder scale, 1/8, 1/4, 1/2). Ours scales these with ``base_width`` (``8w``; ``8w, 4w, 2w``).

    Args:
        widths: units of the three heads, coarsest scale first (paper: ``(512, 256, 128)``).
        hidden: units of the shared layers (paper: 512).
        depth: how many shared layers (paper: 3).
        kernel_initializer: of every dense layer; None for Keras' default.

    Input: histogram ``(N, B)`` (B = 441 for 21 x 21 bins), rows summing to 1.
    Output: list ``[(N, widths[0]), (N, widths[1]), (N, widths[2])]``.
    """

    def __init__(self, widths=(512, 256, 128), hidden=512, depth=3, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(int(w) for w in widths)
        self.hidden = int(hidden)
        self.depth = int(depth)
        self.kernel_initializer = kernel_initializer
        init = kernel_initializer or "glorot_uniform"
        self.shared = [layers.Dense(self.hidden, activation="relu", name=f"dense{i + 1}", kernel_initializer=init)
                       for i in range(self.depth)]
        self.heads = [layers.Dense(w, activation="relu", name=f"head{i + 1}", kernel_initializer=init)
                      for i, w in enumerate(self.widths)]

    def call(self, histogram):
        x = histogram
        for dense in self.shared:
            x = dense(x)
        return [head(x) for head in self.heads]

    def get_config(self):
        return {**super().get_config(), "widths": list(self.widths), "hidden": self.hidden, "depth": self.depth,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class StatsGate(layers.Layer):
    """Our gate: ``Omega`` from statistics of each target position's correlation row (any reference size).

    Features per target position (``k + 2`` numbers): the ``k`` largest cosine correlations, sorted; the mean
    correlation over real (unpadded) reference positions; the normalised entropy of the attention row. Then
    ``Dense(hidden, relu) -> Dense(1, sigmoid)``. If the reference has fewer than ``k`` positions, the missing
    values count as -1 (the lowest cosine).

    Args:
        top_k: ``k``.
        hidden: hidden units.
        kernel_initializer: of both dense layers; None for Keras' default.

    Inputs: ``correlation`` ``(N, Lt, Lr)`` (cosines), ``attention`` ``(N, Lt, Lr)`` (rows sum to 1),
    optional ``reference_mask`` ``(N, Hr, Wr)`` or ``(N, Lr)``, 1 = real position.
    Output: ``Omega`` ``(N, Lt)`` in (0, 1).
    """

    def __init__(self, top_k=8, hidden=64, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.top_k = int(top_k)
        self.hidden = int(hidden)
        self.kernel_initializer = kernel_initializer
        init = kernel_initializer or "glorot_uniform"
        self.dense = layers.Dense(self.hidden, activation="relu", name="dense", kernel_initializer=init)
        self.out = layers.Dense(1, activation="sigmoid", name="out", kernel_initializer=init)

    def build(self, correlation_shape):
        self.dense.build((None, None, self.top_k + 2))
        self.out.build((None, None, self.hidden))

    def statistics(self, correlation, attention, reference_mask=None):
        """The gate's input features, ``(N, Lt, k + 2)``: top-k cosines, mean cosine, normalised entropy."""
        correlation = ops.cast(correlation, "float32")
        attention = ops.cast(attention, "float32")
        if reference_mask is None:
            mask = ops.ones_like(correlation[:, :1, :])
        else:
            mask = ops.reshape(ops.cast(reference_mask, "float32"), (ops.shape(correlation)[0], 1, -1))
        low = -ops.ones_like(correlation[..., :1])                               # (N, Lt, 1)
        candidates = ops.concatenate([ops.where(mask > 0.5, correlation, low), ops.repeat(low, self.top_k, -1)],
                                     axis=-1)
        top, _ = ops.top_k(candidates, self.top_k, sorted=True)                 # (N, Lt, k)
        count = ops.sum(mask, axis=-1, keepdims=True)                            # (N, 1, 1)
        mean = ops.sum(correlation * mask, axis=-1, keepdims=True) / ops.maximum(count, 1.0)
        entropy = -ops.sum(attention * ops.log(attention + 1e-12), axis=-1, keepdims=True)
        entropy = entropy / ops.log(ops.maximum(count, 2.0))                     # 0 one-hot .. 1 uniform
        return ops.concatenate([top, mean, entropy], axis=-1)

    def call(self, correlation, attention, reference_mask=None):
        features = self.statistics(correlation, attention, reference_mask)
        return ops.squeeze(self.out(self.dense(features)), axis=-1)

    def get_config(self):
        return {**super().get_config(), "top_k": self.top_k, "hidden": self.hidden,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class FullColumnGate(layers.Layer):
    """The paper's gate: the full correlation row of each target position through an MLP.

    ``Dense(hidden, relu) -> Dense(1, sigmoid)`` on the ``Lr`` cosines of a target position with every reference
    position (paper: ``Lr = 4096``, ``hidden = 1024``). The reference must therefore always have the same number
    of matching positions.

    Args:
        reference_positions: ``Lr``, fixed.
        hidden: hidden units (paper: 1024).
        kernel_initializer: of both dense layers; None for Keras' default.

    Input: ``correlation`` ``(N, Lt, Lr)``. Output: ``Omega`` ``(N, Lt)`` in (0, 1).
    Raises :class:`ConfigError` if the correlation has another number of reference positions.
    """

    def __init__(self, reference_positions=4096, hidden=1024, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.reference_positions = int(reference_positions)
        self.hidden = int(hidden)
        self.kernel_initializer = kernel_initializer
        init = kernel_initializer or "glorot_uniform"
        self.dense = layers.Dense(self.hidden, activation="relu", name="dense", kernel_initializer=init)
        self.out = layers.Dense(1, activation="sigmoid", name="out", kernel_initializer=init)

    def build(self, correlation_shape):
        self.dense.build((None, None, self.reference_positions))
        self.out.build((None, None, self.hidden))

    def call(self, correlation, attention=None, reference_mask=None):
        positions = correlation.shape[-1]
        if positions is not None and positions != self.reference_positions:
            raise ConfigError(f"the 'full_column' gate (the paper's) needs exactly {self.reference_positions} "
                              f"reference positions at the matching scale, got {positions}: resize the reference "
                              "to the config's reference_size, or use gate='stats', which takes any size")
        return ops.squeeze(self.out(self.dense(ops.cast(correlation, "float32"))), axis=-1)

    def get_config(self):
        return {**super().get_config(), "reference_positions": self.reference_positions, "hidden": self.hidden,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class WarpedColorPyramid(layers.Layer):
    """Turns warped colour features at the matching scale into the three decoder scales (the paper's design).

    Input: warped ``(N, H/2, W/2, 2w)`` (already on the target's grid; H, W multiples of 8).
    Output: ``[(N, H/8, W/8, 8w), (N, H/4, W/4, 4w), (N, H/2, W/2, 2w)]`` — coarsest first, the order the decoder
    consumes them. The 1/2 map is the warped input itself; the others come from two convolution blocks (2
    convolutions each, the first with stride 2; ours, where the official code subsamples: ``downsample``, as in
    :class:`colorlab.models.encoder.ConvBlock`, like ``kernel_initializer``).
    """

    def __init__(self, base_width=64, downsample="stride", kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.base_width = int(base_width)
        self.downsample = downsample
        self.kernel_initializer = kernel_initializer
        options = dict(downsample=downsample, kernel_initializer=kernel_initializer)
        self.block_quarter = ConvBlock(4 * self.base_width, convs=2, strides=2, name="block_quarter", **options)
        self.block_eighth = ConvBlock(8 * self.base_width, convs=2, strides=2, name="block_eighth", **options)

    def call(self, warped):
        quarter = self.block_quarter(warped)
        return [self.block_eighth(quarter), quarter, warped]

    def get_config(self):
        return {**super().get_config(), "base_width": self.base_width, "downsample": self.downsample,
                "kernel_initializer": self.kernel_initializer}


@keras.saving.register_keras_serializable(package="colorlab")
class GatedFusion(layers.Layer):
    """The fusion at one scale: ``fused = warped * Omega + global * (1 - Omega)`` (the paper's; no weights).

    The global vector is broadcast over every position and the gate over every channel.

    Inputs: ``warped`` ``(N, h, w, C)``, ``global_vector`` ``(N, C)``, ``omega`` ``(N, h, w, 1)`` in [0, 1].
    Output: ``(N, h, w, C)`` in the dtype of ``warped``.
    """

    def call(self, warped, global_vector, omega):
        omega = ops.cast(omega, warped.dtype)
        global_map = ops.cast(global_vector, warped.dtype)[:, None, None, :]
        return warped * omega + global_map * (1.0 - omega)


@keras.saving.register_keras_serializable(package="colorlab")
class GCFN(layers.Layer):
    """Gated colour fusion at three scales: ``fused = warped * Omega + global * (1 - Omega)``.

    Args:
        base_width: ``w``; fused features have ``8w, 4w, 2w`` channels at 1/8, 1/4, 1/2 of the input.
        gate: ``"stats"`` (ours, any reference size) or ``"full_column"`` (the paper's).
        gate_top_k, gate_hidden: the gate's ``k`` (stats only) and hidden units.
        gate_value: None (the learned gate) or a constant ``Omega`` in [0, 1] used instead (ours, an ablation; the
            learned gate is built, so its weights load, but not called).
        reference_positions: matching positions of the reference (``full_column`` only; paper 4096).
        hist_bins: bins per ab axis of the reference histogram (paper: 21).
        histogram: ``"gaussian"`` (ours, :func:`colorlab.color.soft_ab_histogram`) or ``"triangular"`` (the
            official code's, :func:`triangular_ab_histogram`).
        gate_resize: ``"average"`` (ours) or ``"subsample"`` (the official code's): how the gate reaches 1/4, 1/8.
        downsample, kernel_initializer: of the warped-colour pyramid and (the initializer) every layer here.
        fusion_class: the layer class that fuses at each scale, called like :class:`GatedFusion` (the default). A
            notebook passes its own class here (through ``build_gray2colornet(..., pieces=...)``); it is not part
            of the config, so a saved model holds :class:`GatedFusion`.

    ``call(warped, correlation, attention, reference_ab, reference_mask=None, return_internals=False)``:

    Inputs:
        warped: warped colour features ``(N, H/2, W/2, 2w)`` on the target's (padded) grid.
        correlation, attention: ``(N, (H/2)(W/2), Lr)`` from :class:`Correspondence`.
        reference_ab: the reference's ab ``(N, h, w, 2)`` in model units (``ab / 110``), unpadded: its histogram
            is computed here (:meth:`histogram`).
        reference_mask: ``(N, Hr, Wr)`` of real reference positions (padding excluded from the gate statistics).
    Output: list of fused features ``[(N, H/8, W/8, 8w), (N, H/4, W/4, 4w), (N, H/2, W/2, 2w)]``; with
    ``return_internals`` also a dict: ``gate`` (three maps ``(N, h_s, w_s, 1)``, same order), ``global`` (three
    vectors ``(N, C_s)``), ``warped`` (the three warped maps) and ``histogram`` ``(N, hist_bins**2)``.
    """

    def __init__(self, base_width=64, gate="stats", gate_top_k=8, gate_hidden=64, reference_positions=4096,
                 hist_bins=21, gate_value=None, histogram="gaussian", gate_resize="average", downsample="stride",
                 kernel_initializer=None, fusion_class=None, **kwargs):
        super().__init__(**kwargs)
        if gate not in ("stats", "full_column"):
            raise ConfigError(f"GCFN: gate must be 'stats' or 'full_column', got {gate!r}")
        if histogram not in HISTOGRAMS:
            raise ConfigError(f"GCFN: histogram must be one of {HISTOGRAMS}, got {histogram!r}")
        if gate_resize not in GATE_RESIZES:
            raise ConfigError(f"GCFN: gate_resize must be one of {GATE_RESIZES}, got {gate_resize!r}")
        if gate_value is not None and not 0.0 <= float(gate_value) <= 1.0:
            raise ConfigError(f"GCFN: gate_value must be None or a number in [0, 1], got {gate_value!r}")
        self.gate_value = None if gate_value is None else float(gate_value)
        self.base_width = int(base_width)
        self.gate = gate
        self.gate_top_k = int(gate_top_k)
        self.gate_hidden = int(gate_hidden)
        self.reference_positions = int(reference_positions)
        self.hist_bins = int(hist_bins)
        self.histogram_kind = histogram
        self.gate_resize = gate_resize
        self.downsample = downsample
        self.kernel_initializer = kernel_initializer
        w = self.base_width
        self.pyramid = WarpedColorPyramid(w, downsample=downsample, kernel_initializer=kernel_initializer,
                                          name="warped_pyramid")
        self.histogram_encoder = HistogramEncoder(widths=(8 * w, 4 * w, 2 * w), hidden=8 * w,
                                                  kernel_initializer=kernel_initializer, name="histogram_encoder")
        if gate == "stats":
            self.gate_layer = StatsGate(self.gate_top_k, self.gate_hidden, kernel_initializer=kernel_initializer,
                                        name="gate")
        else:
            self.gate_layer = FullColumnGate(self.reference_positions, self.gate_hidden,
                                             kernel_initializer=kernel_initializer, name="gate")
        self.fusion = (fusion_class or GatedFusion)(name="fusion")
        self.pool_quarter = layers.AveragePooling2D(2, name="gate_pool_quarter")
        self.pool_eighth = layers.AveragePooling2D(4, name="gate_pool_eighth")

    def histogram(self, reference_ab):
        """ab histogram of the reference: ``(N, h, w, 2)`` model units -> ``(N, hist_bins**2)``."""
        if self.histogram_kind == "triangular":
            return triangular_ab_histogram(reference_ab, bins=self.hist_bins)
        from colorlab.color import AB_SCALE, soft_ab_histogram

        return soft_ab_histogram(ops.cast(reference_ab, "float32") * AB_SCALE, bins=self.hist_bins,
                                 ab_max=AB_SCALE)

    def resize_gate(self, omega_half):
        """The gate at the matching scale, ``(N, h, w, 1)``, and at 1/4 and 1/8 of the input (``gate_resize``).

        Returns ``[(N, h/4, w/4, 1), (N, h/2, w/2, 1), omega_half]`` (sizes of the matching grid), coarsest first.
        """
        if self.gate_resize == "subsample":
            return [omega_half[:, ::4, ::4, :], omega_half[:, ::2, ::2, :], omega_half]
        return [self.pool_eighth(omega_half), self.pool_quarter(omega_half), omega_half]

    def call(self, warped, correlation, attention, reference_ab, reference_mask=None, return_internals=False):
        shape = ops.shape(warped)
        if self.gate_value is None:
            omega = self.gate_layer(correlation, attention, reference_mask)      # (N, Lt)
        else:
            if not self.gate_layer.built:   # its weights exist, so a file saved with the learned gate loads
                self.gate_layer.build(correlation.shape)
            omega = ops.ones_like(ops.cast(correlation, "float32")[..., 0]) * self.gate_value
        omega_half = ops.cast(ops.reshape(omega, (shape[0], shape[1], shape[2], 1)), warped.dtype)
        gates = self.resize_gate(omega_half)
        histogram = self.histogram(reference_ab)
        globals_ = self.histogram_encoder(histogram)
        warped_maps = self.pyramid(warped)
        fused = [self.fusion(w_map, g_vec, omega_s) for w_map, g_vec, omega_s in zip(warped_maps, globals_, gates)]
        if not return_internals:
            return fused
        return fused, {"gate": gates, "global": globals_, "warped": warped_maps, "histogram": histogram}

    def get_config(self):
        return {**super().get_config(), "base_width": self.base_width, "gate": self.gate,
                "gate_top_k": self.gate_top_k, "gate_hidden": self.gate_hidden,
                "reference_positions": self.reference_positions, "hist_bins": self.hist_bins,
                "gate_value": self.gate_value, "histogram": self.histogram_kind, "gate_resize": self.gate_resize,
                "downsample": self.downsample, "kernel_initializer": self.kernel_initializer}
