"""Measures video colorization on the development clips: per-frame colorization vs temporal propagation.

Issue 6, item 2. For every clip the colour original is the ground truth: the clip is made gray (only L* goes
in), the **exemplar is the clip's first ground-truth colour frame**, and two methods colour it with
:func:`colorlab.video.evaluate_clip`:

* ``per-frame``: ``temporal_weight=0``, every frame coloured on its own (what ``colorlab.colorize`` would do);
* ``propagated``: the default ``temporal_weight`` (:data:`colorlab.video.TEMPORAL_WEIGHT`): colours carried
  along the optical flow, re-anchored at scene cuts: the default video path of ``colorlab video``;
* ``global_mean_ab``: the baseline of :mod:`colorlab.baselines`, each frame given the exemplar's mean ab.

Both model methods adapt the model to the exemplar first as ``colorlab video`` does by default (the weights'
recommended steps, ``colorlab.adapt``); ``--adapt 0`` measures the network as trained.

Metrics (:mod:`colorlab.metrics`, full resolution, RGB): PSNR and SSIM against the colour original (mean over the
frames), CDC (colour distribution consistency, JS divergence of per-channel histograms between frames t and
t+1, t+2, t+4) and the warping error (mean |frame(t+1) - warped frame(t)| on non-occluded pixels, Farnebäck
flows estimated on each method's own output). The ground truth's own CDC and warping error are shown beside
them: a video whose colours change as much as the real one's is as steady as it can be.

Clips (all development data; none of them is used in CI):

* ``vtest``: opencv-doc's ``vtest.avi`` (768 x 576, 10 frames/s, a fixed camera over a walkway), the first
  ``--frames`` frames, optionally scaled down (area average) to ``--max-width``;
* ``pan:<photo>`` and ``zoom:<photo>``: :func:`colorlab.video.synthetic_clip` camera moves over ``--photos``
  dev photos (the val split of the corpus, ``corpus/val_256`` listed in ``places365_val.txt``; never a training
  photo), drawn with ``numpy.random.default_rng(--seed)``, ``--clip-frames`` frames of ``--size`` each;
* ``cut:<photo A>→<photo B>``: the first half of a pan over photo A, then (a scene cut) the first half of a pan
  over photo B, of another class (each shot moves as fast as the pan clips); the exemplar is still A's first
  frame, so after the cut the colours have to come from the model alone.

Everything is deterministic for given arguments (the photo draw is seeded; inference and Farnebäck flows are
deterministic on CPU). Prints a Markdown report (per clip, averaged per clip family, and the command) and, with
``--out``, writes it atomically: if ``--out`` names a file that holds the markers ``<!-- eval_video:begin -->``
and ``<!-- eval_video:end -->`` (as ``docs/video_eval.md`` does), only the text between them is replaced
(``--section NAME``: the markers ``<!-- eval_video:NAME:begin -->`` ... ``<!-- eval_video:NAME:end -->``).

    python scripts/eval_video.py                               # the defaults below, prints the report
    python scripts/eval_video.py --out docs/video_eval.md      # ... and refreshes the doc's results section
    python scripts/eval_video.py --no-vtest --photos 54 --summary-only --section wide --out docs/video_eval.md

Exit status 0 on success, 2 with one line on stderr for bad input (a missing ``vtest.avi`` included).
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import re
import shlex
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Where scripts/build_corpus.py unpacks opencv-doc (its cache, as build_corpus.DEFAULT_CACHE); absent in CI.
DEFAULT_VTEST = (pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "colorlab-corpus"
                 / "unpacked" / "opencv-doc_4.6.0+dfsg-12" / "usr/share/doc/opencv-doc/examples/data/vtest.avi")
DEFAULT_CORPUS = ROOT / "corpus"
def markers(section: str = "") -> tuple[str, str]:
    """The comment lines that delimit the report in a Markdown file (``section`` names one of several)."""
    name = f"eval_video:{section}" if section else "eval_video"
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
FAMILIES = ("vtest", "pan", "zoom", "cut")
COLUMNS = ("psnr", "ssim", "cdc", "warping_error")
SINGLE_SHOT = "all single-shot"       # every family but "cut" (whose CDC is dominated by the cut itself)


class _Args(argparse.ArgumentParser):
    def error(self, message):          # argparse's own exit status is 2 as well; keep its one-line style
        self.exit(2, f"eval_video: error: {message}\n")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 256x160, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"--size must be at least 16x16 (SSIM's window), got {text!r}")
    return width, height


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = _Args(prog="eval_video.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vtest", type=pathlib.Path, default=DEFAULT_VTEST, metavar="PATH",
                        help="opencv-doc's vtest.avi (default: the corpus cache)")
    parser.add_argument("--no-vtest", action="store_true", help="leave the vtest clip out")
    parser.add_argument("--frames", type=_positive, default=120, metavar="N",
                        help="first N frames of vtest.avi (default 120 = 12 s)")
    parser.add_argument("--max-width", type=int, default=0, metavar="W",
                        help="scale vtest.avi down to this width, area average (default 0: native 768 px)")
    parser.add_argument("--corpus", type=pathlib.Path, default=DEFAULT_CORPUS, metavar="DIR",
                        help="a Places365-layout folder; its val split gives the photos (default corpus/)")
    parser.add_argument("--photos", type=_positive, default=6, metavar="K", help="dev photos to pan/zoom over (6)")
    parser.add_argument("--clip-frames", type=_positive, default=32, metavar="T", help="frames per synthetic clip")
    parser.add_argument("--size", type=_size, default=(256, 160), metavar="WxH", help="synthetic clip size")
    parser.add_argument("--weights", "-w", default=None, metavar="W",
                        help="a .weights.h5 file (its .json beside it); default: the demo weights")
    parser.add_argument("--batch-size", type=_positive, default=8, metavar="B", help="frames per model call (8)")
    parser.add_argument("--adapt", type=int, default=None, metavar="N",
                        help="adaptation steps to the exemplar (default: the weights' recommendation, as "
                             "colorlab video; 0: the network as trained)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the photo draw (0)")
    parser.add_argument("--out", type=pathlib.Path, default=None, metavar="FILE",
                        help="also write the report here (atomically; only the marked section of a file with "
                             "eval_video markers is replaced)")
    parser.add_argument("--section", default="", metavar="NAME",
                        help="use the markers <!-- eval_video:NAME:begin/end --> instead (several reports in one "
                             "file)")
    parser.add_argument("--summary-only", action="store_true",
                        help="leave out the per-clip table (the family means and the list of clips where "
                             "propagation is worse stay)")
    parser.add_argument("--overwrite", action="store_true", help="replace an --out file that has no markers")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]*", args.section):
        parser.error(f"--section must be letters, digits, '_' or '-', got {args.section!r}")
    if args.max_width < 0:
        parser.error(f"--max-width must be >= 0, got {args.max_width}")
    if args.clip_frames < 4:
        parser.error(f"--clip-frames must be >= 4 (the cut clip has two shots of >= 2 frames), got "
                     f"{args.clip_frames}")
    return args


# -------------------------------------------------------------------------------------------------- clips
def vtest_clip(path: pathlib.Path, frames: int, max_width: int):
    """The first ``frames`` frames of vtest.avi, scaled down to ``max_width`` (0: native); ``(clip, fps)``."""
    from PIL import Image

    from colorlab.errors import VideoError
    from colorlab.video import read_frames

    if not path.is_file():
        raise VideoError(f"vtest.avi not found at {os.fspath(path)!r}: it is opencv-doc's sample clip, unpacked "
                         "into the corpus cache by `python scripts/build_corpus.py`; pass --vtest PATH, or "
                         "--no-vtest to leave it out")
    clip, info = read_frames(path, max_frames=frames)
    if max_width and clip.shape[2] > max_width:
        height = max(16, round(clip.shape[1] * max_width / clip.shape[2]))
        clip = np.stack([np.asarray(Image.fromarray(f).resize((max_width, height), Image.Resampling.BOX))
                         for f in clip])
    return clip, info.fps


def dev_photos(corpus: pathlib.Path, count: int, seed: int):
    """``count`` val photos drawn with ``default_rng(seed)`` (in list order) and the whole val list.

    Returns:
        ``(chosen, items, categories)``: lists of ``(path, label)`` and the category names.
    """
    from colorlab.data import Places365Folder
    from colorlab.errors import DatasetError

    folder = Places365Folder(corpus)
    items = folder.split("val")
    if len(items) < 2:
        raise DatasetError(f"{os.fspath(corpus)}: the val split has {len(items)} photo(s); at least 2 are needed "
                           "(a scene cut joins two)")
    count = min(count, len(items))
    chosen = sorted(int(i) for i in np.random.default_rng(seed).choice(len(items), size=count, replace=False))
    return [items[i] for i in chosen], items, folder.categories


def cut_partner(first: tuple, items: list, seed: int) -> tuple:
    """A val photo of another class than ``first`` (any other photo if every photo shares its class)."""
    others = [item for item in items if item[1] != first[1]] or [item for item in items if item[0] != first[0]]
    return others[int(np.random.default_rng((seed, 1)).integers(len(others)))]


def build_clips(args) -> tuple[list[dict], list[str]]:
    """The clips to measure: dicts ``{"name", "family", "frames", "expected_cuts"}`` and notes on what was used."""
    from colorlab.video import synthetic_clip

    clips, notes = [], []
    if not args.no_vtest:
        frames, fps = vtest_clip(args.vtest, args.frames, args.max_width)
        clips.append({"name": "vtest", "family": "vtest", "frames": frames, "expected_cuts": 1})
        scaled = f", scaled to {frames.shape[2]}×{frames.shape[1]} (area average)" if args.max_width else ""
        notes.append(f"`vtest`: `{args.vtest.name}`, first {len(frames)} frames at {float(fps):g} frames/s"
                     f"{scaled}, {frames.shape[2]}×{frames.shape[1]}.")
    photos, items, categories = dev_photos(args.corpus, args.photos, args.seed)
    size, count = args.size, args.clip_frames
    for path, label in photos:
        for motion in ("pan", "zoom"):
            clips.append({"name": f"{motion}:{path.stem}", "family": motion, "expected_cuts": 1,
                          "frames": synthetic_clip(path, count, size, motion)})
    first = photos[0]
    second = cut_partner(first, items, args.seed)
    half = count // 2      # each shot moves as fast as the pan clips: the first frames of a full-length pan
    cut = np.concatenate([synthetic_clip(first[0], count, size, "pan")[:half],
                          synthetic_clip(second[0], count, size, "pan")[:count - half]])
    clips.append({"name": f"cut:{first[0].stem}→{second[0].stem}", "family": "cut", "frames": cut,
                  "expected_cuts": 2})
    described = ", ".join(f"`{p.stem}` ({categories[label]})" for p, label in photos)
    notes.append(f"`pan`/`zoom`: `colorlab.video.synthetic_clip` over {len(photos)} val photos of "
                 f"`{args.corpus.name}/` drawn with seed {args.seed}: {described}; {count} frames of "
                 f"{size[0]}×{size[1]} each (default travel 0.35: the pan's window is 65 % of the photo's width, "
                 "the zoom ends at 65 %; bicubic resampling).")
    notes.append(f"`cut`: the first {half} frames of the pan over `{first[0].stem}` ({categories[first[1]]}), "
                 f"then the first {count - half} of a pan over `{second[0].stem}` ({categories[second[1]]}, drawn "
                 "from another class); the exemplar is the first frame of the first shot.")
    return clips, notes


# ------------------------------------------------------------------------------------------------- measure
#: The baselines scored beside the model (:data:`colorlab.baselines.BASELINES`).
BASELINES = ("global_mean_ab",)


def measure(clips: list[dict], weights, batch_size: int, log=None, adapt: int | None = None) -> list[dict]:
    """Runs :func:`colorlab.video.evaluate_clip` on every clip (the model, adapted as ``adapt`` says, and
    :data:`BASELINES`); one row per (clip, method)."""
    from colorlab.video import evaluate_clip

    rows = []
    for clip in clips:
        start = time.perf_counter()
        result = evaluate_clip(clip["frames"], weights=weights, batch_size=batch_size, adapt=adapt,
                               baselines=BASELINES)
        frames = clip["frames"]
        for row in result:
            rows.append({"clip": clip["name"], "family": clip["family"], "frames": len(frames),
                         "size": f"{frames.shape[2]}×{frames.shape[1]}", "expected_cuts": clip["expected_cuts"],
                         **row})
        if log is not None:
            log(f"eval_video: {clip['name']}: {len(frames)} frames in {time.perf_counter() - start:.1f} s")
    return rows


def family_means(rows: list[dict]) -> list[dict]:
    """Means over the clips of each family (and over all single-shot clips), per method, in table order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    families = [f for f in FAMILIES if any(r["family"] == f for r in rows)] + [SINGLE_SHOT]
    for row in rows:
        groups.setdefault((row["family"], row["method"]), []).append(row)
        if row["family"] != "cut":
            groups.setdefault((SINGLE_SHOT, row["method"]), []).append(row)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for family in families:
        for method in methods:
            members = groups.get((family, method), [])
            if not members:
                continue
            entry = {"family": family, "method": method, "clips": len(members),
                     "cuts_ok": sum(r["cuts"] == r["expected_cuts"] for r in members)}
            for key in COLUMNS:
                values = np.array([r[key] for r in members], dtype=np.float64)
                finite = values[np.isfinite(values)]
                entry[key] = float(finite.mean()) if finite.size else math.nan
            out.append(entry)
    return out


# -------------------------------------------------------------------------------------------------- report
def _cell(key: str, value: float) -> str:
    if not np.isfinite(value):
        return "—"
    if key == "psnr":
        return f"{value:.2f}"
    if key == "ssim":
        return f"{value:.4f}"
    return f"{value * 1000:.3f}"          # CDC and warping error in units of 1e-3


HEADER = "PSNR (dB) ↑ | SSIM ↑ | CDC ×10⁻³ ↓ | warp. err. ×10⁻³ ↓"


def _propagation_rows(means: list[dict]) -> list[str]:
    """propagated vs per-frame, per family: differences and ratios, and the share of the gap to the truth closed."""
    lines = ["| family | ΔPSNR (dB) | ΔSSIM | CDC prop./per-frame | CDC gap closed | warp. err. "
             "prop./per-frame | warp. err. gap closed |", "|---|---:|---:|---:|---:|---:|---:|"]
    by = {(m["family"], m["method"]): m for m in means}
    for family in dict.fromkeys(m["family"] for m in means):
        per = by.get((family, "per-frame"))
        prop = next((m for m in means if m["family"] == family and m["method"].startswith("propagated")), None)
        truth = by.get((family, "ground truth"))
        if per is None or prop is None or truth is None:
            continue
        cells = [f"{prop['psnr'] - per['psnr']:+.2f}", f"{prop['ssim'] - per['ssim']:+.4f}"]
        for key in ("cdc", "warping_error"):
            ratio = prop[key] / per[key] if per[key] > 0 else math.nan
            gap = per[key] - truth[key]
            closed = (per[key] - prop[key]) / gap if gap > 0.02 * per[key] else math.nan
            cells += [f"{ratio:.2f}", f"{closed:.0%}" if np.isfinite(closed) else "—"]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return lines


def worse_rows(rows: list[dict]) -> list[str]:
    """Markdown bullets: each clip where propagation scores worse than per-frame colorization, and on what."""
    better_high = {"psnr": True, "ssim": True, "cdc": False, "warping_error": False}
    labels = {"psnr": "PSNR", "ssim": "SSIM", "cdc": "CDC", "warping_error": "warping error"}
    by_clip: dict[str, dict] = {}
    for r in rows:
        by_clip.setdefault(r["clip"], {})["propagated" if r["method"].startswith("propagated") else r["method"]] = r
    out = []
    for clip, methods in by_clip.items():
        per, prop = methods.get("per-frame"), methods.get("propagated")
        if per is None or prop is None:
            continue
        worse = []
        for key, high in better_high.items():
            a, b = per[key], prop[key]
            if np.isfinite(a) and np.isfinite(b) and (b < a if high else b > a):
                worse.append(f"{labels[key]} {_cell(key, a)} → {_cell(key, b)}")
        if worse:
            out.append(f"- `{clip}`: " + ", ".join(worse))
    return out


def baseline_rows(rows: list[dict], means: list[dict], baseline: str = BASELINES[0]) -> list[str]:
    """Markdown table: per family, the default path (propagated) minus ``baseline`` on PSNR and SSIM, and the clips
    where it is ahead on PSNR."""
    by = {(m["family"], m["method"]): m for m in means}
    clips: dict[str, dict] = {}
    for r in rows:
        clips.setdefault(r["clip"], {"family": r["family"]})[
            "propagated" if r["method"].startswith("propagated") else r["method"]] = r
    lines = [f"| family | ΔPSNR (dB) | ΔSSIM | clips ahead on PSNR |", "|---|---:|---:|---:|"]
    for family in dict.fromkeys(m["family"] for m in means):
        prop = next((m for m in means if m["family"] == family and m["method"].startswith("propagated")), None)
        base = by.get((family, baseline))
        if prop is None or base is None:
            continue
        members = [c for c in clips.values() if "propagated" in c and baseline in c
                   and (c["family"] == family or (family == SINGLE_SHOT and c["family"] != "cut"))]
        ahead = sum(c["propagated"]["psnr"] > c[baseline]["psnr"] for c in members)
        lines.append(f"| {family} | {prop['psnr'] - base['psnr']:+.2f} | {prop['ssim'] - base['ssim']:+.4f} | "
                     f"{ahead}/{len(members)} |")
    return lines


def format_report(rows: list[dict], notes: list[str], command: str, model_note: str, per_clip: bool = True) -> str:
    means = family_means(rows)
    lines = ["Exemplar = the first ground-truth colour frame of each clip; `per-frame` = `temporal_weight=0`; "
             "`propagated` = the default weight (the default video path); `global_mean_ab` = each frame given the "
             "exemplar's mean ab (a baseline); `ground truth` = the colour original's own temporal metrics "
             "(the floor). PSNR/SSIM: mean over frames, RGB, full resolution. CDC and warping error in units of "
             "10⁻³ (RGB in [0, 1]); lower is steadier.", "", f"Model: {model_note}", ""]
    lines += [f"- {note}" for note in notes]
    lines += ["", "### Averaged per clip family", "",
              f"| family | clips | method | {HEADER} | cuts as expected |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for m in means:
        cuts = f"{m['cuts_ok']}/{m['clips']}" if m["method"].startswith("propagated") else "—"
        lines.append(f"| {m['family']} | {m['clips']} | {m['method']} | "
                     + " | ".join(_cell(k, m[k]) for k in COLUMNS) + f" | {cuts} |")
    lines += ["", f"`{SINGLE_SHOT}`: every clip but the `cut` one (a scene cut dominates CDC and warping error). "
              "`cuts as expected` (propagation only: per-frame colorization carries nothing forward, so it never "
              "detects a cut): clips whose number of frames that took the model's colours alone (the first frame "
              "plus the detected scene cuts) is 1, or 2 for the `cut` clip.", "",
              "### Propagated minus per-frame", "", *_propagation_rows(means), "",
              "`gap closed`: (per-frame − propagated) / (per-frame − ground truth): 100 % = as steady as the "
              "original, above 100 % = steadier than the original (colours smoothed along the motion more than "
              "the real ones change), negative = less steady than per-frame; — where per-frame is within 2 % of "
              "the ground truth (no gap to close).", "",
              f"### The default path minus the `{BASELINES[0]}` baseline", "", *baseline_rows(rows, means), "",
              "### Where propagation is worse than per-frame", ""]
    worse = worse_rows(rows)
    clips = len({r["clip"] for r in rows})
    lines += worse or [f"Nowhere: on each of the {clips} clips, propagation is at least as good on all four metrics."]
    if worse:
        lines += ["", f"({len(worse)} of {clips} clips; per metric, CDC and warping error in units of 10⁻³.)"]
    if per_clip:
        lines += ["", "### Per clip", "", f"| clip | frames | size | method | {HEADER} | first-frame + cut frames |",
                  "|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows if per_clip else ():
        cuts = f"{r['cuts']} (expected {r['expected_cuts']})" if r["method"].startswith("propagated") else "—"
        lines.append(f"| `{r['clip']}` | {r['frames']} | {r['size']} | {r['method']} | "
                     + " | ".join(_cell(k, r[k]) for k in COLUMNS) + f" | {cuts} |")
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def check_out(path: pathlib.Path, overwrite: bool, section: str = "") -> None:
    """Raises the error :func:`write_report` would raise, before any work is done."""
    from colorlab.errors import ConfigError, OutputExistsError

    opening, closing = markers(section)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {os.fspath(path)!r}: folder {os.fspath(path.parent)!r} does not exist")
    if path.is_dir():
        raise ConfigError(f"cannot write {os.fspath(path)!r}: it is a folder")
    if path.is_file() and not overwrite:
        text = path.read_text(encoding="utf-8")
        if not 0 <= text.find(opening) < text.find(closing):
            raise OutputExistsError(f"cannot write {os.fspath(path)!r}: the file exists and has no "
                                    f"{opening} ... {closing} section (pass --overwrite to replace it)")


def write_report(path: pathlib.Path, text: str, overwrite: bool, section: str = "") -> pathlib.Path:
    """Writes ``text`` atomically; in a file with the markers, replaces only what lies between them."""
    from colorlab.files import write_text

    check_out(path, overwrite, section)
    opening, closing = markers(section)
    if path.is_file():
        current = path.read_text(encoding="utf-8")
        begin, end = current.find(opening), current.find(closing)
        if 0 <= begin < end:
            text = current[:begin + len(opening)] + "\n" + text + current[end:]
        return write_text(path, text, overwrite=True)
    return write_text(path, text, overwrite=overwrite)


def main(argv=None) -> int:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "scripts/eval_video.py", *map(str, argv)])
    from colorlab.errors import ColorlabError

    def log(message):
        print(message, file=sys.stderr, flush=True)

    start = time.perf_counter()
    try:
        if args.out is not None:
            check_out(args.out, args.overwrite, args.section)   # fail before the work, not after it
        from colorlab.models import load_generator

        from colorlab.inference import resolve_adaptation

        config = load_generator(args.weights).config
        steps, options = resolve_adaptation(args.weights, args.adapt)
        adapted = (f"adapted to each exemplar for {steps} steps first"
                   + (" (the weights' recommendation, as `colorlab video` does by default)" if args.adapt is None
                      else "") if steps else "not adapted (the network as trained)")
        source = "the shipped demo weights" if args.weights is None else f"`{pathlib.Path(args.weights).name}`"
        model_note = (f"{source} (`{config.name}` config, working size {config.image_size} px on the shorter "
                      f"side), {adapted}, batch {args.batch_size}, Keras backend `{_backend()}`. Code measured: "
                      f"{code_versions()}.")
        clips, notes = build_clips(args)
        rows = measure(clips, args.weights, args.batch_size, log, adapt=args.adapt)
        report = format_report(rows, notes, command, model_note, per_clip=not args.summary_only)
        print(report, end="")
        if args.out is not None:
            write_report(args.out, report, args.overwrite, args.section)
            log(f"eval_video: wrote {os.fspath(args.out)}")
    except ColorlabError as error:
        print(f"eval_video: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    log(f"eval_video: {len(clips)} clips in {time.perf_counter() - start:.0f} s")
    return 0


def code_versions() -> str:
    """Short SHA-256 digests of the modules the numbers depend on (the propagation, the adaptation, the metrics)."""
    import hashlib

    files = ("colorlab/video.py", "colorlab/adapt.py", "colorlab/metrics.py")
    return ", ".join(f"`{name}` {hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:12]}" for name in files)


def _backend() -> str:
    import keras

    return keras.backend.backend()


if __name__ == "__main__":
    sys.exit(main())
