#!/usr/bin/env python3
"""What helps reference-adaptive colorization: a reproducible study on the corpus's dev split.

    python scripts/study_adapt.py --data corpus --out studies/adapt \\
        --setting none=0 --setting dec20=20:decoder:3e-4 --setting all20=20:all:1e-4 [--protocol view]

Each --setting is NAME=STEPS[:PARTS[:LEARNING_RATE[:MIN_CROP[:MIN_MATCH]]]] (PARTS "all" or "decoder"; defaults:
those of colorlab.adapt.ReferenceAdapter; any option may be named instead, KEY=VALUE with KEY one of parts,
learning_rate, min_crop, min_match, batch_size, replay, e.g. b4=10:batch_size=4; MIN_MATCH: skip the adaptation
when the trained model's match of the reference with the target, colorlab.inference.Colorizer.match, is lower).
Every setting colours the same pairs (colorlab.evaluate.dev_pairs of --split, default val: tune here, never on
test) with the same weights (default: the demo weights) through colorlab.inference.Colorizer, the pipeline of
`colorlab colorize --adapt N`. Welsh et al. (2002) runs once as the reference point.

Replay (`replay=K`): K corpus pairs mixed into every adaptation step, drawn from the bank --replay-bank (default
OUT/replay_bank.npz), which is made on first use from --replay-count pairs of the corpus's *training* split
(colorlab.adapt.replay_pairs, seeded with --seed) and then reused.

Gating (`--gate NAME`, a setting that always adapts): the trained model's match of each pair's reference with its
target (colorlab.inference.Colorizer.match, as `colorize` computes it) goes to OUT/<protocol>_match.csv, and the
summary adds a sweep over thresholds: for each, the pairs whose match reaches it take NAME's row and the others
"none"'s, which is what `adapt_options={"min_match": threshold}` gives without colouring anything again.

Resumable: each setting's rows go to OUT/<protocol>_<NAME>.csv when it finishes, and a setting whose file exists is
not run again (delete the file to redo it). At the end OUT/<protocol>_summary.md holds one row per setting: mean
PSNR, ΔE00 and HIS, the seconds per pair (adaptation included, on this machine), and ΔE00 against Welsh and
against the unadapted model ("none", if it is one of the settings) with 95 % bootstrap intervals over pairs and
the pairs won.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import pathlib
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIELDS = ("pair", "protocol", "method", "psnr", "ssim", "ciede2000", "colourfulness", "his", "l_error",
          "colourfulness_target", "seconds")


#: The option names of a setting and how each is read; the first :data:`POSITIONAL` may also be given by position.
OPTIONS = (("parts", str), ("learning_rate", float), ("min_crop", float), ("min_match", float),
           ("batch_size", int), ("replay", int))
POSITIONAL = 4


def parse_setting(text: str) -> tuple[str, int, dict]:
    """``NAME=STEPS[:PARTS[:LR[:MIN_CROP[:MIN_MATCH]]]]``, each option also as ``key=value`` (e.g.
    ``b4=10:batch_size=4:learning_rate=6e-4``) -> (name, steps, Colorizer adapt_options)."""
    name, _, spec = text.partition("=")
    fields = spec.split(":") if spec else []
    usage = ("expected NAME=STEPS[:PARTS[:LR[:MIN_CROP[:MIN_MATCH]]]] or NAME=STEPS:KEY=VALUE..., KEY one of "
             + ", ".join(key for key, _ in OPTIONS))
    if not name or not fields or not fields[0].isdigit():
        raise SystemExit(f"study_adapt: --setting {text!r}: {usage}")
    kinds = dict(OPTIONS)
    options = {}
    for position, field in enumerate(fields[1:]):
        key, named, value = field.partition("=")
        if not named:
            if position >= POSITIONAL or options.keys() - {k for k, _ in OPTIONS[:position]}:
                raise SystemExit(f"study_adapt: --setting {text!r}: {usage}")
            key, value = OPTIONS[position][0], field
        if key not in kinds or key in options:
            raise SystemExit(f"study_adapt: --setting {text!r}: {usage}")
        try:
            options[key] = kinds[key](value)
        except ValueError:
            raise SystemExit(f"study_adapt: --setting {text!r}: {key} {value!r} is not a {kinds[key].__name__}; "
                             f"{usage}") from None
    return name, int(fields[0]), options


def run_setting(pairs, method, name: str) -> list[dict]:
    from tqdm.auto import tqdm

    from colorlab.evaluate import evaluate_methods

    rows = []
    for pair in tqdm(pairs, desc=name, unit="pair"):
        start = time.perf_counter()
        [row], _ = evaluate_methods([pair], {name: method}, progress=False)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


#: The thresholds of the gate sweep (mean best cosines).
THRESHOLDS = tuple(round(0.40 + 0.02 * k, 2) for k in range(11))


def match_rows(pairs, weights) -> list[dict]:
    """Per pair, the trained model's match of the reference with the target, at the working sizes of ``colorize``."""
    from tqdm.auto import tqdm

    from colorlab.cie import image_lightness
    from colorlab.inference import Colorizer

    colorizer = Colorizer(weights)
    rows = []
    for pair in tqdm(pairs, desc="match", unit="pair"):
        gray = np.repeat(np.asarray(pair.target_gray, np.float32)[..., None], 3, axis=-1)   # (H, W, 3)
        reference = np.asarray(pair.reference_rgb, np.float32)
        plan = colorizer.plan(gray.shape[:2], reference.shape[:2])
        l_small = colorizer.working_lightness(image_lightness(gray), plan.target)
        rows.append({"pair": pair.pair_id, "match": colorizer.match(l_small, colorizer.prepare_reference(
            reference, plan.reference))})
    return rows


def gate_sweep(results: dict, matches: dict, gated: str, protocol: str) -> list[str]:
    """Markdown rows: per threshold, the mean metrics when pairs matching at least that take ``gated``'s row."""
    from colorlab.evaluate import paired_difference

    none = {row["pair"]: row for row in results["none"]}
    adapted = {row["pair"]: row for row in results[gated]}
    lines = ["| min_match | adapted | PSNR | ΔE00 | HIS | ΔE00 − none [95 %], pairs won |", "|---:|---:|---:|---:|---:|---|"]
    for threshold in THRESHOLDS:
        chosen = [dict(adapted[pair] if matches[pair] >= threshold else none[pair], method="gated")
                  for pair in none]
        n = sum(matches[pair] >= threshold for pair in none)
        r = paired_difference(chosen + results["none"], "gated", "none", "ciede2000", protocol=protocol)
        mean = {metric: float(np.mean([row[metric] for row in chosen])) for metric in ("psnr", "ciede2000", "his")}
        lines.append(f"| {threshold:.2f} | {n}/{len(chosen)} | {mean['psnr']:.2f} | {mean['ciede2000']:.3f} | "
                     f"{mean['his']:.3f} | {r['mean']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}], {r['better']}/{r['n']} |")
    return lines


def write_rows(path: pathlib.Path, rows: list[dict], fields=FIELDS) -> None:
    from colorlab.files import write_text

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def read_rows(path: pathlib.Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: (v if k in ("pair", "protocol", "method") else float(v)) for k, v in row.items()}
                for row in csv.DictReader(handle)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the corpus (a Places365-layout folder)")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="folder for the rows and the summary")
    parser.add_argument("--setting", action="append", required=True,
                        help="NAME=STEPS[:PARTS[:LR[:MIN_CROP[:MIN_MATCH]]]], or options as KEY=VALUE")
    parser.add_argument("--protocol", default="view", choices=("view", "other"))
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--weights", default=None, help="generator weights (default: the demo weights)")
    parser.add_argument("--limit", type=int, default=None, help="at most N pairs (drawn with --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pairs' draw and of the adaptation")
    parser.add_argument("--replay-bank", type=pathlib.Path, default=None,
                        help="bank of corpus pairs for replay=K settings (default OUT/replay_bank.npz; made if "
                             "missing)")
    parser.add_argument("--replay-count", type=int, default=128, help="pairs in a new replay bank (128)")
    parser.add_argument("--versus", default=None,
                        help="a setting to compare every other with, in a last column (beside Welsh and 'none')")
    parser.add_argument("--gate", default=None,
                        help="a setting that always adapts: sweep min_match thresholds over it and 'none'")
    args = parser.parse_args(argv)
    settings = [parse_setting(text) for text in args.setting]
    if args.gate is not None and ({"none", args.gate} - {s[0] for s in settings}
                                  or any(s[0] == args.gate and "min_match" in s[2] for s in settings)):
        raise SystemExit(f"study_adapt: --gate {args.gate!r} needs a setting 'none' and an ungated setting of that "
                         "name")
    if args.versus is not None and args.versus not in {s[0] for s in settings}:
        raise SystemExit(f"study_adapt: --versus {args.versus!r} names no --setting")

    from colorlab.baselines import BASELINES
    from colorlab.evaluate import dev_pairs, paired_difference

    pairs = dev_pairs(args.data, args.protocol, split=args.split, limit=args.limit, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    bank = args.replay_bank or args.out / "replay_bank.npz"
    replaying = any(options.get("replay") for _, _, options in settings)
    if replaying:
        if not bank.exists():
            from colorlab.adapt import replay_pairs, save_replay_bank
            from colorlab.models import load_generator

            save_replay_bank(bank, replay_pairs(args.data, load_generator(args.weights).config, args.replay_count,
                                                seed=args.seed))
        for _, _, options in settings:
            if options.get("replay"):
                options["replay_bank"] = str(bank)
    results = {}
    for name, method in [("welsh", BASELINES["welsh"])] + [(s[0], None) for s in settings]:
        path = args.out / f"{args.protocol}_{name}.csv"
        if path.exists():
            results[name] = read_rows(path)
            continue
        if method is None:
            from colorlab.evaluate import model_method

            _, steps, options = next(s for s in settings if s[0] == name)
            method = model_method(args.weights, adapt=steps, seed=args.seed, adapt_options=options)
        rows = run_setting(pairs, method, name)
        write_rows(path, rows)
        results[name] = rows

    all_rows = [row for rows in results.values() for row in rows]
    lines = [f"# Reference adaptation study: `{args.protocol}` protocol, {args.split} split, {len(pairs)} pairs",
             "",
             f"`python scripts/study_adapt.py --data {args.data} --out {args.out} --protocol {args.protocol} "
             f"--split {args.split} " + " ".join(f"--setting {t}" for t in args.setting)
             + (f" --gate {args.gate}" if args.gate else "") + (f" --versus {args.versus}" if args.versus else "")
             + (f" --replay-bank {bank} --replay-count {args.replay_count}" if replaying else "")
             + "`",
             "",
             "| setting | steps | options | PSNR | ΔE00 | HIS | s / pair | ΔE00 − Welsh [95 %], pairs won | "
             "ΔE00 − none [95 %], pairs won |" + (f" ΔE00 − {args.versus} [95 %], pairs won |" if args.versus else ""),
             "|---|---:|---|---:|---:|---:|---:|---|---|" + ("---|" if args.versus else "")]

    def mean(name, metric):
        values = [row[metric] for row in results[name] if abs(row[metric]) != float("inf")]
        return sum(values) / len(values)

    def versus(name, baseline):
        if baseline not in results or name == baseline:
            return "—"
        r = paired_difference(all_rows, name, baseline, "ciede2000", protocol=args.protocol)
        return f"{r['mean']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}], {r['better']}/{r['n']}"

    for name in ["welsh"] + [s[0] for s in settings]:
        spec = next((s for s in settings if s[0] == name), None)
        steps = spec[1] if spec else "—"
        shown = {k: v for k, v in (spec[2] if spec else {}).items() if k != "replay_bank"}   # in the command
        options = ", ".join(f"{k}={v}" for k, v in shown.items()) or "—"
        lines.append(f"| {name} | {steps} | {options} | {mean(name, 'psnr'):.2f} | {mean(name, 'ciede2000'):.3f} | "
                     f"{mean(name, 'his'):.3f} | {mean(name, 'seconds'):.1f} | {versus(name, 'welsh')} | "
                     f"{versus(name, 'none')} |" + (f" {versus(name, args.versus)} |" if args.versus else ""))
    if args.gate is not None:
        path = args.out / f"{args.protocol}_match.csv"
        if not path.exists():
            write_rows(path, match_rows(pairs, args.weights), fields=("pair", "match"))
        matches = {row["pair"]: float(row["match"]) for row in csv.DictReader(open(path, newline="", encoding="utf-8"))}
        values = sorted(matches.values())
        lines += ["", f"## Gating `{args.gate}` on the match (median {values[len(values) // 2]:.3f}, "
                      f"range {values[0]:.3f} to {values[-1]:.3f})", ""]
        lines += gate_sweep(results, matches, args.gate, args.protocol)
    from colorlab.files import write_text

    report = "\n".join(lines) + "\n"
    write_text(args.out / f"{args.protocol}_summary.md", report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
