"""Model configurations: ``tiny`` (tests, quick mode), ``laptop`` (CPU training in about an hour), ``course`` (GPU
training, the default) and ``paper``.

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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from colorlab.errors import ConfigError

__all__ = ["Gray2ColorConfig", "get_config", "CONFIG_NAMES", "DEFAULT_LOSS_WEIGHTS", "TOTAL_STRIDE", "GATES"]

#: The encoder downsamples three times by 2: inputs are padded to a multiple of this inside the model.
TOTAL_STRIDE = 8

#: The gates :class:`colorlab.models.gcfn.GCFN` knows.
GATES = ("stats", "full_column")

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

    def __post_init__(self):
        def positive_int(name, minimum=1):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"config {self.name!r}: {name} must be an integer >= {minimum}, got {value!r}")

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
        if self.gate_value is not None:
            if isinstance(self.gate_value, bool) or not isinstance(self.gate_value, (int, float)) \
                    or not 0.0 <= self.gate_value <= 1.0:
                raise ConfigError(f"config {self.name!r}: gate_value must be None or a number in [0, 1], "
                                  f"got {self.gate_value!r}")
            object.__setattr__(self, "gate_value", float(self.gate_value))
        if self.gate == "full_column" and self.reference_size % TOTAL_STRIDE:
            raise ConfigError(f"config {self.name!r}: the 'full_column' gate needs reference_size to be a "
                              f"multiple of {TOTAL_STRIDE}, got {self.reference_size}")
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
        name: ``"tiny"``, ``"laptop"``, ``"course"`` or ``"paper"``.
        **overrides: fields to change, e.g. ``temperature=0.05``; ``loss_weights`` may be partial
            (``loss_weights={"tv": 0.0}``) and is merged with the defaults.

    Raises:
        ConfigError: unknown name, unknown field, or an invalid value.
    """
    if name not in _CONFIGS:
        raise ConfigError(f"unknown config {name!r}; known configs: {', '.join(CONFIG_NAMES)}")
    return Gray2ColorConfig(**_CONFIGS[name]).replace(**overrides)
