#!/usr/bin/env python3
"""After a scene cut, is the network adapted to the exemplar still the one to colour with?

    python scripts/study_video_cuts.py                                   # prints the report
    python scripts/study_video_cuts.py --out docs/video_eval.md          # ... and refreshes the doc's section

``colorlab video`` adapts the network to its exemplar once, before the first frame, and a scene cut re-anchors
propagation to the same exemplar, so there is nothing new to adapt to; the open question is whether the shot after
a cut, which the exemplar may not show, is better coloured by the adapted copy or by the network as trained (on
photos, adapting to a reference of another scene makes the colour error worse: docs/adapt_study.md).

For each of ``--clips`` dev photos (the val split of ``--corpus``, drawn as ``scripts/eval_video.py`` draws them,
with ``--seed``) the clip is the first half of a pan over that photo, then, after a cut, the first half of a pan
over a dev photo of another class (``eval_video.cut_partner``), ``--clip-frames`` frames of ``--size`` in all, as
eval_video's ``cut`` clip. The exemplar is the first colour frame; only L* goes in. The clip is coloured twice with
``colorlab.video.colorize_frames`` and the default propagation: adapted as ``colorlab video`` does (the weights'
recommended steps) and as trained (``adapt=0``). The report gives the mean PSNR (RGB, against the colour original)
of each shot, per clip and on average, and the mean difference adapted − as trained (per shot and over the whole
clip, the mean of its frames' PSNR) over the clips with a 95 % bootstrap interval (10,000 resamples of the clips).
Deterministic for given arguments up to the adaptation's float32 round-off on a multi-threaded CPU.

Exit status 0 on success, 2 with one line on stderr for bad input.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from eval_video import code_versions, cut_partner, dev_photos, write_report  # noqa: E402  (a sibling script)

SECTION = "cuts"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=pathlib.Path, default=pathlib.Path("corpus"),
                        help="a Places365-layout folder; its val split gives the photos (default corpus/)")
    parser.add_argument("--clips", type=int, default=6, help="cut clips, one per drawn dev photo (6)")
    parser.add_argument("--clip-frames", type=int, default=32, help="frames per clip, half per shot (32)")
    parser.add_argument("--size", default="256x160", help="clip size WxH (256x160)")
    parser.add_argument("--weights", "-w", default=None, help="a .weights.h5 file; default: the demo weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the photo draw (0)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help=f"also write the report here (only the <!-- eval_video:{SECTION}:begin/end --> section "
                             "of a file that has those markers)")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WxH, got {args.size!r}")
    if min(width, height) < 16 or args.clips < 1 or args.clip_frames < 4:
        parser.error("--size sides must be >= 16, --clips >= 1 and --clip-frames >= 4")
    args.size = (width, height)
    return args


def shot_psnr(frames: np.ndarray, truth: np.ndarray, cut: int) -> tuple[float, float, float]:
    """Mean PSNR (dB) of frames ``[0, cut)``, of frames ``[cut, T)`` and of all frames."""
    from colorlab.metrics import psnr

    values = np.asarray(psnr(frames.astype(np.float32) / 255.0, truth.astype(np.float32) / 255.0))
    return float(values[:cut].mean()), float(values[cut:].mean()), float(values.mean())


def bootstrap(differences: np.ndarray, resamples: int = 10_000) -> tuple[float, float]:
    means = differences[np.random.default_rng(0).integers(0, len(differences), (resamples, len(differences)))]
    return tuple(float(v) for v in np.percentile(means.mean(axis=1), [2.5, 97.5]))


def main(argv=None) -> int:
    args = parse_args(argv)
    from colorlab.errors import ColorlabError
    from colorlab.inference import resolve_adaptation
    from colorlab.video import colorize_frames, synthetic_clip

    try:
        photos, items, categories = dev_photos(args.corpus, args.clips, args.seed)
        steps, _ = resolve_adaptation(args.weights, None)
        half = args.clip_frames // 2      # the cut: each shot is the start of a full-length pan, as in eval_video
        rows = []
        for first in photos:
            second = cut_partner(first, items, args.seed)
            shots = [synthetic_clip(photo, args.clip_frames, args.size, "pan") for photo, _ in (first, second)]
            truth = np.concatenate([shots[0][:half], shots[1][:args.clip_frames - half]])
            row = {"clip": f"{first[0].stem} ({categories[first[1]]}) → {second[0].stem} "
                           f"({categories[second[1]]})"}
            for name, adapt in (("trained", 0), ("adapted", None)):
                start = time.perf_counter()
                coloured = colorize_frames(truth, truth[0], weights=args.weights, adapt=adapt)
                row[name] = shot_psnr(coloured, truth, half)
                print(f"study_video_cuts: {row['clip']}, {name}: {time.perf_counter() - start:.1f} s",
                      file=sys.stderr, flush=True)
            rows.append(row)
    except (ColorlabError, OSError) as error:
        print(f"study_video_cuts: {error}", file=sys.stderr)
        return 2

    lines = [f"{len(rows)} cut clips of {args.clip_frames} frames ({args.size[0]}×{args.size[1]}; {half} frames of a "
             f"pan over a dev photo, then {args.clip_frames - half} of a pan over a dev photo of another class); "
             "exemplar = the first colour frame; default propagation. `trained`: `adapt=0`; `adapted`: the "
             f"weights' recommendation ({steps} steps, as `colorlab video`). Mean PSNR (dB, RGB) per shot. "
             f"Code measured: {code_versions()}.", "",
             "| clip (shot 1 → shot 2) | shot 1 trained | shot 1 adapted | shot 2 trained | shot 2 adapted |",
             "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['clip']} | {row['trained'][0]:.2f} | {row['adapted'][0]:.2f} | "
                     f"{row['trained'][1]:.2f} | {row['adapted'][1]:.2f} |")
    lines.append(f"| **mean** | {np.mean([r['trained'][0] for r in rows]):.2f} | "
                 f"{np.mean([r['adapted'][0] for r in rows]):.2f} | {np.mean([r['trained'][1] for r in rows]):.2f} | "
                 f"{np.mean([r['adapted'][1] for r in rows]):.2f} |")
    lines.append("")
    for index, what in enumerate(("shot 1", "shot 2", "whole clip")):
        difference = np.array([r["adapted"][index] - r["trained"][index] for r in rows])
        low, high = bootstrap(difference)
        lines.append(f"- {what}: adapted − trained {difference.mean():+.2f} dB [{low:+.2f}, {high:+.2f}], "
                     f"adapted better on {int((difference > 0).sum())} of {len(rows)} clips")
    command = "python scripts/study_video_cuts.py" + "".join(
        f" {flag} {value}" for flag, value in (
            ("--corpus", args.corpus), ("--clips", args.clips), ("--clip-frames", args.clip_frames),
            ("--size", f"{args.size[0]}x{args.size[1]}"), ("--seed", args.seed), ("--weights", args.weights),
            ("--out", args.out)) if value is not None)
    lines += ["", f"Command: `{command}`"]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        try:
            write_report(args.out, report, overwrite=False, section=SECTION)
        except (ColorlabError, OSError) as error:
            print(f"study_video_cuts: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
