"""Builds the bundled example video data/clips/lake_forest_gray.mp4 from two bundled sample photos.

A gray clip with a camera move and a scene cut (a pan across data/samples/lake_1.jpg, then a zoom into
data/samples/forest_path.jpg), 320 x 200 at 25 frames/s, 4 s, with a synthesised mono soundtrack (two soft tones,
ours) so that `colorlab video` has audio to keep. The photos' licences are in data/samples/SOURCES.md.

    python scripts/make_sample_clip.py            # writes data/clips/lake_forest_gray.mp4 (refuses to overwrite)
    python scripts/make_sample_clip.py --overwrite
"""

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
OUT = ROOT / "data" / "clips" / "lake_forest_gray.mp4"
SIZE, FPS, SHOT_FRAMES, AUDIO_RATE = (320, 200), 25, 50, 16000


def build_frames() -> np.ndarray:
    from colorlab.cie import frame_lightness, lab_to_rgb8
    from colorlab.video import synthetic_clip

    colour = np.concatenate([synthetic_clip(SAMPLES / "lake_1.jpg", SHOT_FRAMES, SIZE, "pan"),
                             synthetic_clip(SAMPLES / "forest_path.jpg", SHOT_FRAMES, SIZE, "zoom", travel=0.3)])
    return np.stack([lab_to_rgb8(frame_lightness(frame), None) for frame in colour])   # gray, L* kept


def build_audio(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    tone = np.where(t < seconds / 2, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 330 * t))
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)            # 50 ms fades, no clicks
    return (0.2 * tone * envelope).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    from colorlab.errors import ColorlabError
    from colorlab.video import write_frames

    frames = build_frames()
    try:
        path = write_frames(frames, args.out, fps=FPS, crf=20, audio=build_audio(len(frames) / FPS),
                            audio_rate=AUDIO_RATE, overwrite=args.overwrite)
    except ColorlabError as error:
        print(f"make_sample_clip: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {len(frames)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
