"""Chapter 09 (evaluation): an offline dev-like set, a plausible but wrong colorization, the no-gate ablation.

:func:`sample_dev_pairs` builds a small dev-like set from ``data/samples``; :func:`rotate_hue` turns every hue of a
photo (a wrong colorization that looks plausible, for showing what PSNR and SSIM reward); :func:`constant_gate`
pins the GCFN gate of a trained model. The dev-set evaluation library (pairs from a Places365-layout folder, every
method, every metric, the tables) is :mod:`colorlab.evaluate`, what ``colorlab eval`` runs; the notebook
``notebooks/09_evaluation.ipynb`` runs it on the offline set built here and trains its ablations with
:func:`colorlab.course.ch07_losses.train_briefly`. Importing this module imports neither Keras nor TensorFlow
(:func:`rotate_hue` and :func:`constant_gate` import what they need when used).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from colorlab.errors import ConfigError
from colorlab.evaluate import PROTOCOLS, DevPair, DevPairList, gray_of, view_crops

__all__ = ["SAMPLE_OTHER_PAIRS", "SAMPLE_VIEW_PHOTOS", "sample_photo", "sample_dev_pairs", "rotate_hue",
           "constant_gate"]


#: Pairs of different photos of the same subject in ``data/samples`` (the notebook's "other" protocol).
SAMPLE_OTHER_PAIRS = (("cat_1", "cat_2"), ("dog_1", "dog_2"), ("castle_1", "castle_2"), ("eiffel_1", "eiffel_2"),
                      ("flower_1", "flower_2"), ("fruit_1", "fruit_2"), ("horse_1", "horse_2"),
                      ("lake_1", "lake_2"), ("reef_1", "reef_2"), ("taj_mahal_1", "taj_mahal_2"),
                      ("motorcycle_left", "motorcycle_right"))
#: Single photos of ``data/samples`` for the notebook's "view" protocol (the first of each pair, and a few more).
SAMPLE_VIEW_PHOTOS = ("cat_1", "dog_1", "castle_1", "flower_1", "fruit_1", "lake_1", "reef_1", "parrot",
                      "forest_path", "quokka", "coffee")


def sample_photo(name: str, size: int) -> np.ndarray:
    """``data/samples/NAME.jpg`` scaled (box filter, aspect kept) so its shorter side is ``size``; float32."""
    from PIL import Image

    from colorlab.io import load_image, sample_paths

    paths = {p.stem: p for p in sample_paths()}
    if name not in paths:
        raise ConfigError(f"no sample photo {name!r} in data/samples (known: {', '.join(sorted(paths))})")
    rgb = load_image(paths[name])
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    pil = Image.fromarray(np.round(rgb * 255).astype(np.uint8), mode="RGB")
    pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    return np.asarray(pil, dtype=np.float32) / 255.0


def sample_dev_pairs(protocol: str, size: int = 64, names: Sequence | None = None) -> DevPairList:
    """A small dev-like set from ``data/samples`` (offline, quick): for chapter 09 and smoke tests.

    ``"other"``: target = the first photo of each pair in :data:`SAMPLE_OTHER_PAIRS`, reference = the second
    (cat_1 <- cat_2, ...). ``"view"``: :func:`colorlab.evaluate.view_crops` of each photo in
    :data:`SAMPLE_VIEW_PHOTOS`. Every photo is first scaled so its shorter side is ``size`` px (aspect ratio kept).

    Args:
        protocol: ``"view"`` or ``"other"``.
        size: shorter side in pixels (>= 16; SSIM needs 11 px after cropping).
        names: for ``"view"`` a list of photo names, for ``"other"`` a list of (target, reference) names;
            default: the tables above.

    Returns:
        A :class:`colorlab.evaluate.DevPairList` (nothing skipped), labels ``-1``.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"sample_dev_pairs: protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ConfigError(f"sample_dev_pairs: size must be an integer >= 16, got {size!r}")
    pairs = []
    if protocol == "view":
        for name in (SAMPLE_VIEW_PHOTOS if names is None else names):
            target, reference = view_crops(sample_photo(name, size))
            target = np.ascontiguousarray(target)
            pairs.append(DevPair(f"view:{name}", "view", target, gray_of(target), np.ascontiguousarray(reference)))
    else:
        for t_name, r_name in (SAMPLE_OTHER_PAIRS if names is None else names):
            target = sample_photo(t_name, size)
            pairs.append(DevPair(f"other:{t_name}<-{r_name}", "other", target, gray_of(target),
                                 sample_photo(r_name, size)))
    return DevPairList(pairs)


def rotate_hue(rgb, degrees: float) -> np.ndarray:
    """The same photo with every colour's hue turned by ``degrees`` in the ab plane; L* and chroma kept.

    ``(a, b) -> (a cos t - b sin t, a sin t + b cos t)``; colours that leave the sRGB gamut at their L* get their
    chroma reduced (:func:`colorlab.cie.lab_to_rgb_keep_l`). A *plausible-looking* but wrong colorization,
    for showing what PSNR and SSIM reward (chapter 09).

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1].

    Returns:
        float32 ``(H, W, 3)`` in [0, 1].
    """
    from colorlab.cie import lab_to_rgb_keep_l, rgb_to_lab_np

    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ConfigError(f"rotate_hue: expected an RGB image (H, W, 3), got shape {x.shape}")
    lab = rgb_to_lab_np(x)
    t = math.radians(float(degrees))
    a, b = lab[..., 1], lab[..., 2]
    ab = np.stack([a * math.cos(t) - b * math.sin(t), a * math.sin(t) + b * math.cos(t)], axis=-1)
    return lab_to_rgb_keep_l(lab[..., 0], ab).astype(np.float32)


def constant_gate(model, value: float = 1.0):
    """The same generator with its GCFN gate fixed to ``value`` everywhere (an ablation; ``1.0`` = "no gate").

    Builds a Gray2ColorNet from ``model``'s config with ``gate_value=value`` (ours, see
    :class:`colorlab.models.Gray2ColorConfig`) and gives it ``model``'s weights, so
    ``fused = warped * value + global * (1 - value)``: with 1, only the matched (warped) colours reach the decoder
    and the histogram branch is cut off; with 0, only the global palette. The learned gate keeps its weights in the
    new model, unused, so every weight carries over. To *train* without the gate, give such a config to the
    trainer instead (chapter 09: ``train_briefly(..., config=get_config("tiny", gate_value=1.0))``).

    Args:
        model: a built :class:`colorlab.models.Gray2ColorNet` (e.g. from :func:`colorlab.models.load_generator`).
        value: Ω in [0, 1].

    Returns:
        A new model; ``model`` is unchanged.

    Raises:
        ConfigError: ``value`` outside [0, 1].
    """
    from colorlab.models import build_gray2colornet

    ablated = build_gray2colornet(model.config.replace(gate_value=value))
    ablated.set_weights(model.get_weights())
    return ablated
