"""Figures, an animation and small measurements for chapter 10 (video): what :mod:`colorlab.video` does, made visible.

The notebook ``notebooks/10_video.ipynb`` keeps its cells short by calling these. Nothing here changes how a video
is coloured: :func:`trace_clip` runs :class:`colorlab.video.FrameColorizer` exactly as
:func:`colorlab.video.colorize_frames` does, and only *records* what the propagation saw and decided, so the
notebook can show one propagation step, re-run the propagation with another ``temporal_weight`` without running the
model again, and measure the flicker frame by frame.

Shapes: a clip is uint8 RGB ``(T, H, W, 3)``; the model works at a smaller *working size* ``(h, w)`` (the shorter
side is ``config.image_size``, 64 px for the demo weights), where the propagation's lightness ``L`` is ``(T, h, w)``
in L* units [0, 100] and colours ``ab`` are ``(T, h, w, 2)`` in Lab units.

Plotting functions draw with matplotlib, give every axis a title and labels, and return the Figure (or the Axes
they drew on) without calling ``plt.show()``. PyAV is not needed here; OpenCV is (``pip install "colorlab[video]"``).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorlab.cie import frame_lightness, lab_to_rgb8, rgb_to_lab_np
from colorlab.errors import ConfigError
from colorlab.video import (CONSISTENCY_SIGMA, CUT_THRESHOLD, TEMPORAL_WEIGHT, FrameColorizer, TemporalPropagation,
                            synthetic_clip)

__all__ = ["two_shot_clip", "to_gray", "lab_frames", "RecordingPropagation", "ClipTrace", "trace_clip", "render",
           "repropagate", "propagate_with", "flow_maps", "remap", "propagation_step", "flow_to_rgb",
           "colour_change_along_motion", "track_point", "patch_mean", "format_metrics", "figure_jpeg",
           "confidence_vs_shift", "plot_over_time", "plot_propagation_step", "plot_frames",
           "side_by_side_gif", "weight_explorer"]


def _clip(frames, name: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ConfigError(f"{name} must be uint8 RGB (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    return frames


# ------------------------------------------------------------------------------------------------ clips
def two_shot_clip(first, second, size=(160, 96), frames_per_shot: int = 12, travel: float = 0.3,
                  pan_travel: float = 0.35) -> tuple[np.ndarray, int]:
    """Two shots with a scene cut between them: a pan over ``first``, then a zoom into ``second``.

    Both shots come from :func:`colorlab.video.synthetic_clip`, so the camera motion is smooth and known, and the
    only hard change is the cut.

    Args:
        first, second: photos (anything :func:`colorlab.io.load_image` reads).
        size: ``(width, height)`` of the clip in pixels.
        frames_per_shot: frames of each shot.
        travel: how far the zoom goes in: to ``1 - travel`` of the photo.
        pan_travel: ``synthetic_clip``'s ``travel`` for the pan: the window is ``1 - pan_travel`` of the widest
            one and crosses the photo from its left edge to its right edge, so a larger value moves faster.

    Returns:
        ``(clip, cut)``: uint8 RGB ``(2 * frames_per_shot, height, width, 3)`` and the index of the first frame of
        the second shot (``frames_per_shot``).
    """
    pan = synthetic_clip(first, frames_per_shot, size, "pan", travel=pan_travel)
    zoom = synthetic_clip(second, frames_per_shot, size, "zoom", travel=travel)
    return np.concatenate([pan, zoom]), int(frames_per_shot)


def to_gray(frames) -> np.ndarray:
    """Makes a clip gray keeping each pixel's CIE L* (a = b = 0), as a gray film would be.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``.

    Returns:
        uint8 ``(T, H, W, 3)`` with R = G = B.
    """
    frames = _clip(frames)
    return np.stack([lab_to_rgb8(frame_lightness(frame), None) for frame in frames])


def lab_frames(frames) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB of a clip (float64 reference conversion, :func:`colorlab.cie.rgb_to_lab_np`).

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``.

    Returns:
        ``(L, ab)``: float32 ``(T, H, W)`` in [0, 100] and ``(T, H, W, 2)`` in Lab units.
    """
    frames = _clip(frames)
    lab = np.stack([rgb_to_lab_np(frame / 255.0) for frame in frames]).astype(np.float32)
    return lab[..., 0], lab[..., 1:]


# ------------------------------------------------------------------------------------------- recording
class RecordingPropagation(TemporalPropagation):
    """A :class:`~colorlab.video.TemporalPropagation` that also keeps, per frame, what it was given and returned.

    ``records`` is a list of ``(l_small (h, w), ab_model (h, w, 2), ab (h, w, 2), FrameStats)``, in frame order.
    The colours it returns are exactly those of its parent class.
    """

    def __init__(self, weight: float = TEMPORAL_WEIGHT, sigma: float = CONSISTENCY_SIGMA,
                 cut_threshold: float = CUT_THRESHOLD):
        super().__init__(weight, sigma, cut_threshold)
        self.records: list = []

    def __call__(self, l_small, ab_model):
        ab, stats = super().__call__(l_small, ab_model)
        self.records.append((np.array(l_small, dtype=np.float32), np.array(ab_model, dtype=np.float32),
                             np.array(ab, dtype=np.float32), stats))
        return ab, stats


@dataclasses.dataclass
class ClipTrace:
    """One clip coloured by :func:`trace_clip`, with the propagation's inputs and outputs at the working size.

    Attributes:
        coloured: uint8 RGB ``(T, H, W, 3)``, the propagated result (what :func:`colorlab.video.colorize_frames`
            returns for the same arguments).
        l_small: float32 ``(T, h, w)``, each frame's L* at the working size.
        ab_model: float32 ``(T, h, w, 2)``, the model's colours for each frame on its own (per-frame colorization).
        ab: float32 ``(T, h, w, 2)``, the propagated colours.
        stats: one :class:`~colorlab.video.FrameStats` per frame.
        weight, sigma, cut_threshold: the propagation's settings.
    """

    coloured: np.ndarray
    l_small: np.ndarray
    ab_model: np.ndarray
    ab: np.ndarray
    stats: list
    weight: float
    sigma: float
    cut_threshold: float

    @property
    def cuts(self) -> list[int]:
        """Indices of the frames that took the model's colours alone (frame 0 and the detected scene cuts)."""
        return [t for t, s in enumerate(self.stats) if s.cut]

    @property
    def consistency(self) -> np.ndarray:
        """``(T,)`` mean confidence per frame (``nan`` for frame 0)."""
        return np.array([np.nan if t == 0 else s.consistency for t, s in enumerate(self.stats)])


def trace_clip(frames, reference, *, weights=None, config=None, temporal_weight: float = TEMPORAL_WEIGHT,
               sigma: float = CONSISTENCY_SIGMA, cut_threshold: float = CUT_THRESHOLD, batch_size: int = 8,
               adapt: int | None = None, seed: int = 0) -> ClipTrace:
    """Colours a clip as :func:`colorlab.video.colorize_frames` does, and records the propagation.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)`` (colour frames are fine: only their L* is used).
        reference: the colour exemplar (path, PIL image or array).
        weights, config: the model, as for :func:`colorlab.colorize` (``None``: the demo weights).
        temporal_weight, sigma, cut_threshold: the :class:`~colorlab.video.TemporalPropagation` settings.
        batch_size: frames per model call.
        adapt, seed: the reference adaptation, as for :func:`colorlab.video.colorize_frames` (``None``: the
            weights' recommendation; 0: the network as trained).

    Returns:
        :class:`ClipTrace`.
    """
    from colorlab.inference import resolve_adaptation
    from colorlab.models import load_generator

    frames = _clip(frames)
    propagation = RecordingPropagation(temporal_weight, sigma, cut_threshold)
    adapt, adapt_options = resolve_adaptation(weights, adapt)
    colorizer = FrameColorizer(load_generator(weights, config), reference, propagation=propagation,
                               batch_size=batch_size, adapt=adapt, seed=seed, adapt_options=adapt_options)
    coloured = np.concatenate([colorizer(frames[start:start + batch_size])[0]
                               for start in range(0, len(frames), batch_size)])
    l_small, ab_model, ab, stats = zip(*propagation.records)
    return ClipTrace(coloured=coloured, l_small=np.stack(l_small), ab_model=np.stack(ab_model), ab=np.stack(ab),
                     stats=list(stats), weight=propagation.weight, sigma=propagation.sigma,
                     cut_threshold=propagation.cut_threshold)


def render(frames, l_small, ab_small) -> np.ndarray:
    """Full-resolution frames from working-size colours, as :class:`~colorlab.video.FrameColorizer` makes them.

    Guided upsampling of ``ab_small`` steered by each frame's full-resolution L* (:func:`colorlab.inference.
    guided_upsample`), then Lab -> 8-bit sRGB keeping L* (:func:`colorlab.cie.lab_to_rgb8`).

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``, the clip (only its L* is used).
        l_small: ``(T, h, w)`` L* at the working size.
        ab_small: ``(T, h, w, 2)`` colours at the working size, e.g. ``trace.ab_model`` for per-frame colorization.

    Returns:
        uint8 RGB ``(T, H, W, 3)``.
    """
    from colorlab.inference import guided_upsample

    frames = _clip(frames)
    l_small, ab_small = np.asarray(l_small, np.float32), np.asarray(ab_small, np.float32)
    if l_small.shape[0] != len(frames) or ab_small.shape != (*l_small.shape, 2):
        raise ConfigError(f"render: need l_small (T, h, w) and ab_small (T, h, w, 2) for T = {len(frames)} "
                          f"frames, got {l_small.shape} and {ab_small.shape}")
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        l_full = frame_lightness(frame)
        out[t] = lab_to_rgb8(l_full, guided_upsample(ab_small[t], l_small[t] / 100.0, l_full / 100.0))
    return out


def repropagate(l_small, ab_model, weight: float = TEMPORAL_WEIGHT, sigma: float = CONSISTENCY_SIGMA,
                cut_threshold: float = CUT_THRESHOLD) -> tuple[np.ndarray, list]:
    """Runs a fresh :class:`~colorlab.video.TemporalPropagation` over recorded model colours (no model call).

    Because the model's answer for a frame does not depend on the propagation, ``repropagate(trace.l_small,
    trace.ab_model, w)`` is what colouring the clip again with ``temporal_weight=w`` gives at the working size.

    Args:
        l_small: ``(T, h, w)`` L* at the working size.
        ab_model: ``(T, h, w, 2)`` the model's per-frame colours.
        weight, sigma, cut_threshold: the propagation's settings.

    Returns:
        ``(ab, stats)``: float32 ``(T, h, w, 2)`` and one :class:`~colorlab.video.FrameStats` per frame.
    """
    propagation = TemporalPropagation(weight, sigma, cut_threshold)
    out, stats = zip(*(propagation(l, ab) for l, ab in zip(np.asarray(l_small), np.asarray(ab_model))))
    return np.stack(out), list(stats)


def flow_maps(l_now, l_previous) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of the current frame was in the previous one: the sample maps of the propagation,
    :meth:`colorlab.video.TemporalPropagation.flow` itself (the same Farnebäck flow and border rule).

    Args:
        l_now, l_previous: ``(h, w)`` L* in [0, 100].

    Returns:
        ``(map_x, map_y, inside)``: float32 ``(h, w)`` sample positions (column, row) in the previous frame, and a
        bool ``(h, w)`` that is False where the position falls outside the previous frame.
    """
    return TemporalPropagation.flow(np.asarray(l_now, np.float32), np.asarray(l_previous, np.float32))


def remap(image, map_x, map_y) -> np.ndarray:
    """Backward warp with the propagation's sampling, :meth:`colorlab.video.TemporalPropagation.warp`:
    ``out(p) = image(map(p))``, bilinear, border replicated.

    Args:
        image: ``(h, w)`` or ``(h, w, C)`` values of the previous frame.
        map_x, map_y: ``(h, w)`` sample positions from :func:`flow_maps`.

    Returns:
        float32, the shape of ``image``.
    """
    return TemporalPropagation.warp(image, map_x, map_y)


def propagate_with(confidence_fn: Callable, blend_fn: Callable, l_small, ab_model,
                   weight: float = TEMPORAL_WEIGHT, sigma: float = CONSISTENCY_SIGMA,
                   cut_threshold: float = CUT_THRESHOLD) -> np.ndarray:
    """The propagation loop with your own confidence and blend steps (chapter 10's exercises plug in here).

    For frame 0, ``ab = ab_model[0]``. For each later frame: :func:`flow_maps` from frame t back to t - 1, the
    previous *output* ``ab`` and ``L`` warped with :func:`remap`, then
    ``c = confidence_fn(L_t, L_warp, inside, sigma)`` and ``ab_t = blend_fn(ab_warp, ab_model_t, c, weight,
    cut_threshold)``. With the reference solutions this equals :func:`repropagate` up to float rounding.

    Args:
        confidence_fn: ``(l_now (h, w), l_warp (h, w), inside (h, w) bool, sigma) -> (h, w)``.
        blend_fn: ``(ab_warp (h, w, 2), ab_model (h, w, 2), confidence (h, w), weight, cut_threshold)
            -> (h, w, 2)``.
        l_small, ab_model: ``(T, h, w)`` and ``(T, h, w, 2)``, e.g. from a :class:`ClipTrace`.
        weight, sigma, cut_threshold: the propagation's settings.

    Returns:
        float32 ``(T, h, w, 2)``.
    """
    l_small, ab_model = np.asarray(l_small, np.float32), np.asarray(ab_model, np.float32)
    out = [ab_model[0]]
    for t in range(1, len(l_small)):
        map_x, map_y, inside = flow_maps(l_small[t], l_small[t - 1])
        l_warp = remap(l_small[t - 1], map_x, map_y)
        ab_warp = remap(out[-1], map_x, map_y)
        c = np.asarray(confidence_fn(l_small[t], l_warp, inside, sigma), np.float32)
        out.append(np.asarray(blend_fn(ab_warp, ab_model[t], c, weight, cut_threshold), np.float32))
    return np.stack(out)


def propagation_step(trace: ClipTrace, t: int) -> dict:
    """Everything the propagation computes for frame ``t`` of a traced clip, recomputed from its state at t - 1.

    Args:
        trace: from :func:`trace_clip`.
        t: a frame index >= 1.

    Returns:
        dict of NumPy arrays at the working size: ``l_now``, ``l_previous`` ``(h, w)``; ``ab_previous`` (the
        previous *output*), ``ab_model``, ``ab_warp``, ``ab`` (the blend) ``(h, w, 2)``; ``flow`` ``(h, w, 2)``
        (dx, dy) in pixels from frame t back to t - 1; ``confidence`` ``(h, w)``; and ``cut`` (bool),
        ``consistency`` (mean confidence), ``weight``, ``t``. ``ab`` equals ``trace.ab[t]``.
    """
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t < len(trace.l_small):
        raise ConfigError(f"t must be a frame index in [1, {len(trace.l_small) - 1}], got {t!r}")
    propagation = TemporalPropagation(trace.weight, trace.sigma, trace.cut_threshold)
    propagation.set_state({"l": trace.l_small[t - 1], "ab": trace.ab[t - 1]})
    l_now = trace.l_small[t]
    map_x, map_y, confidence = propagation.confidence(l_now, trace.l_small[t - 1])
    h, w = l_now.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    ab, stats = propagation(l_now, trace.ab_model[t])
    return {"t": int(t), "l_now": l_now, "l_previous": trace.l_small[t - 1], "ab_previous": trace.ab[t - 1],
            "ab_model": trace.ab_model[t], "ab_warp": remap(trace.ab[t - 1], map_x, map_y),
            "flow": np.stack([map_x - cols, map_y - rows], axis=-1), "confidence": confidence, "ab": ab,
            "cut": stats.cut, "consistency": stats.consistency, "weight": trace.weight}


# ------------------------------------------------------------------------------------------- measuring
def flow_to_rgb(flow, max_magnitude: float | None = None) -> np.ndarray:
    """The usual colour coding of a flow field: hue = direction, brightness = length.

    Hue is the angle of ``(dx, dy)`` in image coordinates (x right, y down): 0° (red) points right, 90° (yellow-
    green) down, 180° (cyan) left, 270° (blue-violet) up; saturation is 1; the value is ``|flow| /
    max_magnitude``, clipped to 1, so zero motion is black.

    Args:
        flow: ``(h, w, 2)`` displacements (dx, dy) in pixels.
        max_magnitude: the length drawn at full brightness (default: the largest in ``flow``).

    Returns:
        float64 RGB ``(h, w, 3)`` in [0, 1].
    """
    from matplotlib.colors import hsv_to_rgb

    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[-1] != 2:
        raise ConfigError(f"flow must have shape (h, w, 2), got {flow.shape}")
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    top = float(magnitude.max()) if max_magnitude is None else float(max_magnitude)
    hue = (np.arctan2(flow[..., 1], flow[..., 0]) / (2 * np.pi)) % 1.0
    value = np.clip(magnitude / top, 0.0, 1.0) if top > 0 else np.zeros_like(magnitude)
    return hsv_to_rgb(np.stack([hue, np.ones_like(hue), value], axis=-1))


def colour_change_along_motion(ab, lightness, *, sigma: float = CONSISTENCY_SIGMA, min_confidence: float = 0.5,
                               min_reliable: float = 0.3) -> np.ndarray:
    """Flicker, frame by frame: how much the colours change between frames *along the motion*, in Lab units.

    For each frame t >= 1, the previous frame's ``ab`` is warped onto frame t with the flow of ``lightness``
    (:func:`flow_maps`, :func:`remap`), and::

        change(t) = mean over reliable pixels p of || ab_t(p) - ab_warp(p) ||     (Euclidean, in the ab plane)

    A pixel is reliable when the propagation's confidence (lightness check, ``sigma``) is at least
    ``min_confidence``. If fewer than ``min_reliable`` of the pixels are reliable (a scene cut, or the flow
    failed), there is nothing to compare and the value is ``nan``. Pass the *same* lightness (e.g. the ground
    truth's L*) for every method, so they are measured along the same motion. A colour clip has a small change too
    (interpolation, flow errors, real colour changes): its curve is the floor.

    Args:
        ab: ``(T, h, w, 2)`` colours in Lab units.
        lightness: ``(T, h, w)`` L* that gives the flow.
        sigma, min_confidence, min_reliable: see above.

    Returns:
        float64 ``(T,)``, ``nan`` at t = 0 and where nothing is reliable.
    """
    ab, lightness = np.asarray(ab, np.float32), np.asarray(lightness, np.float32)
    if ab.ndim != 4 or ab.shape[-1] != 2 or lightness.shape != ab.shape[:3]:
        raise ConfigError(f"need ab (T, h, w, 2) and lightness (T, h, w), got {ab.shape} and {lightness.shape}")
    propagation = TemporalPropagation(sigma=sigma)
    out = np.full(len(ab), np.nan)
    for t in range(1, len(ab)):
        map_x, map_y, confidence = propagation.confidence(lightness[t], lightness[t - 1])
        reliable = confidence >= min_confidence
        if reliable.mean() < min_reliable:
            continue
        difference = np.linalg.norm(ab[t] - remap(ab[t - 1], map_x, map_y), axis=-1)
        out[t] = float(difference[reliable].mean())
    return out


def track_point(lightness, x: float, y: float, first: int = 0, last: int | None = None) -> np.ndarray:
    """Follows one point of the scene through the frames ``first .. last`` with the Farnebäck flow.

    From frame t to t + 1 the position moves by the flow that maps frame t onto frame t + 1 (the propagation's
    flow, :func:`flow_maps`, computed with the frames swapped), read bilinearly at the current position.

    Args:
        lightness: ``(T, H, W)`` L* of the clip.
        x, y: the point in frame ``first``, in pixels (column, row).
        first, last: the frames to follow it through (``last`` included; default the last frame).

    Returns:
        float64 ``(T, 2)`` positions (x, y); ``nan`` outside ``first .. last`` and once the point leaves the frame.
    """
    lightness = np.asarray(lightness, np.float32)
    if lightness.ndim != 3:
        raise ConfigError(f"lightness must have shape (T, H, W), got {lightness.shape}")
    count, h, w = lightness.shape
    last = count - 1 if last is None else int(last)
    if not 0 <= first <= last < count:
        raise ConfigError(f"need 0 <= first <= last < {count}, got first={first}, last={last}")
    track = np.full((count, 2), np.nan)
    track[first] = x, y
    for t in range(first, last):
        px, py = track[t]
        if not (0 <= px <= w - 1 and 0 <= py <= h - 1):
            break
        map_x, map_y, _ = flow_maps(lightness[t], lightness[t + 1])     # frame t (p) ~ frame t + 1 (map(p))
        sample = remap(np.stack([map_x, map_y], axis=-1), np.float32([[px]]), np.float32([[py]]))[0, 0]
        track[t + 1] = sample
    return track


def patch_mean(values, track, radius: int = 2) -> np.ndarray:
    """Mean of ``values`` over a ``(2 radius + 1)**2`` grid of points centred on each frame's tracked position.

    The grid is sampled bilinearly at the sub-pixel position itself (border replicated), so a point that moves by
    a fraction of a pixel does not make the box jump by a whole pixel now and then.

    Args:
        values: ``(T, H, W, C)``, e.g. ab in Lab units.
        track: ``(T, 2)`` positions (x, y) from :func:`track_point` (``nan``: no value).
        radius: half the box side in pixels.

    Returns:
        float64 ``(T, C)``, ``nan`` where the track is ``nan`` or outside the frame.
    """
    values, track = np.asarray(values, np.float32), np.asarray(track, np.float64)
    if values.ndim != 4 or track.shape != (len(values), 2):
        raise ConfigError(f"need values (T, H, W, C) and track (T, 2), got {values.shape} and {track.shape}")
    h, w = values.shape[1:3]
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    out = np.full((len(values), values.shape[-1]), np.nan)
    for t, (x, y) in enumerate(track):
        if not (np.isfinite(x) and np.isfinite(y) and 0 <= x <= w - 1 and 0 <= y <= h - 1):
            continue
        grid_x, grid_y = np.meshgrid(np.float32(x) + offsets, np.float32(y) + offsets)
        sampled = remap(values[t], grid_x, grid_y).reshape(-1, values.shape[-1])
        out[t] = sampled.mean(axis=0)
    return out


def confidence_vs_shift(lightness, shifts: Sequence[int], size=(96, 64), sigma: float = CONSISTENCY_SIGMA
                        ) -> np.ndarray:
    """How fast may the camera move? The mean confidence of a pure pan of ``shift`` px per frame, per shift.

    Two windows of ``size`` are cut from ``lightness`` (vertically centred): frame t - 1 at the left edge, frame t
    ``shift`` px further right (the camera moved right, the content left), and the propagation's confidence
    (:meth:`colorlab.video.TemporalPropagation.confidence`) is averaged over frame t. Even a perfect flow scores at
    most ``1 - shift / width``: that strip of frame t is new content.

    Args:
        lightness: ``(H, W)`` L* of a photo, at least ``size[1]`` tall and ``size[0] + max(shifts)`` wide.
        shifts: camera moves in pixels per frame (>= 0).
        size: ``(width, height)`` of the frames, e.g. the model's working size.
        sigma: the lightness check's spread.

    Returns:
        float64 ``(len(shifts),)``.
    """
    lightness = np.asarray(lightness, np.float32)
    width, height = size
    shifts = [int(k) for k in shifts]
    if lightness.ndim != 2 or lightness.shape[0] < height or lightness.shape[1] < width + max(shifts, default=0) \
            or min(shifts, default=0) < 0:
        raise ConfigError(f"need lightness (H, W) with H >= {height} and W >= {width} + the largest shift, and "
                          f"shifts >= 0; got {lightness.shape} and {shifts}")
    top = (lightness.shape[0] - height) // 2
    rows = slice(top, top + height)
    propagation = TemporalPropagation(sigma=sigma)
    previous = np.ascontiguousarray(lightness[rows, :width])
    return np.array([float(propagation.confidence(np.ascontiguousarray(lightness[rows, k:k + width]),
                                                  previous)[2].mean()) for k in shifts])


def format_metrics(rows: Sequence[dict]) -> str:
    """:func:`colorlab.video.evaluate_clip`'s rows as a Markdown table (PSNR in dB, CDC and warping error ×10⁻³).

    Args:
        rows: dicts with ``method``, ``psnr``, ``ssim``, ``cdc``, ``warping_error``, ``cuts``.

    Returns:
        The table; ``nan`` (the ground truth's PSNR/SSIM) is shown as ``—``, and so are the ground truth's cuts.
    """
    def number(value, digits, scale=1.0):
        return "—" if not np.isfinite(value) else f"{value * scale:.{digits}f}"

    lines = ["| method | PSNR (dB) ↑ | SSIM ↑ | CDC ×10⁻³ ↓ | warping error ×10⁻³ ↓ | frames coloured by the model "
             "alone |", "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        truth = row["method"] == "ground truth"
        lines.append(f"| {row['method']} | {number(row['psnr'], 2)} | {number(row['ssim'], 4)} | "
                     f"{number(row['cdc'], 3, 1e3)} | {number(row['warping_error'], 3, 1e3)} | "
                     f"{'—' if truth else row['cuts']} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ figures
def plot_over_time(series: dict, cuts: Sequence[int] = (), ax=None, title: str = "", ylabel: str = "",
                   styles: dict | None = None):
    """Curves over the frame index, with the scene cuts marked.

    Args:
        series: name -> ``(T,)`` values (``nan`` leaves a gap).
        cuts: frame indices of scene cuts (0 is skipped), drawn as dashed vertical lines.
        ax: Axes to draw on (default: a new figure).
        title, ylabel: labels; the x axis is "frame index t".
        styles: name -> dict of ``ax.plot`` keyword arguments.

    Returns:
        The Axes.
    """
    if not series:
        raise ConfigError("plot_over_time needs at least one series")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    styles = styles or {}
    for name, values in series.items():
        values = np.asarray(values, np.float64)
        ax.plot(np.arange(len(values)), values, label=name, **styles.get(name, {}))
    for index, cut in enumerate(c for c in cuts if c > 0):
        ax.axvline(cut - 0.5, color="0.3", linestyle="--", linewidth=1, label="scene cut" if index == 0 else None)
    ax.set_xlabel("frame index t")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def _pixel_axes(ax, title: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")


def plot_propagation_step(step: dict, size: float = 2.8, arrows: int = 12):
    """One propagation step as six pictures, at the working size.

    Top: frame t's lightness with the flow drawn as arrows (where each pixel came from in frame t - 1; lengthened
    so that the longest is about the spacing of the arrows, the factor is in the title); the flow's
    colour coding (:func:`flow_to_rgb`); the confidence map c with a colour bar. Bottom: the model's colours for
    frame t alone; the previous output warped onto frame t; the blend.

    Args:
        step: from :func:`propagation_step`.
        size: inches per picture.
        arrows: about this many arrows along the longer side.

    Returns:
        Figure.
    """
    l_now = step["l_now"]
    h, w = l_now.shape
    fig, axes = plt.subplots(2, 3, figsize=(3 * size * w / max(h, w) + 1.0, 2 * size * h / max(h, w) + 1.0))
    t, weight = step["t"], step["weight"]
    every = max(1, max(h, w) // arrows)
    rows, cols = np.mgrid[every // 2:h:every, every // 2:w:every]
    flow = step["flow"]
    magnitude = float(np.hypot(flow[..., 0], flow[..., 1]).max())
    gain = max(1, round(0.9 * every / magnitude)) if magnitude > 0 else 1    # longest arrow ~ the arrow spacing
    axes[0, 0].imshow(l_now, cmap="gray", vmin=0, vmax=100)
    axes[0, 0].quiver(cols, rows, flow[rows, cols, 0], flow[rows, cols, 1], color="tab:orange", angles="xy",
                      scale_units="xy", scale=1 / gain, width=0.006)
    _pixel_axes(axes[0, 0], f"frame {t}: L* and flow to frame {t - 1} (×{gain})")
    axes[0, 1].imshow(flow_to_rgb(flow))
    _pixel_axes(axes[0, 1], f"flow colour coding (max {magnitude:.1f} px)")
    image = axes[0, 2].imshow(step["confidence"], cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(image, ax=axes[0, 2], fraction=0.046, pad=0.04, label="c")
    _pixel_axes(axes[0, 2], f"confidence c (mean {step['consistency']:.2f})")
    panels = [(step["ab_model"], f"model alone, frame {t} (per-frame)"),
              (step["ab_warp"], f"output {t - 1} warped onto frame {t}"),
              (step["ab"], "blend: " + ("scene cut, model alone" if step["cut"] else f"w = {weight:g}"))]
    for ax, (ab, title) in zip(axes[1], panels):
        ax.imshow(lab_to_rgb8(l_now, ab))
        _pixel_axes(ax, title)
    fig.suptitle(f"One propagation step, frame {t - 1} → {t} (working size {w} × {h} px)")
    fig.tight_layout()
    return fig


def plot_frames(rows: dict, indices: Sequence[int], size: float = 1.7, cuts: Sequence[int] = ()):
    """A grid of frames: one row per version of the clip, one column per frame index.

    Args:
        rows: name -> uint8 RGB ``(T, H, W, 3)``.
        indices: the frames to show.
        size: inches per picture (height).
        cuts: frame indices of scene cuts, marked in the column titles.

    Returns:
        Figure.
    """
    if not rows or not len(indices):
        raise ConfigError("plot_frames needs at least one clip and one frame index")
    first = next(iter(rows.values()))
    h, w = first.shape[1:3]
    fig, axes = plt.subplots(len(rows), len(indices), squeeze=False,
                             figsize=(len(indices) * size * w / h, len(rows) * size + 0.5))
    for r, (name, clip) in enumerate(rows.items()):
        for c, t in enumerate(indices):
            ax = axes[r, c]
            ax.imshow(clip[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {t}" + (" (cut)" if t in cuts and t > 0 else ""), fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig


def figure_jpeg(fig, quality: int = 88, dpi: float | None = None) -> bytes:
    """Renders a figure as JPEG bytes and closes it: for figures made of photos (frame grids), which are 5 to 10
    times smaller as JPEG than as PNG, so a notebook full of frames stays small. Show with
    ``IPython.display.Image(data, format="jpeg")``; keep PNG (``plt.show()``) for line plots.

    Args:
        fig: a matplotlib Figure.
        quality: JPEG quality, 1 to 95.
        dpi: resolution (default: ``rcParams["figure.dpi"]``, what ``plt.show()`` uses inline).

    Returns:
        The JPEG file's bytes.
    """
    if not 1 <= quality <= 95:
        raise ConfigError(f"quality must be in [1, 95], got {quality!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or plt.rcParams["figure.dpi"], bbox_inches="tight",
                facecolor="white")
    plt.close(fig)
    buffer.seek(0)
    out = io.BytesIO()
    Image.open(buffer).convert("RGB").save(out, format="JPEG", quality=quality, subsampling=0)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------ animation
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:   # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def side_by_side_gif(panels: Sequence[np.ndarray], labels: Sequence[str], *, panel_width: int = 160,
                     fps: float = 8.0, label_height: int = 16, colors: int = 256) -> bytes:
    """An animated GIF of several versions of one clip, side by side, each with a label on top.

    Every frame is quantised to **one** palette, made from a sample of all frames (ours: a palette per frame
    would make the colours of a still region jump between frames — an artificial flicker, exactly what the
    animation is meant to judge), without dithering (dithering noise also changes from frame to frame).

    Args:
        panels: uint8 RGB clips ``(T, H, W, 3)`` of the same T, H, W.
        labels: one per panel.
        panel_width: each panel is scaled to this width (aspect kept).
        fps: frames per second of the animation.
        label_height: pixels of the label strip.
        colors: palette size (2 to 256).

    Returns:
        The GIF file's bytes (loops forever).
    """
    panels = [_clip(panel, "panels[i]") for panel in panels]
    if not panels or len(labels) != len(panels):
        raise ConfigError(f"side_by_side_gif needs one label per panel, got {len(panels)} panels, "
                          f"{len(labels)} labels")
    if any(panel.shape != panels[0].shape for panel in panels):
        raise ConfigError(f"all panels must have the same shape, got {[panel.shape for panel in panels]}")
    if not 2 <= colors <= 256 or not fps > 0 or panel_width < 8:
        raise ConfigError(f"need 2 <= colors <= 256, fps > 0, panel_width >= 8; got {colors}, {fps}, {panel_width}")
    count, height, width = panels[0].shape[:3]
    panel_height = max(1, round(height * panel_width / width))
    font = _font(max(8, label_height - 4))
    canvas_size = (panel_width * len(panels), panel_height + label_height)
    frames = []
    for t in range(count):
        canvas = Image.new("RGB", canvas_size, (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i, (panel, label) in enumerate(zip(panels, labels)):
            image = Image.fromarray(panel[t]).resize((panel_width, panel_height), Image.Resampling.BILINEAR)
            canvas.paste(image, (i * panel_width, label_height))
            text = f"{label}  t={t}" if i == 0 else label
            draw.text((i * panel_width + 3, 1), text, fill=(0, 0, 0), font=font)
        frames.append(canvas)
    step = max(1, count // 8)
    sample = Image.new("RGB", (canvas_size[0], canvas_size[1] * len(frames[::step])))
    for k, frame in enumerate(frames[::step]):
        sample.paste(frame, (0, k * canvas_size[1]))
    palette = sample.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    quantised = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    buffer = io.BytesIO()
    quantised[0].save(buffer, format="GIF", save_all=True, append_images=quantised[1:], loop=0,
                      duration=round(1000 / fps), optimize=False, disposal=1)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ widget
def weight_explorer(trace: ClipTrace, truth_lightness=None, truth_ab=None, cuts: Sequence[int] = ()):
    """A slider for ``temporal_weight`` and a frame scrubber over a traced clip (no model call per move).

    Moving the weight re-runs the propagation (:func:`repropagate`) over the recorded model colours and redraws
    the flicker curve (:func:`colour_change_along_motion`, at the working size) of per-frame colorization, the
    chosen weight and, if given, the ground truth, beside the chosen frame coloured with that weight.

    Args:
        trace: from :func:`trace_clip`.
        truth_lightness, truth_ab: optional ``(T, h, w)`` / ``(T, h, w, 2)`` ground truth at the working size.
        cuts: the clip's true scene cuts, marked on the curve.

    Returns:
        An ``ipywidgets.VBox`` (sliders over the output). ``box.sliders`` is ``{"weight", "frame"}``; ``box.latest``
        holds the last drawn ``{"weight", "frame", "curve", "mean_change", "cuts"}`` — setting a slider's
        ``value`` from code redraws, so tests and headless runs can drive it.
    """
    import ipywidgets as widgets

    l_small = trace.l_small
    flow_l = l_small if truth_lightness is None else np.asarray(truth_lightness, np.float32)
    baseline = colour_change_along_motion(trace.ab_model, flow_l)
    truth = None if truth_ab is None else colour_change_along_motion(truth_ab, flow_l)
    weight = widgets.FloatSlider(value=trace.weight, min=0.0, max=0.95, step=0.05, description="w",
                                 continuous_update=False, readout_format=".2f")
    frame = widgets.IntSlider(value=min(len(l_small) - 1, len(l_small) // 2), min=0, max=len(l_small) - 1,
                              description="frame t", continuous_update=False)
    latest: dict = {}

    def draw(w, t):
        ab, stats = repropagate(l_small, trace.ab_model, w, trace.sigma, trace.cut_threshold)
        curve = colour_change_along_motion(ab, flow_l)
        latest.update(weight=w, frame=t, curve=curve, mean_change=float(np.nanmean(curve)),
                      cuts=[i for i, s in enumerate(stats) if s.cut])
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"width_ratios": [1.8, 1]})
        series = {"per-frame (w = 0)": baseline, f"propagated, w = {w:.2f}": curve}
        if truth is not None:
            series["ground truth"] = truth
        plot_over_time(series, cuts, ax=left, title=f"colour change along the motion, mean {np.nanmean(curve):.2f}",
                       ylabel="|Δab| (Lab units)",
                       styles={"ground truth": {"color": "0.4", "linestyle": ":"}})
        left.axvline(t, color="tab:red", alpha=0.4)
        right.imshow(lab_to_rgb8(l_small[t], ab[t]))
        _pixel_axes(right, f"frame {t}, w = {w:.2f}" + (" (cut: model alone)" if stats[t].cut else ""))
        fig.tight_layout()
        plt.show()

    output = widgets.interactive_output(draw, {"w": weight, "t": frame})
    box = widgets.VBox([widgets.HBox([weight, frame]), output])
    box.sliders = {"weight": weight, "frame": frame}
    box.latest = latest
    return box
