"""Gray2ColorNet, assembled: encoder -> correspondence -> GCFN -> MCN (+ a scene classifier).

Lu, Yu, Peng, Zhao, Wang, "Gray2ColorNet: Transfer More Colors from Reference Image", ACM MM 2020. The pieces live
in :mod:`~colorlab.models.encoder`, :mod:`~colorlab.models.correspondence`, :mod:`~colorlab.models.gcfn` and
:mod:`~colorlab.models.mcn`; each module's docstring says which choices are the paper's and which are ours.

Use::

    from colorlab.models import build_gray2colornet, explain
    model = build_gray2colornet("tiny")
    out = model([target_l, reference_lab])        # dict: "ab", "ab_half", "ab_quarter" (+ "logits")
    info = explain(model, target_l, reference_lab) # NumPy: attention, gate, warped ab, ... for the notebooks

Inputs (the official code's Lab scaling):
    target_l ``(N, H, W, 1)`` = ``L / 50 - 1``; reference_lab ``(N, h, w, 3)`` = ``(L / 50 - 1, a / 110, b / 110)``.
    Any H, W, h, w >= 8 — odd, non-square, the reference a different size from the target — with the default
    ``"stats"`` gate; the paper's ``"full_column"`` gate needs ``h = w = config.reference_size``.

The official code's generator, exactly: ``build_gray2colornet(Gray2ColorConfig.official())`` (its switches are
listed in :mod:`colorlab.models.config`); the authors' trained weights load into it with
:func:`colorlab.models.load_official_weights`.

Odd sizes (ours): both images are padded at the bottom and right to a multiple of 8 (the encoder's total stride)
by mirroring (``symmetric`` padding), and the outputs are cropped back. Padded reference positions get attention
exactly 0 and are left out of the gate's statistics; the histogram is computed on the unpadded reference.

Outputs, in model units (tanh, ``ab / 110``):
    ``"ab"`` ``(N, H, W, 2)``; ``"ab_half"`` ``(N, ceil(H/2), ceil(W/2), 2)``; ``"ab_quarter"``
    ``(N, ceil(H/4), ceil(W/4), 2)``; ``"logits"`` ``(N, num_classes)`` when ``config.num_classes > 0``.
    E.g. a 37 x 50 target gives 37 x 50, 19 x 25 and 10 x 13 (computed on the padded 40 x 56, 20 x 28, 10 x 14).
"""

from __future__ import annotations

import math

import numpy as np

import keras
from keras import layers, ops

from colorlab.errors import ConfigError
from colorlab.models.config import TOTAL_STRIDE, Gray2ColorConfig, get_config
from colorlab.models.correspondence import Correspondence, MatchingFeatures
from colorlab.models.encoder import ENCODER_LEVELS, ENCODER_STRIDES, NORMAL_INIT, Encoder, ReferenceColorEncoder
from colorlab.models.gcfn import GCFN, GatedFusion
from colorlab.models.mcn import MCN, ClassificationHead, DecoderStage

__all__ = ["Gray2ColorNet", "build_gray2colornet", "explain", "attention_map", "count_params", "pad_to_multiple",
           "MATCHING_STRIDE", "MIN_SIDE", "PIECES"]

#: The correspondence works at half the input resolution (the paper's).
MATCHING_STRIDE = 2
#: Smallest accepted image side (one position at the encoder's deepest level).
MIN_SIDE = TOTAL_STRIDE

#: The pieces a notebook can replace with its own layer class (``Gray2ColorNet(pieces=...)``), and the package's
#: class each replaces: the student's class is constructed with the same arguments and called the same way.
PIECES = {"correspondence": Correspondence, "fusion": GatedFusion, "decoder_stage": DecoderStage}


def _check_pieces(pieces):
    """Validates a ``pieces`` dict (see :data:`PIECES`) and returns it (an empty dict for None)."""
    pieces = dict(pieces or {})
    for key, cls in pieces.items():
        if key not in PIECES:
            raise ConfigError(f"unknown piece {key!r}: the pieces a notebook can replace are {sorted(PIECES)}")
        if not (isinstance(cls, type) and issubclass(cls, layers.Layer)):
            raise ConfigError(f"piece {key!r} must be a keras.layers.Layer subclass (the class, not an instance), "
                              f"got {cls!r}")
    return pieces


def _ceil_div(size, divisor):
    """``ceil(size / divisor)`` for Python ints and backend integer tensors alike."""
    return (size + divisor - 1) // divisor


def pad_to_multiple(x, multiple=TOTAL_STRIDE):
    """Pads ``(N, H, W, C)`` at the bottom and right, by mirroring, to H and W multiples of ``multiple``.

    Returns ``(N, ceil(H/m) m, ceil(W/m) m, C)``; ``x`` itself when nothing needs padding. Needs H, W >= m - 1
    (symmetric padding mirrors at most the whole side).
    """
    shape = ops.shape(x)
    pad_h = (-shape[1]) % multiple
    pad_w = (-shape[2]) % multiple
    if isinstance(pad_h, int) and isinstance(pad_w, int) and pad_h == 0 and pad_w == 0:
        return x
    return ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="symmetric")


def _reference_mask(like, height, width):
    """1 where a matching-scale reference position covers real pixels, 0 where it is all padding.

    ``like``: ``(N, Hr, Wr, C)`` matching features of the padded reference; ``height``, ``width``: the
    unpadded reference size. Returns ``(N, Hr, Wr)``, or None when the reference was not padded.
    """
    if isinstance(height, int) and isinstance(width, int) and height % TOTAL_STRIDE == 0 \
            and width % TOTAL_STRIDE == 0:
        return None
    shape = ops.shape(like)
    rows = ops.cast(ops.arange(shape[1]) < _ceil_div(height, MATCHING_STRIDE), "float32")
    cols = ops.cast(ops.arange(shape[2]) < _ceil_div(width, MATCHING_STRIDE), "float32")
    grid = rows[:, None] * cols[None, :]
    return ops.ones_like(ops.cast(like[..., 0], "float32")) * grid[None]


@keras.saving.register_keras_serializable(package="colorlab")
class Gray2ColorNet(keras.Model):
    """The Gray2ColorNet generator (see the module docstring for inputs, outputs and sizes).

    Args:
        config: a :class:`Gray2ColorConfig`, a config name, or a dict from :meth:`Gray2ColorConfig.to_dict`.
        pieces: optional ``{name: layer class}`` replacing pieces of the model (:data:`PIECES`), for the notebooks'
            build-it exercises: the model then runs on the student's layers. Not part of the config, so
            ``get_config`` and saved files describe the package's model; the weights are the same either way.

    ``model([target_l, reference_lab])`` returns the output dict; ``model([...], return_internals=True)``
    returns ``(outputs, internals)``, where ``internals`` holds backend tensors on the padded grids (the
    notebooks use :func:`explain`, which crops them and converts them to NumPy).
    """

    def __init__(self, config: Gray2ColorConfig | str | dict = "course", pieces=None, **kwargs):
        super().__init__(**kwargs)
        pieces = _check_pieces(pieces)
        if isinstance(config, str):
            config = get_config(config)
        elif isinstance(config, dict):
            config = Gray2ColorConfig.from_dict(config)
        elif not isinstance(config, Gray2ColorConfig):
            raise ConfigError(f"Gray2ColorNet needs a Gray2ColorConfig, a config name or a dict, got {config!r}")
        self.config = config
        w = config.base_width
        init = NORMAL_INIT if config.init == "normal" else None
        self.encoder = Encoder(w, downsample=config.downsample, kernel_initializer=init, name="encoder")
        self.color_encoder = ReferenceColorEncoder(w, downsample=config.downsample, kernel_initializer=init,
                                                   name="color_encoder")
        self.matching = MatchingFeatures(ENCODER_STRIDES, MATCHING_STRIDE, name="matching_features")
        self.correspondence = pieces.get("correspondence", Correspondence)(config.temperature, name="correspondence")
        self.gcfn = GCFN(w, gate=config.gate, gate_top_k=config.gate_top_k, gate_hidden=config.gate_hidden,
                         reference_positions=config.reference_positions, hist_bins=config.hist_bins,
                         gate_value=config.gate_value, histogram=config.histogram, gate_resize=config.gate_resize,
                         downsample=config.downsample, kernel_initializer=init,
                         fusion_class=pieces.get("fusion"), name="gcfn")
        self.mcn = MCN(w, res_blocks=config.res_blocks, norm_bias=config.norm_bias, kernel_initializer=init,
                       stage_class=pieces.get("decoder_stage"), name="mcn")
        self.classifier = (ClassificationHead(config.num_classes, kernel_initializer=init, name="classifier")
                           if config.num_classes else None)
        self.ab_pool = layers.AveragePooling2D(MATCHING_STRIDE, name="reference_ab_pool")

    # ---------------------------------------------------------------------------------------- inputs
    def _split_inputs(self, inputs):
        if isinstance(inputs, dict):
            try:
                return inputs["target_l"], inputs["reference_lab"]
            except KeyError as error:
                raise ConfigError("Gray2ColorNet: a dict input needs the keys 'target_l' and 'reference_lab', "
                                  f"got {sorted(inputs)}") from error
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ConfigError("Gray2ColorNet is called as model([target_l, reference_lab]): "
                              "target_l (N, H, W, 1) = L/50 - 1, reference_lab (N, h, w, 3) = (L/50 - 1, a/110, b/110)")
        return inputs[0], inputs[1]

    def _check_shapes(self, target_l, reference_lab):
        for name, x, channels in (("target_l", target_l, 1), ("reference_lab", reference_lab, 3)):
            shape = tuple(x.shape)
            if len(shape) != 4 or (shape[3] is not None and shape[3] != channels):
                raise ConfigError(f"Gray2ColorNet: {name} must have shape (N, H, W, {channels}), got {shape}")
            for side in shape[1:3]:
                if side is not None and side < MIN_SIDE:
                    raise ConfigError(f"Gray2ColorNet: {name} sides must be at least {MIN_SIDE} pixels, "
                                      f"got shape {shape}")
        n_t, n_r = target_l.shape[0], reference_lab.shape[0]
        if n_t is not None and n_r is not None and n_t != n_r:
            raise ConfigError(f"Gray2ColorNet: target_l and reference_lab need the same batch size, got {n_t} "
                              f"and {n_r}")
        if self.config.gate == "full_column":
            size = self.config.reference_size
            sides = tuple(reference_lab.shape[1:3])
            if any(s is not None and s != size for s in sides):
                raise ConfigError(f"config {self.config.name!r} uses the paper's 'full_column' gate, which needs "
                                  f"a {size} x {size} reference; got {sides[0]} x {sides[1]}. Resize the "
                                  "reference, or use gate='stats' (any size)")

    # --------------------------------------------------------------------------------------- forward
    def call(self, inputs, training=None, return_internals=False):
        target_l, reference_lab = self._split_inputs(inputs)
        self._check_shapes(target_l, reference_lab)
        t_shape, r_shape = ops.shape(target_l), ops.shape(reference_lab)
        height, width = t_shape[1], t_shape[2]

        target = pad_to_multiple(target_l)
        reference = pad_to_multiple(reference_lab)
        target_features = self.encoder(target)                       # 6 maps, strides 1, 2, 4, 8, 8, 8
        reference_features = self.encoder(reference[..., :1])        # same weights, reference L only
        target_match = self.matching(target_features)                # (N, Hp/2, Wp/2, sum of widths)
        reference_match = self.matching(reference_features)          # (N, hp/2, wp/2, sum of widths)
        mask = _reference_mask(reference_match, r_shape[1], r_shape[2])

        colour_input = reference if self.config.color_input == "lab" else reference[..., 1:]   # Lab, or ab
        colour = self.color_encoder(colour_input)                    # (N, hp/2, wp/2, 2w)
        warped, attention, correlation = self.correspondence(
            target_match, reference_match, colour, reference_mask=mask, return_attention=True,
            return_correlation=True)                                 # (N, Hp/2, Wp/2, 2w)
        fused, gcfn_internals = self.gcfn(warped, correlation, attention, reference_lab[..., 1:],
                                          reference_mask=mask, return_internals=True)
        (ab_quarter, ab_half, ab), stage_features = self.mcn(target_features, fused, return_features=True)

        outputs = {
            "ab": ab[:, :height, :width, :],
            "ab_half": ab_half[:, :_ceil_div(height, 2), :_ceil_div(width, 2), :],
            "ab_quarter": ab_quarter[:, :_ceil_div(height, 4), :_ceil_div(width, 4), :],
        }
        if self.classifier is not None:
            outputs["logits"] = self.classifier(target_features[-1])
        if not return_internals:
            return outputs
        reference_ab_small = self.ab_pool(reference[..., 1:])
        internals = {
            "attention": attention, "correlation": correlation, "reference_mask": mask,
            "warped_ab": self.correspondence.warp(attention, reference_ab_small, ops.shape(target_match)[1:3]),
            "reference_ab_small": reference_ab_small,
            "target_features": target_features, "reference_features": reference_features,
            "warped_features": warped, "fused": fused, "stage_features": stage_features, **gcfn_internals,
        }
        return outputs, internals

    def get_config(self):
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config=config.pop("config"), **config)


def build_gray2colornet(config: Gray2ColorConfig | str = "course", pieces=None, **overrides) -> Gray2ColorNet:
    """Builds a Gray2ColorNet with its weights created (ready for ``load_weights``, ``summary``, training).

    Args:
        config: a :class:`Gray2ColorConfig` or a config name (``"tiny"``, ``"course"``, ``"paper"``).
        pieces: optional ``{name: layer class}`` (:data:`PIECES`): run the model on a notebook's own layers.
        **overrides: config fields to change (as in :func:`get_config`).

    Returns:
        A built :class:`Gray2ColorNet` (a ``keras.Model``), called as ``model([target_l, reference_lab])``.
    """
    if isinstance(config, str):
        config = get_config(config, **overrides)
    elif isinstance(config, Gray2ColorConfig):
        config = config.replace(**overrides) if overrides else config
    else:
        raise ConfigError(f"build_gray2colornet needs a Gray2ColorConfig or a config name, got {config!r}")
    model = Gray2ColorNet(config, pieces=pieces, name=f"gray2colornet_{config.name}")
    # Weights are created on the first call. A symbolic call (KerasTensors: shapes only, no arithmetic) is
    # enough and costs nothing at any size; the sizes do not change the weights, except the full-column gate's
    # input width, which is why that reference gets the config's size.
    ref_side = config.reference_size if config.gate == "full_column" else MIN_SIDE
    model([keras.KerasTensor((1, MIN_SIDE, MIN_SIDE, 1)), keras.KerasTensor((1, ref_side, ref_side, 3))])
    return model


def _crop_grid(x, rows, cols):
    """NumPy ``(N, R, C, ...)`` -> ``(N, rows, cols, ...)``."""
    return x[:, :rows, :cols]


def _crop_attention(attention, t_grid, t_valid, r_grid, r_valid):
    """``(N, Tr*Tc, Rr*Rc)`` on padded grids -> ``(N, tr*tc, rr*rc)`` on the valid ones."""
    n = attention.shape[0]
    a = attention.reshape(n, t_grid[0], t_grid[1], r_grid[0], r_grid[1])
    a = a[:, :t_valid[0], :t_valid[1], :r_valid[0], :r_valid[1]]
    return a.reshape(n, t_valid[0] * t_valid[1], r_valid[0] * r_valid[1])


def explain(model: Gray2ColorNet, target_l, reference_lab, per_level: bool = True) -> dict:
    """Runs the model once and returns what happens inside, as NumPy arrays, for the notebooks.

    Args:
        model: a built :class:`Gray2ColorNet`.
        target_l: ``(N, H, W, 1)``, ``L / 50 - 1``.
        reference_lab: ``(N, h, w, 3)``, ``(L / 50 - 1, a / 110, b / 110)``.
        per_level: also compute the attention each encoder level alone would give.

    Returns:
        A dict of NumPy arrays (grids cropped to the real image; ``ht, wt = ceil(H/2), ceil(W/2)`` and
        ``hr, wr = ceil(h/2), ceil(w/2)`` are the matching grids, positions in row-major order, index
        ``row * width + col``):

        * ``"ab"``, ``"ab_half"``, ``"ab_quarter"`` (and ``"logits"``): the model's outputs, model units (ab/110).
        * ``"attention"`` ``(N, ht*wt, hr*wr)``: where each target position looks in the reference (rows sum
          to 1). ``"correlation"``: the cosines it came from, same shape.
        * ``"attention_by_level"``: ``{level: (N, ht*wt, hr*wr)}`` for each encoder block alone (if
          ``per_level``), e.g. ``"block1"`` (edges, textures) ... ``"block6"`` (semantics).
        * ``"target_grid"`` ``(ht, wt)``, ``"reference_grid"`` ``(hr, wr)``: to reshape attention rows/columns.
        * ``"gate"`` ``(N, ht, wt)``: Omega at the matching scale (1 = trust the match, 0 = use the palette);
          ``"gate_quarter"`` ``(N, ceil(H/4), ceil(W/4))``, ``"gate_eighth"`` ``(N, ceil(H/8), ceil(W/8))``.
        * ``"reference_ab_small"`` ``(N, hr, wr, 2)``: the reference's ab averaged over 2 x 2 pixels;
          ``"warped_ab"`` ``(N, ht, wt, 2)``: that ab carried to the target by the attention — "what colour did
          the match pick", model units.
        * ``"histogram"`` ``(N, bins*bins)``: the reference's soft ab histogram; ``"global_features"``: list of
          three ``(N, C_s)`` vectors (1/8, 1/4, 1/2 scales) the histogram branch made of it.
        * ``"fused_norm"``, ``"warped_norm"``: lists of three ``(N, h_s, w_s)`` maps (1/8, 1/4, 1/2): the L2
          norm over channels of the fused and of the warped colour features.
        * ``"ab_scale"``: 110.0 (multiply model-unit ab by it to get Lab units).
    """
    target_l = np.asarray(target_l, dtype="float32")
    reference_lab = np.asarray(reference_lab, dtype="float32")
    outputs, internals = model([target_l, reference_lab], return_internals=True)
    numpy = ops.convert_to_numpy
    height, width = target_l.shape[1:3]
    ref_h, ref_w = reference_lab.shape[1:3]
    t_valid = (math.ceil(height / 2), math.ceil(width / 2))
    r_valid = (math.ceil(ref_h / 2), math.ceil(ref_w / 2))
    t_grid = (math.ceil(height / TOTAL_STRIDE) * TOTAL_STRIDE // 2, math.ceil(width / TOTAL_STRIDE) * TOTAL_STRIDE // 2)
    r_grid = (math.ceil(ref_h / TOTAL_STRIDE) * TOTAL_STRIDE // 2, math.ceil(ref_w / TOTAL_STRIDE) * TOTAL_STRIDE // 2)

    out = {key: numpy(value) for key, value in outputs.items()}
    crop = lambda a: _crop_attention(numpy(a), t_grid, t_valid, r_grid, r_valid)  # noqa: E731
    out["attention"] = crop(internals["attention"])
    out["correlation"] = crop(internals["correlation"])
    if per_level:
        mask = internals["reference_mask"]
        t_maps = model.matching(internals["target_features"], resized=True)
        r_maps = model.matching(internals["reference_features"], resized=True)
        out["attention_by_level"] = {
            level: crop(model.correspondence.attention(model.correspondence.correlation(t, r), mask))
            for level, t, r in zip(ENCODER_LEVELS, t_maps, r_maps)
        }
    out["target_grid"] = t_valid
    out["reference_grid"] = r_valid
    gate_eighth, gate_quarter, gate_half = (numpy(g)[..., 0] for g in internals["gate"])
    out["gate"] = _crop_grid(gate_half, *t_valid)
    out["gate_quarter"] = _crop_grid(gate_quarter, math.ceil(height / 4), math.ceil(width / 4))
    out["gate_eighth"] = _crop_grid(gate_eighth, math.ceil(height / 8), math.ceil(width / 8))
    out["reference_ab_small"] = _crop_grid(numpy(internals["reference_ab_small"]), *r_valid)
    out["warped_ab"] = _crop_grid(numpy(internals["warped_ab"]), *t_valid)
    out["histogram"] = numpy(internals["histogram"])
    out["global_features"] = [numpy(g) for g in internals["global"]]
    sizes = [(math.ceil(height / s), math.ceil(width / s)) for s in (8, 4, 2)]
    out["fused_norm"] = [_crop_grid(np.linalg.norm(numpy(f), axis=-1), *size)
                         for f, size in zip(internals["fused"], sizes)]
    out["warped_norm"] = [_crop_grid(np.linalg.norm(numpy(f), axis=-1), *size)
                          for f, size in zip(internals["warped"], sizes)]
    out["ab_scale"] = 110.0
    return out


def attention_map(info: dict, row: int, col: int, image: int = 0, level: str | None = None) -> np.ndarray:
    """Where one target pixel looks in the reference: its attention row as a ``(hr, wr)`` map.

    Args:
        info: the dict from :func:`explain`.
        row, col: a pixel of the target at full resolution (it falls in matching cell ``(row // 2, col // 2)``).
        image: which image of the batch.
        level: ``None`` for the model's attention, or an encoder level (``"block1"`` ... ``"block6"``) for the
            attention that level alone gives (needs ``explain(..., per_level=True)``).

    Returns:
        NumPy ``(hr, wr)``, summing to 1, on the reference's matching grid (each cell = 2 x 2 reference pixels).

    Raises:
        ConfigError: for a pixel outside the target or an unknown level.
    """
    t_rows, t_cols = info["target_grid"]
    if not (0 <= row // 2 < t_rows and 0 <= col // 2 < t_cols) or row < 0 or col < 0:
        raise ConfigError(f"attention_map: pixel ({row}, {col}) is outside the target "
                          f"(about {2 * t_rows} x {2 * t_cols} pixels)")
    if level is None:
        attention = info["attention"]
    else:
        by_level = info.get("attention_by_level") or {}
        if level not in by_level:
            raise ConfigError(f"attention_map: unknown level {level!r}; explain(..., per_level=True) gives "
                              f"{sorted(by_level)}")
        attention = by_level[level]
    return attention[image, (row // 2) * t_cols + col // 2].reshape(info["reference_grid"])


def _count(layer) -> int:
    return int(sum(np.prod(v.shape) for v in layer.weights))


def count_params(config: Gray2ColorConfig | str = "course", **overrides) -> dict:
    """Parameter counts of a config's generator, per component and in total.

    Returns:
        ``{"encoder", "color_encoder", "gcfn", "gcfn.gate", "gcfn.histogram_encoder", "gcfn.warped_pyramid",
        "mcn", "classifier", "total"}`` -> number of weights (trainable; the model has no other kind).
    """
    model = build_gray2colornet(config, **overrides)
    counts = {
        "encoder": _count(model.encoder),
        "color_encoder": _count(model.color_encoder),
        "gcfn": _count(model.gcfn),
        "gcfn.gate": _count(model.gcfn.gate_layer),
        "gcfn.histogram_encoder": _count(model.gcfn.histogram_encoder),
        "gcfn.warped_pyramid": _count(model.gcfn.pyramid),
        "mcn": _count(model.mcn),
        "classifier": _count(model.classifier) if model.classifier is not None else 0,
    }
    counts["total"] = _count(model)
    return counts
