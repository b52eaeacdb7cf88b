"""Model configurations: ``tiny`` (tests, quick mode), ``laptop`` (CPU training in about an hour), ``laptop96``
(the same network at 96 x 96: the demo weights), ``course`` (GPU training, the default) and ``paper``.

A :class:`Gray2ColorConfig` is a frozen dataclass: every size the generator, the discriminator and the loss
weights need, validated once when it is made. Get one by name, with overrides::

    from colorlab.models import get_config
    config = get_config("tiny")                        # CPU, seconds
    config = get_config("course", temperature=0.05)   # any field can be overridden
    config = get_config("tiny", loss_weights={"tv": 0.0})   # partial loss weights merge with the defaults

This module imports nothing heavy (no Keras), so configs can be read and printed anywhere.

Where the numbers come from
---------------------------
*The paper's* (Lu, Yu, Peng, Zhao, Wang, ACM MM 2020, and its official test code):
  working size 128 x 128 (the official code scales the target's shorter side to 144 and crops 128 x 128; the
  reference is resized to exactly 128 x 128); encoder blocks of 64/128/256/512 channels then two dilated 512-channel blocks; softmax temperature
  0.01; a 21 x 21 = 441-bin ab histogram; a gate computed from the whole correlation column (64 x 64 = 4096
  reference positions at the matching scale, half of 128), with a hidden layer of 1024 units; 2 residual blocks
  per decoder stage. The paper trains with a patch discriminator but the release has none, so its size is not
  published.
*Ours*, with the reason:
  the patch discriminator: width 64 and 3 strided layers for ``paper`` are pix2pix's 70 x 70 PatchGAN, not the
  paper's (unpublished);
  ``num_classes`` = 365: we train on Places365 scene labels (the paper classifies ImageNet's 1000 classes);
  ``tiny``, ``laptop`` and ``course`` shrink the widths (8, 16 and 32 instead of 64) so they fit tests, an hour
  of CPU and a course GPU budget;
  the default gate ``"stats"`` works for a reference of any size (see :mod:`colorlab.models.gcfn`);
  ``gate_value``, for ablations (chapter 09): a constant gate Ω instead of the learned one, which keeps its weights
  so a trained model's file still loads;
  ``loss_weights`` — the official release has test code only, so no loss weights are published; ours are
  starting values to be tuned (chapter 07 lets students move them with sliders).
*The official code's*, exactly (:meth:`Gray2ColorConfig.official`, the config the authors' trained weights load into
through :func:`colorlab.models.load_official_weights`): the ``paper`` config plus six switches, each a field whose
default is our choice, so ``tiny``/``laptop``/``course``/``paper`` keep theirs: ``downsample="subsample"``,
``color_input="ab"``, ``norm_bias=True``, ``histogram="triangular"``, ``gate_resize="subsample"``,
``init="normal"``, and ``num_classes=1000`` (ImageNet).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from colorlab.errors import ConfigError

__all__ = ["Gray2ColorConfig", "get_config", "CONFIG_NAMES", "DEFAULT_LOSS_WEIGHTS", "TOTAL_STRIDE", "GATES",
           "SWITCHES", "SIZE_LIMITS", "MAX_GATE_WEIGHTS"]

#: The encoder downsamples three times by 2: inputs are padded to a multiple of this inside the model.
TOTAL_STRIDE = 8

#: The gates :class:`colorlab.models.gcfn.GCFN` knows.
GATES = ("stats", "full_column")

#: The allowed values of each switch between our choices (first) and the official code's (second).
SWITCHES = {"downsample": ("stride", "subsample"), "color_input": ("lab", "ab"),
            "histogram": ("gaussian", "triangular"), "gate_resize": ("average", "subsample"),
            "init": ("glorot", "normal")}

#: The largest value of each size field (ours): at least twice the ``paper`` config's, small enough that a typo
#: (``"base_width": 4096``) is one :class:`ConfigError` instead of a model Keras cannot allocate. Measured: ``paper``
#: at base width 128 has 197 M parameters and builds in 1.6 GB; every doubling of the width quadruples that.
SIZE_LIMITS = {"image_size": 512, "reference_size": 512, "base_width": 128, "gate_top_k": 256, "gate_hidden": 4096,
               "hist_bins": 64, "res_blocks": 16, "num_classes": 100_000, "disc_width": 256, "disc_layers": 8}
#: The ``"full_column"`` gate's first layer has ``reference_positions x gate_hidden`` weights (the paper's:
#: 4096 x 1024); at most this many (ours: four times the paper's).
MAX_GATE_WEIGHTS = 2 ** 24

#: Ours (the official code publishes no training code and no loss weights): starting values to tune.
DEFAULT_LOSS_WEIGHTS = {"reconstruction": 1.0, "histogram": 0.5, "classification": 0.01,
                        "adversarial": 0.01, "tv": 0.1}


@dataclass(frozen=True)
class Gray2ColorConfig:
    """All sizes of a Gray2ColorNet, its discriminator, and the loss weights.

    Attributes:
        name: the config's name (``"tiny"``, ``"course"``, ``"paper"`` or your own).
        image_size: working size of the target (side in pixels) used for training and data pipelines. The model
            itself accepts any H, W >= 8 (it pads to a multiple of 8 inside and crops back). Must be a multiple of 8.
        reference_size: working size of the reference (side in pixels). Any size works with the ``"stats"``
            gate; the ``"full_column"`` gate only accepts references of exactly this size (it must be a
            multiple of 8, so the matching grid is exactly ``reference_size / 2`` on a side).
        base_width: channels of the first encoder block; the blocks have 1, 2, 4, 8, 8, 8 times this many.
            Paper: 64.
        temperature: softmax temperature of the correspondence; paper: 0.01.
        gate: ``"stats"`` (ours, default) or ``"full_column"`` (the paper's).
        gate_top_k: how many of the largest correlations the ``"stats"`` gate looks at.
        gate_hidden: hidden units of the gate's MLP (paper: 1024 for ``"full_column"``).
        gate_value: None (the learned gate, default) or a constant Ω in [0, 1] that replaces it everywhere (ours,
            an ablation: 1 = only the matched colours, 0 = only the reference's palette). The learned gate keeps
            its weights, unused, so the same weights file loads with or without it.
        hist_bins: bins per ab axis of the reference histogram (paper: 21, so 441 bins).
        res_blocks: residual blocks per decoder stage (paper: 2).
        num_classes: classification head size; 0 means no head (tiny). Course/paper: 365 Places365 scenes.
        disc_width: channels of the patch discriminator's first layer (``paper``: 64, pix2pix's width; the paper publishes none).
        disc_layers: strided layers of the patch discriminator (3, as in pix2pix's 70 x 70 PatchGAN).
        loss_weights: weights of the five losses, keys ``reconstruction, histogram, classification,
            adversarial, tv`` (ours; see the module docstring). Treat as read-only.
        downsample: how encoder blocks 2-4, the colour encoder's second block and the warped-colour pyramid halve
            the resolution: ``"stride"`` (ours: a stride-2 first convolution) or ``"subsample"`` (the official
            code's: keep every second pixel, then stride-1 convolutions).
        color_input: what the reference's colour encoder reads: ``"lab"`` (ours, 3 channels) or ``"ab"`` (the
            official code's, 2 channels).
        norm_bias: the decoder's convolutions directly followed by instance norm have a bias (the official
            code's: True; ours: False, since the norm cancels it).
        histogram: how the reference's ab histogram fed to the model is binned: ``"gaussian"`` (ours, sigma half
            a bin, out-of-range mass in the edge bins) or ``"triangular"`` (the official code's ``calc_hist``: a
            one-bin-wide triangle on ``ab / 110``, mass beyond +-110 dropped).
        gate_resize: how the gate reaches the 1/4 and 1/8 scales: ``"average"`` (ours, 2 x 2 and 4 x 4 means) or
            ``"subsample"`` (the official code's: every second / fourth value).
        init: kernel initialisation: ``"glorot"`` (ours: Keras' default, the ab heads N(0, 0.02), the classifier
            N(0, 0.01)) or ``"normal"`` (the official code's: every kernel N(0, 0.02)); biases start at 0.
    """

    name: str = "custom"
    image_size: int = 128
    reference_size: int = 128
    base_width: int = 64
    temperature: float = 0.01
    gate: str = "stats"
    gate_top_k: int = 8
    gate_hidden: int = 64
    gate_value: float | None = None
    hist_bins: int = 21
    res_blocks: int = 2
    num_classes: int = 365
    disc_width: int = 64
    disc_layers: int = 3
    loss_weights: dict = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    downsample: str = "stride"
    color_input: str = "lab"
    norm_bias: bool = False
    histogram: str = "gaussian"
    gate_resize: str = "average"
    init: str = "glorot"

    def __post_init__(self):
        def positive_int(name, minimum=1):
            value, maximum = getattr(self, name), SIZE_LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
                raise ConfigError(f"config {self.name!r}: {name} must be an integer in [{minimum}, {maximum}] "
                                  f"(SIZE_LIMITS), got {value!r}")

        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"config name must be a non-empty string, got {self.name!r}")
        for name in ("image_size", "reference_size"):
            positive_int(name, minimum=TOTAL_STRIDE)
        if self.image_size % TOTAL_STRIDE:
            raise ConfigError(f"config {self.name!r}: image_size must be a multiple of {TOTAL_STRIDE}, "
                              f"got {self.image_size}")
        for name in ("base_width", "gate_top_k", "gate_hidden", "disc_width", "disc_layers"):
            positive_int(name)
        positive_int("hist_bins", minimum=2)
        positive_int("res_blocks", minimum=0)
        positive_int("num_classes", minimum=0)
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not self.temperature > 0:
            raise ConfigError(f"config {self.name!r}: temperature must be a number > 0, got {self.temperature!r}")
        object.__setattr__(self, "temperature", float(self.temperature))
        if self.gate not in GATES:
            raise ConfigError(f"config {self.name!r}: gate must be one of {GATES}, got {self.gate!r}")
        for name, choices in SWITCHES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"config {self.name!r}: {name} must be one of {choices}, got {value!r}")
        if not isinstance(self.norm_bias, bool):
            raise ConfigError(f"config {self.name!r}: norm_bias must be True or False, got {self.norm_bias!r}")
        if self.gate_value is not None:
            if isinstance(self.gate_value, bool) or not isinstance(self.gate_value, (int, float)) \
                    or not 0.0 <= self.gate_value <= 1.0:
                raise ConfigError(f"config {self.name!r}: gate_value must be None or a number in [0, 1], "
                                  f"got {self.gate_value!r}")
            object.__setattr__(self, "gate_value", float(self.gate_value))
        if self.gate == "full_column" and self.reference_size % TOTAL_STRIDE:
            raise ConfigError(f"config {self.name!r}: the 'full_column' gate needs reference_size to be a "
                              f"multiple of {TOTAL_STRIDE}, got {self.reference_size}")
        if self.gate == "full_column" and self.reference_positions * self.gate_hidden > MAX_GATE_WEIGHTS:
            raise ConfigError(f"config {self.name!r}: the 'full_column' gate would have {self.reference_positions} "
                              f"x {self.gate_hidden} = {self.reference_positions * self.gate_hidden:,} weights in its "
                              f"first layer, more than MAX_GATE_WEIGHTS = {MAX_GATE_WEIGHTS:,}; lower "
                              "reference_size or gate_hidden")
        if not isinstance(self.loss_weights, dict):
            raise ConfigError(f"config {self.name!r}: loss_weights must be a dict, got {type(self.loss_weights)}")
        if set(self.loss_weights) != set(DEFAULT_LOSS_WEIGHTS):
            raise ConfigError(f"config {self.name!r}: loss_weights must have exactly the keys "
                              f"{sorted(DEFAULT_LOSS_WEIGHTS)}, got {sorted(self.loss_weights)}")
        weights = {}
        for key in DEFAULT_LOSS_WEIGHTS:  # a copy in the canonical order, so no caller can mutate ours
            value = self.loss_weights[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"config {self.name!r}: loss weight {key!r} must be a number >= 0, got {value!r}")
            weights[key] = float(value)
        object.__setattr__(self, "loss_weights", weights)

    # A dict field makes the generated hash fail; configs are compared by value, never hashed.
    __hash__ = None

    @property
    def matching_grid(self) -> tuple[int, int]:
        """(rows, cols) of the reference's matching grid at ``reference_size``: half the padded size."""
        side = -(-self.reference_size // TOTAL_STRIDE) * TOTAL_STRIDE // 2
        return side, side

    @property
    def reference_positions(self) -> int:
        """Reference positions at the matching scale (4096 for the paper's 128 x 128 reference)."""
        rows, cols = self.matching_grid
        return rows * cols

    @classmethod
    def official(cls, **overrides) -> "Gray2ColorConfig":
        """The official code's generator, exactly: what the authors' trained weights load into.

        ``paper`` with every switch set to the official code's choice and ImageNet's 1000 classes (see the module
        docstring); ``overrides`` change fields as in :func:`get_config`.
        """
        official = dict(name="official", num_classes=1000, downsample="subsample", color_input="ab", norm_bias=True,
                        histogram="triangular", gate_resize="subsample", init="normal")
        return get_config("paper").replace(**{**official, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict of every field (a fresh copy)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["loss_weights"] = dict(self.loss_weights)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Gray2ColorConfig":
        """Inverse of :meth:`to_dict`. Unknown keys raise :class:`ConfigError` (a typo must not pass silently)."""
        if not isinstance(data, dict):
            raise ConfigError(f"Gray2ColorConfig.from_dict needs a dict, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown Gray2ColorConfig field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    def replace(self, **overrides) -> "Gray2ColorConfig":
        """A copy with some fields changed (validated); ``loss_weights`` may be partial and is merged."""
        data = self.to_dict()
        if "loss_weights" in overrides:
            weights = overrides.pop("loss_weights")
            if not isinstance(weights, dict):
                raise ConfigError(f"loss_weights must be a dict, got {type(weights).__name__}")
            unknown = sorted(set(weights) - set(DEFAULT_LOSS_WEIGHTS))
            if unknown:
                raise ConfigError(f"unknown loss weight(s) {unknown}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}")
            data["loss_weights"].update(weights)
        unknown = sorted(set(overrides) - set(data))
        if unknown:
            raise ConfigError(f"unknown Gray2ColorConfig field(s) {unknown}; known fields: {sorted(data)}")
        data.update(overrides)
        return Gray2ColorConfig.from_dict(data)


_CONFIGS = {
    # CPU: tests and the notebooks' quick mode. No classification head (no labels in toy data).
    "tiny": dict(name="tiny", image_size=32, reference_size=32, base_width=8, gate="stats", gate_top_k=4,
                 gate_hidden=16, res_blocks=1, num_classes=0, disc_width=8, disc_layers=3),
    # CPU in about an hour: what the demo weights are trained with when no GPU is at hand (64 x 64, width 16).
    "laptop": dict(name="laptop", image_size=64, reference_size=64, base_width=16, gate="stats", gate_top_k=8,
                   gate_hidden=32, res_blocks=1, num_classes=365, disc_width=16, disc_layers=3),
    # The demo weights: laptop's network at 96 x 96 (the same parameters: it is convolutional), what 64-px weights
    # were fine-tuned into on a GPU (data/weights/MODEL_CARD.md).
    "laptop96": dict(name="laptop96", image_size=96, reference_size=96, base_width=16, gate="stats", gate_top_k=8,
                     gate_hidden=32, res_blocks=1, num_classes=365, disc_width=16, disc_layers=3),
    # One GPU, a Places365 subset at 128 x 128: the paper's layout at half the width, our size-free gate.
    "course": dict(name="course", image_size=128, reference_size=128, base_width=32, gate="stats",
                   gate_top_k=8, gate_hidden=64, res_blocks=2, num_classes=365, disc_width=32, disc_layers=3),
    # The official code's shapes: 128 x 128, width 64, the full-column gate (4096 -> 1024 -> 1).
    "paper": dict(name="paper", image_size=128, reference_size=128, base_width=64, gate="full_column",
                  gate_top_k=8, gate_hidden=1024, res_blocks=2, num_classes=365, disc_width=64, disc_layers=3),
}

#: The names :func:`get_config` knows.
CONFIG_NAMES = tuple(_CONFIGS)


def get_config(name: str = "course", **overrides) -> Gray2ColorConfig:
    """Returns the named config, with any field overridden.

    Args:
        name: ``"tiny"``, ``"laptop"``, ``"laptop96"``, ``"course"`` or ``"paper"``.
        **overrides: fields to change, e.g. ``temperature=0.05``; ``loss_weights`` may be partial
            (``loss_weights={"tv": 0.0}``) and is merged with the defaults.

    Raises:
        ConfigError: unknown name, unknown field, or an invalid value.
    """
    if name not in _CONFIGS:
        raise ConfigError(f"unknown config {name!r}; known configs: {', '.join(CONFIG_NAMES)}")
    return Gray2ColorConfig(**_CONFIGS[name]).replace(**overrides)
