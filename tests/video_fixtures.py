"""Clip and file builders for tests/test_video.py: small videos written with PyAV directly (independently of
colorlab.video where the point is to test it), deliberately broken files, and readers that look at a file the way a
player would (timestamps, rates, audio packets).

Every builder is deterministic and writes a few kilobytes."""

from __future__ import annotations

import pathlib
import re
from fractions import Fraction

import numpy as np

SAMPLES = pathlib.Path(__file__).resolve().parent.parent / "data" / "samples"


def sample(name: str) -> pathlib.Path:
    """A photo of data/samples (shipped with the repository, so available in CI)."""
    path = SAMPLES / name
    assert path.is_file(), path
    return path


def tone(samples: int, rate: int = 16000) -> np.ndarray:
    """A quiet float mono tone ``(samples,)`` in [-1, 1]."""
    t = np.arange(samples) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def textured_lightness(shape=(64, 80), seed: int = 0, margin: int = 0) -> np.ndarray:
    """A smooth random texture, L* in [10, 90], float32 ``shape + 2 * margin`` (blurred noise: good for flow)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = shape[0] + 2 * margin, shape[1] + 2 * margin
    texture = cv2.GaussianBlur(rng.uniform(0, 100, (h, w)).astype(np.float32), (0, 0), 2.5)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    return (10 + 80 * texture).astype(np.float32)


# ------------------------------------------------------------------------------------------- writers
def _encode_video(container, stream, frames, pts=None, time_base=None):
    import av

    for index, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if stream.pix_fmt != "rgb24":
            frame = frame.reformat(format=stream.pix_fmt)
        frame.pts = index if pts is None else int(pts[index])
        if time_base is not None:
            frame.time_base = time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def _encode_audio(container, stream, samples, rate):
    import av

    step = stream.codec_context.frame_size or 1024
    for start in range(0, len(samples), step):
        chunk = samples[start:start + step]
        if len(chunk) < step:
            chunk = np.pad(chunk, (0, step - len(chunk)))
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk[None]), format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_avi(path, frames, codec: str = "mjpeg", fps: int = 25) -> pathlib.Path:
    """An AVI (``codec`` "mjpeg" or "mpeg4") of uint8 RGB ``frames`` (T, H, W, 3), with its idx1 index."""
    import av

    path = pathlib.Path(path)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        _encode_video(container, stream, frames)
    return path


def avi_frame_chunks(data: bytes) -> list[int]:
    """Byte offsets of the video chunks (``00dc``) inside the ``movi`` list of an AVI (before its idx1 index)."""
    movi, index = data.find(b"movi"), data.find(b"idx1")
    end = index if index >= 0 else len(data)
    return [m.start() for m in re.finditer(b"00dc", data) if movi < m.start() < end]


def truncate_avi(source, target, keep: float) -> pathlib.Path:
    """Copies an AVI cut off after ``keep`` frame chunks (a fraction cuts inside the next chunk); the idx1
    index at the end is lost with the tail, while the header still promises every frame."""
    data = pathlib.Path(source).read_bytes()
    chunks = avi_frame_chunks(data) + [data.find(b"idx1")]
    whole = int(keep)
    cut = chunks[whole] if keep == whole else (chunks[whole] + chunks[whole + 1]) // 2
    target = pathlib.Path(target)
    target.write_bytes(data[:cut])
    return target


def avi_fourcc(data: bytes) -> tuple[bytes, bytes]:
    """The video FourCCs of an AVI: ``strh.fccHandler`` and ``strf.biCompression``."""
    strh, strf = data.find(b"strh"), data.find(b"strf")
    assert data[strh + 8:strh + 12] == b"vids"
    return data[strh + 12:strh + 16], data[strf + 8 + 16:strf + 8 + 20]


def replace_avi_fourcc(source, target, fourcc: bytes = b"ZZZZ") -> pathlib.Path:
    """Copies an AVI with its video FourCC (stream header and bitmap header) replaced: a codec nobody knows."""
    data = bytearray(pathlib.Path(source).read_bytes())
    strh, strf = data.find(b"strh"), data.find(b"strf")
    data[strh + 12:strh + 16] = fourcc
    data[strf + 8 + 16:strf + 8 + 20] = fourcc
    target = pathlib.Path(target)
    target.write_bytes(bytes(data))
    return target


def write_audio_only(path, seconds: float = 0.5, rate: int = 16000, container_format: str = "mp4"):
    """An audio-only file (AAC in ``container_format``: "mp4" for .m4a, "matroska" for .mka)."""
    import av

    path = pathlib.Path(path)
    with av.open(str(path), "w", format=container_format) as container:
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        _encode_audio(container, audio, tone(int(seconds * rate), rate), rate)
    return path


def write_video_without_frames(path, width: int = 64, height: int = 48, rate: int = 16000) -> pathlib.Path:
    """A Matroska file with an H.264 video stream that holds no packet, and an AAC audio stream that does (a file
    with only the empty video stream is not even readable as a container)."""
    import av

    path = pathlib.Path(path)
    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        _encode_audio(container, audio, tone(rate // 2, rate), rate)
    return path


def write_vfr(path, frames, pts_ms, container_format: str = "matroska") -> pathlib.Path:
    """A variable-frame-rate H.264 video: frame i shown at ``pts_ms[i]`` milliseconds (time base 1/1000), with
    B-frames (x264's default), so decode order differs from presentation order."""
    import av

    path = pathlib.Path(path)
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        _encode_video(container, stream, frames, pts=pts_ms, time_base=time_base)
    return path


def write_with_audio_codec(path, frames, codec: str, rate: int = 48000) -> pathlib.Path:
    """A Matroska file: H.264 video plus one mono audio stream encoded with ``codec`` (e.g. "flac")."""
    import av

    path = pathlib.Path(path)
    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("libx264", rate=25)
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "yuv420p"
        audio = container.add_stream(codec, rate=rate)
        audio.layout = "mono"
        _encode_video(container, video, frames)
        samples = np.round(tone(rate // 2, rate) * 32767).astype(np.int16)
        step = audio.codec_context.frame_size or 1024
        for start in range(0, len(samples), step):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + step].copy(), format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


# ------------------------------------------------------------------------------------------- readers
def frame_times(path) -> list[float]:
    """Presentation time (seconds) of every decoded video frame, in presentation order."""
    import av

    with av.open(str(path)) as container:
        return [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]


def video_rate(path) -> Fraction | None:
    """The video stream's average frame rate as the container states it."""
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].average_rate


def video_size(path) -> tuple[int, int]:
    import av

    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.width, context.height


def audio_packets(path) -> list[list[tuple[bytes, float]]]:
    """Per audio stream, its packets' ``(payload bytes, presentation time in seconds)``."""
    import av

    with av.open(str(path)) as container:
        streams = list(container.streams.audio)
        out = [[] for _ in streams]
        if streams:
            for packet in container.demux(streams):
                if packet.size:
                    out[streams.index(packet.stream)].append(
                        (bytes(packet), float(packet.pts * packet.time_base)))
        return out


def audio_codecs(path) -> list[str]:
    import av

    with av.open(str(path)) as container:
        return [stream.codec_context.name for stream in container.streams.audio]
