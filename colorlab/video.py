"""Colour a video from one reference photo, without flicker: :func:`colorize_video`.

Use::

    import colorlab
    result = colorlab.colorize_video("gray.mp4", "reference.jpg", "coloured.mp4")
    print(result.frames, "frames,", len(result.cuts), "scene cuts")

    # or, from a shell:  colorlab video gray.mp4 --reference reference.jpg -o coloured.mp4

Why not simply :func:`colorlab.colorize` every frame? Each frame would be coloured on its own; small changes of
lightness between frames (noise, motion, compression) change the model's answer a little, and the colours
*flicker*. Gray2ColorNet is an image model (the paper does not treat video); everything below is ours.

For each frame ``t``, at the model's working size (``config.image_size`` on the shorter side):

1. **The model** colours the frame from the reference: ``ab_model(t)``. Frames go through the model in batches.
2. **Carry the previous colours forward.** Optical flow from frame ``t`` back to frame ``t-1`` (Farnebäck 2003,
   OpenCV, on the 8-bit lightness) says where each pixel came from. Warping (bilinear) brings the previous
   *output* colours ``ab(t-1)`` and lightness ``L(t-1)`` onto frame ``t``: ``ab_warp``, ``L_warp``.
3. **Trust the warp where it is right.** We know the true lightness of frame ``t``, so a warp that landed on the
   right spot reproduces it. Per pixel, the confidence is
   ``c = exp(-(L(t) - L_warp)**2 / (2 sigma**2))`` (``sigma`` = :data:`CONSISTENCY_SIGMA` L* units), and 0 where
   the flow points outside the previous frame (by more than half a pixel). Occlusions, new objects and flow errors
   get ``c ~ 0``.
4. **Blend:** ``ab(t) = w c ab_warp + (1 - w c) ab_model(t)`` with ``w`` = ``temporal_weight`` (default
   :data:`TEMPORAL_WEIGHT`). This is a recursive (exponential) filter along the motion: colours follow the
   objects, and the model keeps pulling them back towards the reference, so errors cannot pile up.
   ``temporal_weight=0`` is per-frame colorization.
5. **Scene cuts re-anchor to the reference.** If the mean confidence of a frame is below ``cut_threshold``
   (default :data:`CUT_THRESHOLD`), nothing of the previous shot survives the warp: the frame is treated as a cut
   and takes the model's colours alone, ``ab(t) = ab_model(t)``.
6. **Full resolution** as in :func:`colorlab.colorize`: guided upsampling of ``ab(t)`` steered by the frame's
   full-resolution L*, and the output keeps each frame's L* exactly (up to 8-bit rounding).

Files (PyAV, whose wheels carry FFmpeg; no shell commands): the video is decoded frame by frame and encoded with
H.264 (libx264, CRF :data:`DEFAULT_CRF`, no B-frames) into ``.mp4``, ``.mov`` or ``.mkv``. Frame rate, each
frame's timestamp, size and pixel aspect ratio are kept; audio streams are copied packet for packet (remuxed, not
re-encoded); other streams (subtitles, data) and rotation metadata are not copied. (One exception to "timestamps
kept": Matroska cannot store negative times, so when the audio starts before 0, as AAC's encoder priming does, an
``.mkv`` output has every stream shifted by that amount: sync is kept, absolute times move by some tens of ms.)

Work is written in segments of :data:`SEGMENT_FRAMES` frames to ``OUTPUT.partial/`` together with the propagation
state after each segment, so a job that is interrupted (Ctrl-C, a crash, a kill) continues from the last finished
segment when run again with the same arguments: no frame is lost or written twice, and the frames are exactly those
of an uninterrupted run (the model call repeats bit for bit, see :func:`compiled_call_repeats`). One job at a time
works in ``OUTPUT.partial/`` (:class:`colorlab.locks.FolderLock`): a second one is refused at once, naming the
first. A damaged resume folder (state file, segment) is refused with a hint to restart. The output file appears only
at the end (atomic rename); nothing existing is overwritten without ``overwrite=True``, and never the input or the
reference. The input, the reference, the output path and the work budget (:class:`colorlab.inference.WorkBudget`,
on the frame size) are all checked before the model loads.

``colorlab.colorize_video`` is this module's :func:`colorize_video`, resolved lazily (``import colorlab`` stays
light; PyAV and OpenCV are imported on first use).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import io
import json
import math
import os
import pathlib
import shutil
import time
import warnings
import zipfile
from fractions import Fraction

import numpy as np
from PIL import Image

from colorlab.cie import frame_lightness
from colorlab.errors import ColorlabError, ConfigError, VideoError
from colorlab.files import create_temporary, move_into_place, write_atomic, write_json
from colorlab.locks import LOCK_NAME, FolderLock

__all__ = ["colorize_video", "colorize_frames", "probe_video", "read_frames", "write_frames", "synthetic_clip",
           "evaluate_clip", "TemporalPropagation", "FrameColorizer", "FrameStats", "VideoInfo", "VideoResult",
           "TEMPORAL_WEIGHT", "CONSISTENCY_SIGMA", "CUT_THRESHOLD", "SEGMENT_FRAMES", "DEFAULT_CRF",
           "OUTPUT_FORMATS", "compiled_call_repeats", "pad_batch"]

#: Weight ``w`` of the colours carried forward by the flow (0 = per-frame colorization, below 1 so the model
#: always pulls towards the reference). Ours: with c ~ 1 a colour error decays as 0.85**t, half-life ~4 frames,
#: which removes most frame-to-frame flicker while a wrong colour fades in well under a second.
TEMPORAL_WEIGHT = 0.85
#: Spread of the lightness check, in L* units: a warped pixel whose L* is off by sigma keeps 61 % of its weight,
#: by 2 sigma 14 %. Ours: above H.264 noise at CRF ~20 (1-2 L*), below the contrast of an object edge.
CONSISTENCY_SIGMA = 4.0
#: A frame whose mean confidence is below this is a scene cut (re-anchored to the reference). Ours, measured on
#: the development clips (first 80 frames, demo weights' 64 px working size): the lowest mean confidence inside
#: a shot was 0.92 (vtest.avi), 0.60 (tree.avi), 0.49 (Megamind.avi, fast cartoon motion) and 0.87 on synthetic
#: pans, zooms and shakes; the cuts between two photos scored 0.02-0.20.
CUT_THRESHOLD = 0.35
#: Frames per resumable segment.
SEGMENT_FRAMES = 48
#: x264 constant rate factor of the output (lower = better and bigger; 18 is close to visually lossless).
DEFAULT_CRF = 18
#: Output file suffixes and their FFmpeg container names.
OUTPUT_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}

# Farnebäck parameters of OpenCV's tutorial (as colorlab.metrics.farneback_flows), a common default.
_FLOW_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
_JOB_VERSION = 1
#: Where a job keeps the weights its model was adapted to the reference with (read back when it resumes).
_ADAPTED_FILE = "adapted.weights.h5"


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ColorlabError("video colorization needs OpenCV and PyAV: pip install \"colorlab[video]\"") from None
    return cv2


def _av():
    try:
        import av
    except ImportError:
        raise ColorlabError("video files need PyAV: pip install \"colorlab[video]\"") from None
    return av


# ---------------------------------------------------------------------------------------------- probing
@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found in a file.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        frame_count: frames present (counted by reading every packet, not taken from the header).
        fps: average frame rate (frames per second) as a fraction.
        time_base: the unit of the video stream's timestamps (seconds).
        duration: seconds, from the frame count and rate.
        codec: the video codec's FFmpeg name.
        audio: the audio streams' codec names (copied to the output as they are).
        sample_aspect_ratio: pixel aspect ratio (``None`` when the file does not say; square pixels).
    """

    path: str
    width: int
    height: int
    frame_count: int
    fps: Fraction
    time_base: Fraction
    duration: float
    codec: str
    audio: tuple = ()
    sample_aspect_ratio: Fraction | None = None


def _open_input(path: pathlib.Path):
    av = _av()
    if not path.exists():
        raise VideoError(f"cannot read video {os.fspath(path)!r}: no such file")
    if not path.is_file():
        raise VideoError(f"cannot read video {os.fspath(path)!r}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"cannot read video {os.fspath(path)!r}: the file is empty")
    try:
        return av.open(os.fspath(path), mode="r")
    except av.FFmpegError as error:
        raise VideoError(f"cannot read video {os.fspath(path)!r}: not a video file FFmpeg can read, or a "
                         f"truncated one ({_ffmpeg_message(error)})") from None


def _ffmpeg_message(error) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split())[:200]


def _video_stream(container, path: pathlib.Path):
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        raise VideoError(f"cannot read video {os.fspath(path)!r}: it is a still image, not a video (colour it "
                         "with colorlab colorize)")
    if not container.streams.video:
        raise VideoError(f"cannot read video {os.fspath(path)!r}: the file has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.is_decoder:
        raise VideoError(f"cannot read video {os.fspath(path)!r}: its video codec "
                         f"{_codec_name(stream)!r} cannot be decoded by the FFmpeg bundled with PyAV")
    return stream


def _codec_name(stream) -> str:
    context = stream.codec_context
    if context is not None and context.name:
        return context.name
    tag = getattr(stream, "codec_tag", None)
    return tag or "unknown"


def probe_video(path) -> VideoInfo:
    """Opens a video file, checks that it can be coloured, and describes it (without decoding any frame).

    Every packet of the video stream is read (demuxed, which is fast) to count the frames that are really there.

    Args:
        path: the video file.

    Returns:
        :class:`VideoInfo`.

    Raises:
        VideoError: missing or empty file; not a video FFmpeg can read; no video stream; a codec the bundled FFmpeg
            cannot decode; no frames; fewer frames than the file's header promises (truncated).
    """
    av = _av()
    path = pathlib.Path(path)
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise VideoError(f"cannot read video {os.fspath(path)!r}: its video stream has no frame size "
                             f"(codec {_codec_name(stream)!r} not supported)")
        promised = int(stream.frames or 0)
        count, end = 0, None
        try:
            for packet in container.demux(stream):
                if packet.size:
                    count += 1
                    if packet.pts is not None:
                        stop = packet.pts + (packet.duration or 0)
                        end = stop if end is None else max(end, stop)
        except av.FFmpegError as error:
            raise VideoError(f"cannot read video {os.fspath(path)!r}: reading failed after {count} frames, the "
                             f"file is truncated or corrupt ({_ffmpeg_message(error)})") from None
        if count == 0:
            raise VideoError(f"cannot read video {os.fspath(path)!r}: the video stream has no frames")
        # Truncated: the frames end well before the duration the header promises (or, without a duration, fewer
        # frames than promised). Not the frame count alone: AVI files with dropped frames count the gaps too.
        if container.format.name == "avi" and promised and end is not None:
            if end < promised:   # AVI timestamps count frames; without its index FFmpeg guesses the duration
                raise VideoError(f"cannot read video {os.fspath(path)!r}: truncated, the header promises "
                                 f"{promised} frames but the file ends at frame {end}")
        elif stream.duration and end is not None:
            present = end - (stream.start_time or 0)
            if present < 0.95 * stream.duration:
                raise VideoError(f"cannot read video {os.fspath(path)!r}: truncated, the header promises "
                                 f"{float(stream.duration * stream.time_base):.2f} s but the frames end at "
                                 f"{float(present * stream.time_base):.2f} s")
        elif promised and count < promised:
            raise VideoError(f"cannot read video {os.fspath(path)!r}: truncated, the header promises {promised} "
                             f"frames but only {count} are in the file")
        fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
        return VideoInfo(
            path=os.fspath(path), width=int(width), height=int(height), frame_count=count, fps=fps,
            time_base=Fraction(stream.time_base or Fraction(1, 1) / fps), duration=float(count / fps),
            codec=_codec_name(stream),
            audio=tuple(_codec_name(s) for s in container.streams.audio),
            sample_aspect_ratio=Fraction(stream.sample_aspect_ratio) if stream.sample_aspect_ratio else None)
    finally:
        container.close()


def _decoded_frames(path: pathlib.Path, info: VideoInfo):
    """Yields ``(index, pts, rgb uint8 (H, W, 3))`` for every frame, in presentation order.

    ``pts`` is in units of ``info.time_base``; a frame without a timestamp gets the one its index implies, and a
    timestamp that does not increase is bumped by one unit (encoders need increasing timestamps).
    """
    av = _av()
    container = _open_input(path)
    try:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        last = None
        index = 0
        try:
            for frame in container.decode(stream):
                pts = frame.pts
                if pts is None:
                    pts = round(index / info.fps / info.time_base)
                if last is not None and pts <= last:
                    pts = last + 1
                last = pts
                yield index, int(pts), frame.to_ndarray(format="rgb24")
                index += 1
        except av.FFmpegError as error:
            raise VideoError(f"cannot read video {os.fspath(path)!r}: decoding failed at frame {index}, the file "
                             f"is truncated or corrupt ({_ffmpeg_message(error)})") from None
        if index < info.frame_count:
            raise VideoError(f"cannot read video {os.fspath(path)!r}: only {index} of its {info.frame_count} "
                             "frames could be decoded (truncated or corrupt)")
    finally:
        container.close()


def read_frames(path, max_frames: int | None = None) -> tuple[np.ndarray, VideoInfo]:
    """Decodes a video into memory (for notebooks and evaluation; :func:`colorize_video` streams instead).

    Args:
        path: the video file.
        max_frames: stop after this many frames (``None``: all).

    Returns:
        ``(frames, info)``: uint8 RGB ``(T, H, W, 3)`` and :class:`VideoInfo`.

    Raises:
        VideoError: as :func:`probe_video`, or decoding fails.
    """
    path = pathlib.Path(path)
    info = probe_video(path)
    frames = []
    for index, _, rgb in _decoded_frames(path, info):
        frames.append(rgb)
        if max_frames is not None and len(frames) >= max_frames:
            break
    return np.stack(frames), info


# ------------------------------------------------------------------------------------------- propagation
@dataclasses.dataclass(frozen=True)
class FrameStats:
    """What :class:`TemporalPropagation` decided for one frame.

    Attributes:
        cut: the frame starts a new shot (or is the first frame): it took the model's colours alone.
        consistency: mean confidence of the warped previous frame, in [0, 1] (0 for the first frame).
    """

    cut: bool
    consistency: float


class TemporalPropagation:
    """Carries the previous frame's colours forward along the optical flow and blends them with the model's.

    The state is the previous frame's lightness and output ab at the working size. See the module docstring for
    the equations; all the choices here are ours (Gray2ColorNet is an image model).

    Args:
        weight: ``w`` in [0, 1), the weight of the carried-forward colours; 0 turns propagation off.
        sigma: the lightness check's spread in L* units (> 0).
        cut_threshold: mean confidence in [0, 1] below which a frame is treated as a scene cut.
    """

    def __init__(self, weight: float = TEMPORAL_WEIGHT, sigma: float = CONSISTENCY_SIGMA,
                 cut_threshold: float = CUT_THRESHOLD):
        _check_number("temporal_weight", weight, 0.0, 1.0, high_open=True)
        _check_number("sigma", sigma, 0.0, math.inf, low_open=True)
        _check_number("cut_threshold", cut_threshold, 0.0, 1.0)
        self.weight = float(weight)
        self.sigma = float(sigma)
        self.cut_threshold = float(cut_threshold)
        self.reset()

    def reset(self) -> None:
        """Forgets the previous frame (the next frame is treated as the first of a shot)."""
        self._previous_l = None
        self._previous_ab = None

    def get_state(self) -> dict:
        """The state as NumPy arrays (empty dict before the first frame), for saving with a segment."""
        if self._previous_l is None:
            return {}
        return {"l": self._previous_l.copy(), "ab": self._previous_ab.copy()}

    def set_state(self, state: dict) -> None:
        """Restores :meth:`get_state`'s result."""
        if not state:
            self.reset()
            return
        self._previous_l = np.asarray(state["l"], dtype=np.float32)
        self._previous_ab = np.asarray(state["ab"], dtype=np.float32)

    @staticmethod
    def flow(l_now: np.ndarray, l_previous: np.ndarray):
        """Where each pixel of the current frame was in the previous one (Farnebäck flow on the 8-bit L*).

        Args:
            l_now, l_previous: ``(h, w)`` L* in [0, 100].

        Returns:
            ``(map_x, map_y, inside)``: float32 ``(h, w)`` sample positions (column, row) in the previous frame,
            and a bool ``(h, w)``, False where the position falls outside the previous frame by more than half a
            pixel.
        """
        cv2 = _cv2()
        now8 = np.clip(np.rint(l_now * 2.55), 0, 255).astype(np.uint8)
        previous8 = np.clip(np.rint(l_previous * 2.55), 0, 255).astype(np.uint8)
        flow = cv2.calcOpticalFlowFarneback(now8, previous8, None, **_FLOW_PARAMS)     # now(p) ~ previous(p + flow)
        h, w = l_now.shape
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
        map_x, map_y = cols + flow[..., 0], rows + flow[..., 1]
        # Half a pixel of slack: the flow between identical frames is not exactly 0 (a few hundredths of a pixel),
        # and a border pixel must not lose its confidence for that; warp()'s replicated border covers the overshoot.
        inside = (map_x >= -0.5) & (map_x <= w - 0.5) & (map_y >= -0.5) & (map_y <= h - 0.5)
        return map_x, map_y, inside

    @staticmethod
    def warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        """Backward warp ``out(p) = image(map(p))``: bilinear, border replicated; float32, the shape of ``image``
        (``(h, w)`` or ``(h, w, C)``)."""
        cv2 = _cv2()
        return cv2.remap(np.asarray(image, np.float32), np.asarray(map_x, np.float32), np.asarray(map_y, np.float32),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def confidence(self, l_now: np.ndarray, l_previous: np.ndarray):
        """Flow from the current frame back to the previous one, and how far to trust it.

        Args:
            l_now, l_previous: ``(h, w)`` L* in [0, 100].

        Returns:
            ``(map_x, map_y, confidence)``: float32 ``(h, w)`` sample positions in the previous frame and the
            per-pixel confidence in [0, 1].
        """
        map_x, map_y, inside = self.flow(l_now, l_previous)
        l_warp = self.warp(l_previous, map_x, map_y)
        confidence = np.exp(-0.5 * ((l_now - l_warp) / self.sigma) ** 2) * inside
        return map_x, map_y, confidence.astype(np.float32)

    def __call__(self, l_small: np.ndarray, ab_model: np.ndarray) -> tuple[np.ndarray, FrameStats]:
        """One frame.

        Args:
            l_small: ``(h, w)`` the frame's L* in [0, 100] at the working size.
            ab_model: ``(h, w, 2)`` the model's ab for this frame (Lab units).

        Returns:
            ``(ab, stats)``: the blended ab ``(h, w, 2)`` float32 and :class:`FrameStats`.
        """
        l_small = np.asarray(l_small, dtype=np.float32)
        ab_model = np.asarray(ab_model, dtype=np.float32)
        if self._previous_l is None or self._previous_l.shape != l_small.shape:
            ab, stats = ab_model, FrameStats(cut=True, consistency=0.0)
        elif self.weight == 0:
            ab, stats = ab_model, FrameStats(cut=False, consistency=float("nan"))
        else:
            map_x, map_y, confidence = self.confidence(l_small, self._previous_l)
            consistency = float(confidence.mean())
            if consistency < self.cut_threshold:
                ab, stats = ab_model, FrameStats(cut=True, consistency=consistency)
            else:
                ab_warp = self.warp(self._previous_ab, map_x, map_y)
                alpha = (self.weight * confidence)[..., None]
                ab = alpha * ab_warp + (1.0 - alpha) * ab_model
                stats = FrameStats(cut=False, consistency=consistency)
        self._previous_l, self._previous_ab = l_small, np.ascontiguousarray(ab, dtype=np.float32)
        return self._previous_ab, stats


def _check_number(name, value, low, high, low_open=False, high_open=False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and np.isfinite(value) and (value > low if low_open else value >= low) \
        and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


# ---------------------------------------------------------------------------------------------- frames
class FrameColorizer:
    """Colours the frames of one video, batch by batch, carrying the propagation state between calls.

    Args:
        model: a built :class:`~colorlab.models.Gray2ColorNet`.
        reference: the colour reference (anything :func:`colorlab.io.load_image` reads).
        strength: ab multiplier (>= 0) as in :func:`colorlab.colorize`.
        working_size: the model's input size (shorter side); default ``config.image_size``.
        propagation: a :class:`TemporalPropagation` (default one if ``None``).
        batch_size: frames per model call; shorter batches are padded to it, so a compiled model sees one input
            shape per video.
        budget: the :class:`~colorlab.inference.WorkBudget` each frame size is planned with (default
            ``WorkBudget()``).
        adapt, seed, adapt_options: reference-adaptive colorization
            (:meth:`colorlab.inference.Colorizer.use_reference`): the model adapts once to the reference, before
            the first frame, for ``adapt`` steps (0: not at all). A scene cut re-anchors to the same reference, so
            it does not adapt again (the adaptation depends on the reference and the seed only), and the adapted
            copy colours the shots after it too (on the dev clips it costs those shots 0.68 dB against the network
            as trained and still wins over the whole clip: ``docs/video_eval.md``). ``min_match`` does not apply:
            the adaptation happens before any frame is known.
        adapted_file: a ``.weights.h5`` path where the adapted weights are kept (loaded from it if it exists;
            :meth:`colorlab.inference.Colorizer.use_reference`): a resumed video job colours with exactly the
            weights its first part used.
    """

    def __init__(self, model, reference, *, strength: float = 1.0, working_size: int | None = None,
                 propagation: TemporalPropagation | None = None, batch_size: int = 8, budget=None,
                 adapt: int = 0, seed: int = 0, adapt_options: dict | None = None, adapted_file=None):
        from colorlab.inference import Colorizer
        from colorlab.io import load_image

        _check_number("strength", strength, 0.0, math.inf)
        if working_size is not None:
            _check_int("working_size", working_size, 8)
        _check_int("batch_size", batch_size, 1)
        self.colorizer = Colorizer(model, strength=strength, working_size=working_size, budget=budget,
                                   adapt=adapt, seed=seed, adapt_options=adapt_options)
        self.model = self.colorizer.trained          # the weights as loaded (what a job's fingerprint records)
        self.working_size = self.colorizer.working_size
        self.batch_size = int(batch_size)
        self.propagation = propagation if propagation is not None else TemporalPropagation()
        self._reference_name = f"reference {_describe(reference)}"
        self._reference_rgb = load_image(reference, mode="RGB", max_pixels=self.colorizer.budget.max_pixels)
        self.reference_digest = hashlib.sha256(np.ascontiguousarray(self._reference_rgb).tobytes()
                                               + repr(self._reference_rgb.shape).encode()).hexdigest()
        self._prepared = {}   # reference working shape -> the reference as the model reads it
        self._in_use = None   # the reference working shape colorizer.model was last set up for
        self._adapted_file = adapted_file

    def plan(self, frame_shape: tuple[int, int]):
        """The working shapes for frames of ``(height, width)`` and the reference
        (:meth:`colorlab.inference.Colorizer.plan`, within the budget).

        Raises:
            BudgetError: frames (or a reference) with too many pixels or too long a shape.
        """
        return self.colorizer.plan(frame_shape, self._reference_rgb.shape[:2],
                                   target=f"video frames of {frame_shape[1]}×{frame_shape[0]}",
                                   reference=self._reference_name)

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, list[FrameStats]]:
        """Colours a batch of consecutive frames.

        Args:
            frames: uint8 RGB ``(B, H, W, 3)`` (colour frames are fine: only their L* is used).

        Returns:
            ``(coloured, stats)``: uint8 RGB ``(B, H, W, 3)`` whose L* equals the input's L* up to 8-bit rounding,
            and one :class:`FrameStats` per frame.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f"frames must be uint8 RGB (B, H, W, 3), got {frames.dtype} {frames.shape}")
        colorizer, pool = self.colorizer, _pool()
        plan = self.plan(frames.shape[1:3])
        if plan.reference not in self._prepared:
            self._prepared[plan.reference] = colorizer.prepare_reference(self._reference_rgb, plan.reference)
        reference = self._prepared[plan.reference]
        if plan.reference != self._in_use:          # the model for this reference (adapted once, when adapt > 0)
            colorizer.use_reference(reference, saved=self._adapted_file)
            self._in_use = plan.reference

        def lightness(frame):
            l_full = frame_lightness(frame)
            return l_full, colorizer.working_lightness(l_full, plan.target)

        l_full, l_small = zip(*pool.map(lightness, frames))
        l_small = np.stack(l_small)                                                    # (B, h, w)
        compiled = compiled_call_repeats()
        ab_model = np.concatenate([  # batches of exactly batch_size (the last one padded with its last frame)
            colorizer.predict_ab(pad_batch(l_small[start:start + self.batch_size], self.batch_size), reference,
                                 compiled=compiled)[:len(l_small[start:start + self.batch_size])]
            for start in range(0, len(l_small), self.batch_size)])                 # (B, h, w, 2)
        blended, stats = zip(*(self.propagation(l, ab) for l, ab in zip(l_small, ab_model)))   # in order

        def full_resolution(i):
            return colorizer.finish(l_full[i], l_small[i], blended[i], fast=True)

        return np.stack(list(pool.map(full_resolution, range(len(frames))))), list(stats)


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    return f"({type(source).__name__})"


_POOL = None


def _pool():
    """Threads for the per-frame NumPy work (NumPy and Pillow release the GIL in their inner loops)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="colorlab-video")
    return _POOL


def compiled_call_repeats() -> bool:
    """Whether the backend's compiled model call gives the same bits on every call, so it can colour videos.

    A resumed job must produce the frames of an uninterrupted one, and the propagation carries any difference
    forward. Measured on CPU (8 calls on one batch, and across processes): JAX's jit-compiled call and TensorFlow's
    eager call repeat exactly; TensorFlow's graph-mode call (``predict_on_batch``) differed by up to 5e-5 between
    calls. So on TensorFlow the model runs eagerly (about 1.6x slower for the demo model on 2 CPU cores)."""
    import keras

    return keras.backend.backend() != "tensorflow"


def pad_batch(batch: np.ndarray, size: int) -> np.ndarray:
    """Repeats the last item of ``batch`` (B, ...) until it holds ``size`` items."""
    if len(batch) >= size:
        return batch
    return np.concatenate([batch, np.repeat(batch[-1:], size - len(batch), axis=0)])


def colorize_frames(frames, reference, *, weights=None, config=None, strength: float = 1.0,
                    working_size: int | None = None, temporal_weight: float = TEMPORAL_WEIGHT,
                    cut_threshold: float = CUT_THRESHOLD, batch_size: int = 8, progress: bool = False,
                    return_stats: bool = False, budget=None, adapt: int | None = None, seed: int = 0):
    """Colours a clip held in memory (what :func:`colorize_video` does to a file, without the file).

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``, consecutive frames of one clip.
        reference: the colour reference (path, PIL image or array).
        weights, config, strength, working_size, budget, adapt, seed: as for :func:`colorlab.colorize` (the model
            adapts once to the reference, whatever it matches: ``None`` takes the weights' recommended steps and
            options, except ``min_match``).
        temporal_weight: ``w`` of :class:`TemporalPropagation`; 0 gives per-frame colorization.
        cut_threshold: scene-cut threshold of :class:`TemporalPropagation`.
        batch_size: frames per model call.
        progress: show a tqdm progress bar.
        return_stats: also return the per-frame :class:`FrameStats`.

    Returns:
        uint8 RGB ``(T, H, W, 3)`` (and the list of :class:`FrameStats` if ``return_stats``).
    """
    from colorlab.inference import resolve_adaptation
    from colorlab.models import load_generator

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ConfigError(f"frames must be uint8 RGB (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    _check_int("batch_size", batch_size, 1)
    adapt, adapt_options = resolve_adaptation(weights, adapt)
    colorizer = FrameColorizer(load_generator(weights, config), reference, strength=strength,
                               working_size=working_size, batch_size=batch_size, budget=budget,
                               propagation=TemporalPropagation(temporal_weight, cut_threshold=cut_threshold),
                               adapt=adapt, seed=seed, adapt_options=adapt_options)
    colorizer.plan(frames.shape[1:3]).warn_if_reduced(f"video frames of {frames.shape[2]}×{frames.shape[1]}",
                                                      f"reference {_describe(reference)}")
    starts = range(0, len(frames), batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(frames), desc="colorize video", unit="frame")
    out, stats = [], []
    for start in starts:
        coloured, batch_stats = colorizer(frames[start:start + batch_size])
        out.append(coloured)
        stats.extend(batch_stats)
        if bar is not None:
            bar.update(len(coloured))
    if bar is not None:
        bar.close()
    result = np.concatenate(out)
    return (result, stats) if return_stats else result


# -------------------------------------------------------------------------------------------- the file job
@dataclasses.dataclass(frozen=True)
class VideoResult:
    """What :func:`colorize_video` did.

    Attributes:
        path: the output file.
        frames: frames written.
        cuts: indices of the frames treated as the start of a shot (frame 0 included).
        resumed_from: the frame an interrupted job resumed at (0 for a fresh job).
        seconds: wall time of this call, model loading included.
        fps: frames coloured per second in this call, from the first decoded frame to the finished file (model
            loading and frames done before a resume excluded).
    """

    path: pathlib.Path
    frames: int
    cuts: tuple
    resumed_from: int
    seconds: float
    fps: float


def _fingerprint(input_path: pathlib.Path, colorizer: FrameColorizer, options: dict) -> dict:
    from colorlab import __version__

    stat = input_path.stat()
    digest = hashlib.sha256()
    for weight in colorizer.model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight.numpy())).tobytes())
    return {
        "colorlab": __version__,
        "input": {"path": os.path.realpath(input_path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "reference": colorizer.reference_digest,
        "model": {"config": colorizer.model.config.to_dict(), "weights": digest.hexdigest()},
        "options": options,
    }


class _Job:
    """The resumable work folder ``OUTPUT.partial/``: ``job.json`` plus one encoded segment and one propagation
    state per finished segment (and, when the model adapts to the reference, the adapted weights). ``job.json`` is
    rewritten (atomically) only after a segment and its state are complete on disk, so it never names a
    half-written file. The caller holds the folder's lock (its ``.lock`` file stays when the job restarts).
    Opening reads and checks an interrupted job (cheap: before the model loads); :meth:`start` compares it with
    this run's fingerprint, or begins a new one."""

    def __init__(self, folder: pathlib.Path, restart: bool):
        self.folder = folder
        self.path = folder / "job.json"
        if folder.exists() and restart:
            for entry in folder.iterdir():
                if entry.name == LOCK_NAME:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                data = None
            if not isinstance(data, dict) or data.get("version") != _JOB_VERSION or not self._intact(data):
                raise self.damaged("its state file job.json is unreadable or incomplete")
            for segment in data["segments"]:
                for name in (segment["file"], segment["state"]):
                    if not (folder / name).is_file() or (folder / name).stat().st_size == 0:
                        raise self.damaged(f"{name} is missing or empty")
                self._check_segment(segment)
            self.data = data
        else:
            self.data = None

    def start(self, fingerprint: dict) -> None:
        """Resumes the interrupted job if it was made with the same ``fingerprint``, else refuses; or starts anew."""
        if self.data is not None:
            if self.data["fingerprint"] != json.loads(json.dumps(fingerprint)):
                raise ColorlabError(f"{os.fspath(self.folder)!r} holds an interrupted job for another input, "
                                    "reference, model or options; run the same command again to resume it, or pass "
                                    "restart=True (--restart) to discard it")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data = {"version": _JOB_VERSION, "fingerprint": fingerprint, "segments": []}
        write_json(self.path, self.data, sort_keys=True)

    def _check_segment(self, segment: dict) -> None:
        """Demuxes a finished segment (fast, nothing decoded): it must hold the number of frames job.json says."""
        av = _av()
        try:
            with av.open(os.fspath(self.folder / segment["file"])) as container:
                frames = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
        except (av.FFmpegError, OSError, IndexError) as error:
            raise self.damaged(f"{segment['file']} cannot be read: {_ffmpeg_message(error)}") from None
        if frames != segment["count"]:
            raise self.damaged(f"{segment['file']} holds {frames} frames, job.json says {segment['count']}")

    def damaged(self, problem: str) -> ColorlabError:
        """The error for a resume folder that cannot be trusted: one line, with the way out."""
        return ColorlabError(f"the resume folder {os.fspath(self.folder)!r} is damaged ({problem}); pass "
                             "restart=True (--restart) to start the video over")

    @staticmethod
    def _intact(data: dict) -> bool:
        """Whether ``job.json`` has every field a resume reads, of the right type."""
        segments = data.get("segments")
        fields = {"file": str, "state": str, "first": int, "count": int, "cuts": list}
        return isinstance(data.get("fingerprint"), dict) and isinstance(segments, list) and all(
            isinstance(segment, dict) and all(isinstance(segment.get(key), kind) for key, kind in fields.items())
            and pathlib.Path(segment["file"]).name == segment["file"]
            and pathlib.Path(segment["state"]).name == segment["state"] for segment in segments)

    @property
    def frames_done(self) -> int:
        return sum(segment["count"] for segment in self.data["segments"])

    @property
    def cuts(self) -> list:
        return [cut for segment in self.data["segments"] for cut in segment["cuts"]]

    def segment_path(self, number: int) -> pathlib.Path:
        return self.folder / f"segment_{number:06d}.nut"

    def load_state(self) -> dict:
        if not self.data["segments"]:
            return {}
        name = self.data["segments"][-1]["state"]
        try:
            with np.load(self.folder / name, allow_pickle=False) as state:
                values = {key: state[key] for key in state.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise self.damaged(f"{name} cannot be read: {' '.join(str(error).split())[:120]}") from None
        if set(values) != {"l", "ab"}:
            raise self.damaged(f"{name} does not hold the propagation state")
        return values

    def commit(self, number: int, count: int, cuts: list, state: dict) -> None:
        state_name = f"state_{number:06d}.npz"
        write_atomic(self.folder / state_name, lambda temporary: np.savez(temporary, **state))
        self.data["segments"].append({"file": self.segment_path(number).name, "state": state_name,
                                      "first": self.frames_done, "count": count, "cuts": cuts})
        write_json(self.path, self.data, sort_keys=True)


def _add_h264_stream(container, info: VideoInfo, crf: int):
    """Adds the H.264 output stream: the input's size, rate, time base and pixel aspect; BT.709 tags."""
    stream = container.add_stream("libx264", rate=info.fps)
    stream.width, stream.height = info.width, info.height
    # x264 needs even sizes for 4:2:0 chroma; an odd-sized video keeps full chroma instead.
    stream.pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
    stream.time_base = info.time_base
    context = stream.codec_context
    context.time_base = info.time_base
    context.max_b_frames = 0          # no reordering: segments join with increasing decode timestamps
    if info.sample_aspect_ratio:
        context.sample_aspect_ratio = info.sample_aspect_ratio
    context.colorspace, context.color_primaries, context.color_trc, context.color_range = 1, 1, 1, 1  # BT.709
    context.options = {"crf": str(crf), "preset": "medium"}
    return stream


def _encode(container, stream, rgb: np.ndarray | None, pts: int = 0, time_base: Fraction | None = None) -> None:
    """Encodes one uint8 RGB frame (converted to the stream's YUV with BT.709, tagged so), or flushes (``None``)."""
    av = _av()
    frame = None
    if rgb is not None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=stream.pix_fmt, dst_colorspace=av.video.reformatter.Colorspace.ITU709, dst_color_range=1)
        frame.pts, frame.time_base = pts, time_base
    for packet in stream.encode(frame):
        container.mux(packet)


class _SegmentWriter:
    """Encodes frames into one segment file (H.264 in NUT, which keeps rational timestamps exactly), through a
    temporary beside it that :meth:`close` moves into place."""

    def __init__(self, path: pathlib.Path, info: VideoInfo, crf: int):
        av = _av()
        self.path = path
        self.temporary = create_temporary(path)
        try:
            self.container = av.open(os.fspath(self.temporary), mode="w", format="nut")
            self.stream = _add_h264_stream(self.container, info, crf)
        except BaseException:
            self.temporary.unlink(missing_ok=True)
            raise

    def write(self, rgb: np.ndarray, pts: int, time_base: Fraction) -> None:
        _encode(self.container, self.stream, rgb, pts, time_base)

    def close(self) -> None:
        _encode(self.container, self.stream, None)
        self.container.close()
        move_into_place(self.temporary, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - closing a half-written file after another error; that error wins
            pass
        self.temporary.unlink(missing_ok=True)


def _packets(path: pathlib.Path, streams: str):
    """Yields ``(time in seconds, stream index, packet)`` of one file's ``streams`` ("video"/"audio")."""
    av = _av()
    container = av.open(os.fspath(path), mode="r")
    try:
        selected = list(getattr(container.streams, streams))
        if not selected:
            return
        for packet in container.demux(selected):
            if packet.dts is None or not packet.size:
                continue
            yield float(packet.dts * packet.time_base), selected.index(packet.stream), packet
    finally:
        container.close()


def _mux(job: _Job, input_path: pathlib.Path, output: pathlib.Path, container_format: str, fps: Fraction,
         overwrite: bool) -> None:
    """Joins the segments and the input's audio (packets copied, not re-encoded) into ``output``, atomically."""
    av = _av()
    segments = [job.folder / segment["file"] for segment in job.data["segments"]]

    def mux(temporary: pathlib.Path) -> None:
        with av.open(os.fspath(segments[0])) as first, av.open(os.fspath(input_path)) as source, \
                av.open(os.fspath(temporary), mode="w", format=container_format) as out:
            video = out.add_stream_from_template(first.streams.video[0])
            video.codec_context.framerate = fps       # the template does not carry it (Matroska would guess)
            audio = []
            for stream in source.streams.audio:
                try:
                    audio.append(out.add_stream_from_template(stream))
                except (av.FFmpegError, ValueError) as error:
                    raise VideoError(f"cannot write {os.fspath(output)!r}: its audio codec {_codec_name(stream)!r} "
                                     f"cannot be stored in a {output.suffix} file ({_ffmpeg_message(error)}); "
                                     "choose an .mkv output") from None

            def video_packets():
                for segment in segments:
                    for seconds, _, packet in _packets(segment, "video"):
                        yield seconds, 0, packet

            def audio_packets():
                for seconds, index, packet in _packets(input_path, "audio"):
                    yield seconds, 1 + index, packet

            targets = [video, *audio]
            for _, index, packet in heapq.merge(video_packets(), audio_packets(), key=lambda item: item[:2]):
                packet.stream = targets[index]
                out.mux(packet)

    write_atomic(output, mux, overwrite=overwrite)


def _check_output(output: pathlib.Path, inputs, overwrite: bool) -> str:
    """The container format of ``output``, after :func:`colorlab.io.check_output_path` (never one of ``inputs``)."""
    from colorlab.io import check_output_path

    container_format = OUTPUT_FORMATS.get(output.suffix.lower())
    if container_format is None:
        raise ConfigError(f"cannot write video {os.fspath(output)!r}: the output must end in "
                          f"{', '.join(OUTPUT_FORMATS)}")
    check_output_path(output, inputs=inputs, overwrite=overwrite)
    return container_format


def _check_audio(input_path: pathlib.Path, output: pathlib.Path, container_format: str, info: VideoInfo) -> None:
    """Fails before any work if an audio stream cannot be copied into the chosen container: the input's audio
    streams are added to an in-memory output of that format and its header is written."""
    if not info.audio:
        return
    av = _av()
    with av.open(os.fspath(input_path)) as source, \
            av.open(io.BytesIO(), mode="w", format=container_format) as probe:
        try:
            for stream in source.streams.audio:
                codec = _codec_name(stream)
                probe.add_stream_from_template(stream)
            probe.start_encoding()
        except (av.FFmpegError, ValueError) as error:
            raise VideoError(f"cannot write {os.fspath(output)!r}: the input's audio ({codec!r}) cannot be copied "
                             f"into a {output.suffix} file ({_ffmpeg_message(error)}); choose an .mkv "
                             "output") from None


def colorize_video(input, reference, output, *, weights=None, config=None, strength: float = 1.0,
                   working_size: int | None = None, temporal_weight: float = TEMPORAL_WEIGHT,
                   cut_threshold: float = CUT_THRESHOLD, batch_size: int = 8, crf: int = DEFAULT_CRF,
                   overwrite: bool = False, restart: bool = False, progress: bool = True,
                   segment_frames: int = SEGMENT_FRAMES, budget=None, adapt: int | None = None) -> VideoResult:
    """Colours a video file from one colour reference and writes the coloured video (audio kept).

    Args:
        input: the video to colour (any file FFmpeg reads; colour videos are fine: only their L* is used).
        reference: the colour exemplar (path, PIL image or array).
        output: the coloured video, ``.mp4``, ``.mov`` or ``.mkv`` (H.264).
        weights, config, strength, working_size, adapt: as for :func:`colorlab.colorize` (the model adapts once
            to the reference, whatever it matches: ``None`` takes the weights' recommended steps and options,
            except ``min_match``; the job keeps the adapted weights in ``OUTPUT.partial/``, and a resumed job loads
            them rather than adapting again, which on a multi-threaded CPU would not repeat bit for bit).
        temporal_weight: ``w`` of :class:`TemporalPropagation` in [0, 1); 0 colours every frame on its own.
        cut_threshold: mean confidence below which a frame starts a new shot (re-anchored to the reference).
        batch_size: frames per model call.
        crf: x264 quality, 0 (lossless) to 51.
        overwrite: replace an existing output (atomically, at the end).
        restart: discard an interrupted job in ``OUTPUT.partial/`` instead of resuming it.
        progress: show a progress bar with frames per second (tqdm).
        segment_frames: frames per resumable segment.
        budget: the :class:`~colorlab.inference.WorkBudget` for the frame size and the reference (default
            ``WorkBudget()``).

    Returns:
        :class:`VideoResult`.

    Everything a user can get wrong is checked before the model loads: the options, the output path, the input
    (probed), the reference (read), the weights' config, the work budget, the lock on ``OUTPUT.partial/`` and an
    interrupted job in it.

    Raises:
        VideoError: the input cannot be read (see :func:`probe_video`) or its audio cannot go into the output.
        ConfigError: a bad argument or output path (the output is the input or the reference, a missing folder).
        OutputExistsError: the output exists and ``overwrite`` is False (checked before any work).
        ImageLoadError: the reference cannot be read.
        BudgetError: frames or a reference with too many pixels or too long a shape.
        BusyError: another job works in ``OUTPUT.partial/`` now.
        ColorlabError: weights that cannot be loaded; an interrupted job for other settings in the way, or a
            damaged one (both need ``restart=True``).
    """
    from colorlab.inference import WorkBudget, resolve_adaptation
    from colorlab.io import load_image

    start_time = time.perf_counter()
    input_path, output = pathlib.Path(input), pathlib.Path(output)
    _check_int("batch_size", batch_size, 1)
    _check_int("segment_frames", segment_frames, 1)
    if adapt is not None:
        _check_int("adapt", adapt, 0)
    _check_number("strength", strength, 0.0, math.inf)
    if working_size is not None:
        _check_int("working_size", working_size, 8)
    if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
        raise ConfigError(f"crf must be an integer in [0, 51], got {crf!r}")
    propagation = TemporalPropagation(temporal_weight, cut_threshold=cut_threshold)
    budget = budget or WorkBudget()
    container_format = _check_output(output, (input_path, reference), overwrite)
    info = probe_video(input_path)
    _check_audio(input_path, output, container_format, info)
    reference_rgb = load_image(reference, mode="RGB", max_pixels=budget.max_pixels)
    names = {"target": f"video {os.fspath(input_path)!r} (frames)", "reference": f"reference {_describe(reference)}"}
    from colorlab.models import generator_config, load_generator   # imports Keras: only once the inputs are read

    plan = budget.plan((info.height, info.width), reference_rgb.shape[:2], generator_config(weights, config),
                       working_size, **names)
    plan.warn_if_reduced(**names)
    adapt, adapt_options = resolve_adaptation(weights, adapt)
    partial = output.with_name(output.name + ".partial")
    fresh = not os.path.lexists(partial)
    lock = FolderLock(partial, what="video job").acquire()   # refused at once if another job works there
    job = None
    try:
        job = _Job(partial, restart)
        colorizer = FrameColorizer(load_generator(weights, config), reference_rgb, strength=strength,
                                   working_size=working_size, batch_size=batch_size, propagation=propagation,
                                   budget=budget, adapt=adapt, adapt_options=adapt_options,
                                   adapted_file=partial / _ADAPTED_FILE if adapt else None)
        options = {"strength": float(strength), "working_size": colorizer.working_size, "adapt": int(adapt),
                   "adapt_options": {k: v for k, v in sorted(adapt_options.items()) if k != "min_match"},
                   "temporal_weight": float(temporal_weight), "cut_threshold": float(cut_threshold),
                   "crf": int(crf), "segment_frames": int(segment_frames)}
        job.start(_fingerprint(input_path, colorizer, options))
        resumed_from = job.frames_done
        colorizer.propagation.set_state(job.load_state())
        return _run_job(job, colorizer, input_path, output, container_format, info, crf, batch_size,
                        segment_frames, overwrite, progress, resumed_from, start_time)
    except BaseException:
        if fresh and (job is None or job.data is None):   # nothing to resume yet: leave no folder behind
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        lock.release()


def _run_job(job: _Job, colorizer: FrameColorizer, input_path: pathlib.Path, output: pathlib.Path,
             container_format: str, info: VideoInfo, crf: int, batch_size: int, segment_frames: int,
             overwrite: bool, progress: bool, resumed_from: int, start_time: float) -> VideoResult:
    """Colours the frames not done yet, joins the segments into ``output`` and removes the job's folder."""
    work_start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=info.frame_count, initial=resumed_from, desc="colorize video", unit="frame",
                   dynamic_ncols=True)
    try:
        if resumed_from < info.frame_count:
            _colour_segments(job, colorizer, input_path, info, crf, batch_size, segment_frames, bar)
        if job.frames_done != info.frame_count:   # cannot happen unless the file changed under us
            raise VideoError(f"cannot read video {os.fspath(input_path)!r}: {job.frames_done} frames were "
                             f"coloured but the file has {info.frame_count}")
        _mux(job, input_path, output, container_format, info.fps, overwrite)
    except VideoError:
        shutil.rmtree(job.folder, ignore_errors=True)   # bad input: nothing worth resuming
        raise
    finally:
        if bar is not None:
            bar.close()
    cuts = tuple(job.cuts)
    shutil.rmtree(job.folder, ignore_errors=True)
    end_time = time.perf_counter()
    work = end_time - work_start
    done = info.frame_count - resumed_from
    return VideoResult(path=output, frames=info.frame_count, cuts=cuts, resumed_from=resumed_from,
                       seconds=end_time - start_time, fps=done / work if work > 0 else math.inf)


def _colour_segments(job: _Job, colorizer: FrameColorizer, input_path: pathlib.Path, info: VideoInfo, crf: int,
                     batch_size: int, segment_frames: int, bar) -> None:
    """Decodes the frames after ``job.frames_done`` and writes them, segment by segment."""
    skip = job.frames_done
    number = len(job.data["segments"])
    writer, in_segment, cuts = None, 0, []
    batch, stamps = [], []

    def flush():
        nonlocal in_segment
        coloured, stats = colorizer(np.stack(batch))
        for offset, (rgb, pts, frame_stats) in enumerate(zip(coloured, stamps, stats)):
            writer.write(rgb, pts, info.time_base)
            if frame_stats.cut:
                cuts.append(job.frames_done + in_segment + offset)
        in_segment += len(batch)
        if bar is not None:
            bar.update(len(batch))
        batch.clear()
        stamps.clear()

    try:
        for index, pts, rgb in _decoded_frames(input_path, info):
            if index < skip:
                continue
            if writer is None:
                writer, in_segment, cuts = _SegmentWriter(job.segment_path(number), info, crf), 0, []
            batch.append(rgb)
            stamps.append(pts)
            if len(batch) == batch_size or in_segment + len(batch) == segment_frames:
                flush()
            if in_segment == segment_frames:
                writer.close()
                job.commit(number, in_segment, cuts, colorizer.propagation.get_state())
                writer, number = None, number + 1
        if batch:
            flush()
        if writer is not None:
            writer.close()
            job.commit(number, in_segment, cuts, colorizer.propagation.get_state())
            writer = None
    finally:
        if writer is not None:
            writer.abort()


# --------------------------------------------------------------------------------------- clips for tests
def write_frames(frames, path, *, fps=25, crf: int = DEFAULT_CRF, audio=None, audio_rate: int = 16000,
                 overwrite: bool = False) -> pathlib.Path:
    """Writes uint8 RGB frames as an H.264 video (atomically), optionally with a mono AAC audio track.

    For making test and teaching clips; :func:`colorize_video` keeps the input's timing and audio instead.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``.
        path: ``.mp4``, ``.mov`` or ``.mkv``.
        fps: frames per second (a number or a Fraction).
        crf: x264 quality (0 = lossless).
        audio: optional float mono samples in [-1, 1], ``(N,)``.
        audio_rate: the audio's sample rate.
        overwrite: replace an existing file.

    Returns:
        The path written.
    """
    av = _av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ConfigError(f"frames must be uint8 RGB (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    path = pathlib.Path(path)
    container_format = _check_output(path, (), overwrite)
    fps = Fraction(fps).limit_denominator(1001 * 1000)
    info = VideoInfo(path=os.fspath(path), width=frames.shape[2], height=frames.shape[1], frame_count=len(frames),
                     fps=fps, time_base=1 / fps, duration=float(len(frames) / fps), codec="h264")

    def encode(temporary: pathlib.Path) -> None:
        with av.open(os.fspath(temporary), mode="w", format=container_format) as out:
            video = _add_h264_stream(out, info, crf)
            sound = None
            if audio is not None:
                samples = np.asarray(audio, dtype=np.float32).reshape(-1)
                sound = out.add_stream("aac", rate=audio_rate)
                sound.layout = "mono"
            for index, rgb in enumerate(frames):
                _encode(out, video, rgb, index, info.time_base)
            _encode(out, video, None)
            if sound is not None:
                step = 1024
                for start in range(0, len(samples), step):
                    chunk = np.clip(samples[start:start + step], -1, 1)[None]
                    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
                    frame.sample_rate, frame.pts = audio_rate, start
                    for packet in sound.encode(frame):
                        out.mux(packet)
                for packet in sound.encode():
                    out.mux(packet)

    return write_atomic(path, encode, overwrite=overwrite)


def synthetic_clip(image, frames: int = 24, size=(160, 96), motion: str = "pan", travel: float = 0.35,
                   seed: int = 0) -> np.ndarray:
    """A camera move over a still photo: a clip whose true motion is known (for tests and measurements).

    A window with the clip's aspect ratio moves over the photo, and each window is resized to ``size`` (bicubic):
    ``"pan"``: a window ``1 - travel`` times the widest one slides from the photo's left edge to its right edge
    (so ``travel`` sets both the window and the distance); ``"zoom"``: from the widest window to ``1 - travel``
    of it, centred; ``"shake"``: a window 0.9 times the widest one, jittered around the centre (normal, 1 % of the
    photo's size, ``seed``).

    Args:
        image: a photo (anything :func:`colorlab.io.load_image` reads).
        frames: number of frames.
        size: ``(width, height)`` of the clip.
        motion: ``"pan"``, ``"zoom"`` or ``"shake"``.
        travel: see above, in [0, 1).
        seed: for ``"shake"``.

    Returns:
        uint8 RGB ``(frames, height, width, 3)``.
    """
    from colorlab.io import load_image

    _check_int("frames", frames, 1)
    _check_number("travel", travel, 0.0, 1.0, high_open=True)
    if motion not in ("pan", "zoom", "shake"):
        raise ConfigError(f"motion must be 'pan', 'zoom' or 'shake', got {motion!r}")
    width, height = size
    photo = Image.fromarray(np.round(load_image(image, mode="RGB") * 255).astype(np.uint8))
    pw, ph = photo.size
    aspect = width / height
    base_w = min(pw, ph * aspect)             # the largest window of the clip's aspect
    rng = np.random.default_rng(seed)
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for t in range(frames):
        s = t / max(frames - 1, 1)
        if motion == "zoom":
            win_w = base_w * (1 - travel * s)
            cx, cy = pw / 2, ph / 2
        else:
            win_w = base_w * (1 - travel) if motion == "pan" else base_w * 0.9
            if motion == "pan":
                cx = win_w / 2 + s * (pw - win_w)
                cy = ph / 2
            else:
                cx = pw / 2 + rng.normal(0, 0.01) * pw
                cy = ph / 2 + rng.normal(0, 0.01) * ph
        win_h = win_w / aspect
        box = (cx - win_w / 2, cy - win_h / 2, cx + win_w / 2, cy + win_h / 2)
        out[t] = np.asarray(photo.resize((width, height), Image.Resampling.BICUBIC, box=box))
    return out


# ------------------------------------------------------------------------------------------- measuring
def evaluate_clip(frames, *, weights=None, config=None, temporal_weights=(0.0, TEMPORAL_WEIGHT),
                  reference=None, batch_size: int = 8, adapt: int | None = None, baselines=()) -> list[dict]:
    """Colours a colour clip from its own first frame and measures the result against the clip.

    The clip is made gray (only L* goes in), the reference is the first ground-truth frame (or ``reference``),
    and each ``temporal_weight`` is one method (0 = per-frame colorization). Rows also include the ground truth's
    own temporal metrics, the floor a method can reach.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``, T >= 2, the colour original.
        weights, config: the model, as for :func:`colorlab.colorize`.
        temporal_weights: the propagation weights to compare.
        reference: the exemplar; default the first frame.
        batch_size: frames per model call.
        adapt: the reference adaptation, as for :func:`colorize_frames` (``None``: the weights'
            recommendation, what :func:`colorize_video` does by default; 0: the network as trained).
        baselines: names from :data:`colorlab.baselines.BASELINES` to score too, each frame coloured on its own
            from the exemplar (e.g. ``("global_mean_ab",)``).

    Returns:
        One dict per method, ``{"method", "psnr", "ssim", "cdc", "warping_error", "cuts"}`` (PSNR in dB and SSIM
        averaged over the frames, RGB at full resolution; CDC and warping error from :mod:`colorlab.metrics`;
        ``cuts`` 0 for a baseline), the baselines after the model's, then ``{"method": "ground truth", ...}``
        with ``psnr``/``ssim`` ``nan``.
    """
    from colorlab.baselines import BASELINES
    from colorlab.metrics import cdc, farneback_flows, psnr, ssim, warping_error

    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) < 2:
        raise ConfigError(f"evaluate_clip needs a clip of at least 2 frames (T, H, W, 3), got {frames.shape}")
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise ConfigError(f"evaluate_clip: unknown baselines {unknown}; known: {', '.join(BASELINES)}")
    truth = frames.astype(np.float32) / 255.0
    exemplar = frames[0] if reference is None else reference

    def scored(method, pred, cuts):
        return {"method": method, "psnr": float(np.mean(psnr(pred, truth))),
                "ssim": float(np.mean(ssim(pred, truth))), "cdc": cdc(pred),
                "warping_error": warping_error(pred, farneback_flows(pred)), "cuts": cuts}

    rows = []
    for weight in temporal_weights:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # colour frames on purpose: only their L* is used
            coloured, stats = colorize_frames(frames, exemplar, weights=weights, config=config,
                                              temporal_weight=weight, batch_size=batch_size, return_stats=True,
                                              adapt=adapt)
        rows.append(scored("per-frame" if weight == 0 else f"propagated (w={weight:g})",
                           coloured.astype(np.float32) / 255.0, sum(s.cut for s in stats)))
    if baselines:
        from colorlab.io import load_image

        exemplar_rgb = load_image(exemplar, mode="RGB")
        for name in baselines:
            rows.append(scored(name, np.stack([BASELINES[name](frame, exemplar_rgb) for frame in truth]), 0))
    rows.append({"method": "ground truth", "psnr": float("nan"), "ssim": float("nan"), "cdc": cdc(truth),
                 "warping_error": warping_error(truth), "cuts": 0})
    return rows
