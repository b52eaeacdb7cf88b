"""Semantic correspondence: which reference position does each target position look like?

The paper's recipe (Lu et al., ACM MM 2020, "semantic colour assignment"):

1. **One matching scale.** The encoder's six feature maps (strides 1, 2, 4, 8, 8, 8) are all resized to stride 2
   — half the input resolution — and concatenated along channels (:class:`MatchingFeatures`). Fine levels say
   "same texture/edge", deep levels say "same kind of thing"; the concatenation lets both vote. The stride-1 map is
   halved by 2 x 2 averaging (what the official code's bilinear resize by 0.5 computes), the deeper maps are
   enlarged bilinearly.
2. **Cosine similarity.** Each position's feature vector is L2-normalised (over channels), so the dot product of a
   target position ``i`` and a reference position ``j`` is their cosine similarity ``C[i, j]`` in [-1, 1]:
   the correlation matrix, shape ``(N, Ht*Wt, Hr*Wr)``.
3. **Softmax with temperature.** ``A[i, :] = softmax(C[i, :] / tau)`` over reference positions, ``tau = 0.01``
   (the paper's). A small ``tau`` makes each row nearly one-hot — each target position copies the colour of its best
   match — while a large one averages many reference positions (muddy colours). Each row sums to 1.
4. **Warp.** Any per-position reference values ``V`` (N, Hr*Wr, C) — colour features, or the reference's ab itself
   — are carried over as ``A @ V``: a weighted average of reference values for each target position.

Cost: the attention matrix has ``(H W / 4)^2`` entries per image pair — 16.8 M for the paper's 128 x 128 (4096
positions at the matching scale on each side). That quadratic cost is why the working size is small.

Numerics (ours): the correlation and softmax are computed in float32 even under a mixed-precision policy —
with ``tau = 0.01`` a rounding error of 0.004 in a bfloat16 cosine would move a logit by 0.4.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorlab.errors import ConfigError

__all__ = ["MatchingFeatures", "Correspondence", "l2_normalize", "flatten_positions", "attention_entropy"]


def l2_normalize(x, epsilon=1e-12):
    """Divides each position's feature vector by its L2 norm (over the last axis). ``(..., C)`` -> ``(..., C)``.

    ``epsilon`` keeps an all-zero vector at zero (and its gradient finite) instead of dividing by 0.
    """
    return x / ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True) + epsilon)


def flatten_positions(x):
    """``(N, H, W, C)`` -> ``(N, H*W, C)``, positions in row-major order (index = row * W + col)."""
    shape = ops.shape(x)
    return ops.reshape(x, (shape[0], -1, shape[3]))


def attention_entropy(attention, normalize=True):
    """Entropy of each attention row, ``-sum_j A_ij log A_ij``.

    Args:
        attention: ``(N, Lt, Lr)``, rows summing to 1.
        normalize: divide by ``log(Lr)`` so a uniform row gives 1 and a one-hot row 0, whatever the size.

    Returns:
        ``(N, Lt)``.
    """
    entropy = -ops.sum(attention * ops.log(attention + 1e-12), axis=-1)
    if normalize:
        size = ops.cast(ops.shape(attention)[-1], entropy.dtype)
        entropy = entropy / ops.log(ops.maximum(size, 2.0))
    return entropy


@keras.saving.register_keras_serializable(package="colorlab")
class MatchingFeatures(layers.Layer):
    """Resizes multi-scale feature maps to one matching scale and concatenates them (the paper's step 1).

    Args:
        strides: stride of each input map relative to the image, e.g. ``(1, 2, 4, 8, 8, 8)`` (the encoder's).
        matching_stride: stride of the output (paper: 2, half resolution).

    Input: a list of maps ``(N, H/s_k, W/s_k, C_k)``, H and W multiples of every stride.
    Output: ``(N, H/m, W/m, sum_k C_k)`` with ``m = matching_stride``; with ``resized=True`` in ``call``, the
    list of resized maps instead (for per-level attention in the notebooks).
    Maps finer than the matching scale are average-pooled, coarser ones enlarged bilinearly (half-pixel centres).
    """

    def __init__(self, strides=(1, 2, 4, 8, 8, 8), matching_stride=2, **kwargs):
        super().__init__(**kwargs)
        self.strides = tuple(int(s) for s in strides)
        self.matching_stride = int(matching_stride)
        self.resizers = []
        for index, stride in enumerate(self.strides):
            if stride < self.matching_stride:
                if self.matching_stride % stride:
                    raise ConfigError(f"MatchingFeatures: stride {stride} does not divide matching_stride "
                                      f"{self.matching_stride}")
                self.resizers.append(layers.AveragePooling2D(self.matching_stride // stride,
                                                             name=f"pool{index + 1}"))
            elif stride > self.matching_stride:
                if stride % self.matching_stride:
                    raise ConfigError(f"MatchingFeatures: matching_stride {self.matching_stride} does not "
                                      f"divide stride {stride}")
                self.resizers.append(layers.UpSampling2D(stride // self.matching_stride, interpolation="bilinear",
                                                         name=f"upsample{index + 1}"))
            else:
                self.resizers.append(None)

    def call(self, features, resized=False):
        if len(features) != len(self.strides):
            raise ConfigError(f"MatchingFeatures expects {len(self.strides)} feature maps (strides "
                              f"{self.strides}), got {len(features)}")
        maps = [f if resize is None else resize(f) for f, resize in zip(features, self.resizers)]
        return maps if resized else ops.concatenate(maps, axis=-1)

    def get_config(self):
        return {**super().get_config(), "strides": list(self.strides), "matching_stride": self.matching_stride}


@keras.saving.register_keras_serializable(package="colorlab")
class Correspondence(layers.Layer):
    """Cosine correlation, softmax with temperature over reference positions, and warping (no weights).

    Args:
        temperature: softmax temperature ``tau`` (paper: 0.01).

    ``call(target_features, reference_features, values, reference_mask=None, return_attention=False,
    return_correlation=False)``:

    Inputs:
        target_features: ``(N, Ht, Wt, C)`` at the matching scale.
        reference_features: ``(N, Hr, Wr, C)``; the reference grid need not match the target's.
        values: ``(N, Hr, Wr, Cv)`` reference values to warp, or a list of such tensors (each warped with the
            same attention).
        reference_mask: optional ``(N, Hr, Wr)`` of 1 (real position) / 0 (padding): padded positions get
            attention exactly 0.
    Returns:
        warped ``(N, Ht, Wt, Cv)`` (a list if ``values`` is a list); with ``return_attention`` also the
        attention ``(N, Ht*Wt, Hr*Wr)`` (rows sum to 1), with ``return_correlation`` also the cosine
        correlation ``(N, Ht*Wt, Hr*Wr)``, in that order.

    The three steps are also methods — :meth:`correlation`, :meth:`attention`, :meth:`warp` — so the notebooks
    and the model can use them one at a time.
    """

    def __init__(self, temperature=0.01, **kwargs):
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ConfigError(f"Correspondence: temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)

    @staticmethod
    def correlation(target_features, reference_features):
        """Cosine similarity of every target position with every reference position.

        ``(N, Ht, Wt, C)``, ``(N, Hr, Wr, C)`` -> ``(N, Ht*Wt, Hr*Wr)`` in float32, values in [-1, 1].
        """
        t = l2_normalize(flatten_positions(ops.cast(target_features, "float32")))
        r = l2_normalize(flatten_positions(ops.cast(reference_features, "float32")))
        return ops.einsum("nic,njc->nij", t, r)

    def attention(self, correlation, reference_mask=None):
        """``softmax(correlation / tau)`` over reference positions (last axis); masked positions get 0.

        ``correlation`` ``(N, Lt, Lr)``; ``reference_mask`` ``(N, Hr, Wr)`` or ``(N, Lr)``, 1 = real position.
        Returns ``(N, Lt, Lr)``, rows summing to 1.
        """
        logits = correlation / self.temperature
        if reference_mask is not None:
            mask = ops.reshape(ops.cast(reference_mask, logits.dtype), (ops.shape(logits)[0], 1, -1))
            logits = ops.where(mask > 0.5, logits, ops.full_like(logits, -1e9))
        return ops.softmax(logits, axis=-1)

    @staticmethod
    def warp(attention, values, target_grid):
        """Carries reference values over to the target grid: ``A @ V``.

        ``attention`` ``(N, Ht*Wt, Hr*Wr)``; ``values`` ``(N, Hr, Wr, Cv)``; ``target_grid`` = ``(Ht, Wt)``.
        Returns ``(N, Ht, Wt, Cv)`` in the dtype of ``values``.
        """
        flat = flatten_positions(ops.cast(values, attention.dtype))
        warped = ops.matmul(attention, flat)
        shape = ops.shape(values)
        warped = ops.reshape(warped, (shape[0], target_grid[0], target_grid[1], shape[3]))
        return ops.cast(warped, values.dtype)

    def call(self, target_features, reference_features, values, reference_mask=None, return_attention=False,
             return_correlation=False):
        correlation = self.correlation(target_features, reference_features)
        attention = self.attention(correlation, reference_mask)
        grid = ops.shape(target_features)[1:3]
        if isinstance(values, (list, tuple)):
            warped = [self.warp(attention, v, grid) for v in values]
        else:
            warped = self.warp(attention, values, grid)
        if not (return_attention or return_correlation):
            return warped
        out = (warped,)
        if return_attention:
            out += (attention,)
        if return_correlation:
            out += (correlation,)
        return out

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}
