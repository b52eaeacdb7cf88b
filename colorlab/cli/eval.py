"""``colorlab eval``: score the baselines and a model on the dev split of a Places365-layout folder
(:mod:`colorlab.evaluate`)."""

import os
import pathlib

from colorlab.cli.common import adapt_options, add_model_arguments
from colorlab.errors import ConfigError, DatasetError, OutputExistsError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="score the baselines (and a model) on the dev or test split of a Places365-layout folder",
        description="Evaluate gray, global_mean_ab, welsh (and Gray2ColorNet unless --no-model) on the val (dev) "
                    "or test split of DIR under the 'view' (same scene, other view) and/or 'other' (other photo of "
                    "the same class) protocols. Prints a Markdown table; with --out writes rows.csv, summary.md and "
                    "contact_sheet_<protocol>.png there (atomically; never overwriting without --overwrite).")
    parser.add_argument("--data", required=True, metavar="DIR", help="a Places365-layout folder (e.g. corpus)")
    add_model_arguments(parser, strength=False, min_match=True)
    parser.add_argument("--split", default="val", choices=("val", "test"),
                        help="val: the dev split, to tune on (default); test: report on it once, after tuning")
    parser.add_argument("--protocol", default="both", choices=("view", "other", "both"),
                        help="which protocol(s) (default both)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="at most N targets per protocol")
    parser.add_argument("--out", default=None, metavar="DIR", help="folder for rows.csv, summary.md, sheets")
    parser.add_argument("--no-model", action="store_true", help="baselines only (no Gray2ColorNet)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of --limit and of 'other' pairs")
    parser.set_defaults(func=run)


def run(args) -> int:
    """Prints the Markdown table (also written to ``OUT/summary.md``); every output file, every pair's work budget
    (:class:`colorlab.inference.WorkBudget`) and the weights' config are checked before the model loads, so a bad
    one fails at once."""
    from colorlab.evaluate import (PROTOCOLS, baseline_methods, contact_sheet, dev_pairs, evaluate_methods,
                                   format_paired, format_table, model_method, summarize, write_rows_csv)
    from colorlab.files import write_text
    from colorlab.inference import WorkBudget
    from colorlab.io import check_output_path

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.adapt is not None and args.adapt < 0:
        raise ConfigError(f"--adapt must be an integer >= 0, got {args.adapt}")
    protocols = list(PROTOCOLS) if args.protocol == "both" else [args.protocol]
    data = pathlib.Path(args.data)
    if not data.is_dir():
        raise DatasetError(f"--data {os.fspath(data)}: no such folder (a Places365-layout folder is needed; build "
                           "the offline corpus with `python scripts/build_corpus.py`)")
    out = None if args.out is None else pathlib.Path(args.out)
    files = []
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {os.fspath(out)}: exists and is not a folder")
        files = [out / "rows.csv", out / "summary.md", *(out / f"contact_sheet_{p}.png" for p in protocols)]
        if not args.overwrite:
            existing = [os.fspath(f) for f in files if f.exists()]
            if existing:
                raise OutputExistsError(f"--out {os.fspath(out)}: {', '.join(existing)} exist(s) already; pass "
                                        "--overwrite to replace, or choose another folder")
        for file in files:   # a folder that cannot be made or written to fails now, not after the evaluation
            check_output_path(file, overwrite=True, make_folder=True)
    if not args.no_model:   # a missing weights file or a bad config fails now (Keras is imported, no model built)
        from colorlab.models import generator_config

        config = generator_config(args.weights)
    all_pairs, notes = {}, []
    for p in protocols:
        pairs = dev_pairs(data, p, split=args.split, limit=args.limit, seed=args.seed)
        if pairs.skipped:
            notes.append(f"protocol `{p}`: {len(pairs.skipped)} target(s) skipped (no other {args.split} photo of "
                         "their class)")
        if not pairs:
            raise DatasetError(f"--data {os.fspath(data)}: protocol {p!r} gives no pairs")
        all_pairs[p] = pairs
    methods = baseline_methods()
    if not args.no_model:
        budget = WorkBudget()
        for pair in (pair for pairs in all_pairs.values() for pair in pairs):
            budget.plan(pair.target_gray.shape, pair.reference_rgb.shape[:2], config,
                        target=f"target of pair {pair.pair_id!r}", reference=f"reference of pair {pair.pair_id!r}")
        methods["gray2colornet"] = model_method(args.weights, adapt=args.adapt, seed=args.seed,
                                                adapt_options=adapt_options(args))
    all_rows, sheets = [], {}
    for p, pairs in all_pairs.items():
        outputs: dict = {}
        rows, _ = evaluate_methods(pairs, methods, outputs=outputs)
        all_rows.extend(rows)
        sheets[p] = (pairs, outputs)
    table = format_table(summarize(all_rows))
    if not args.no_model:   # is the model's lead over the strongest baseline larger than the pair-to-pair noise?
        table += "\n" + "\n".join(format_paired(all_rows, "gray2colornet", "welsh", p) for p in protocols) + "\n"
    if notes:
        table += "\n" + "\n".join(notes) + "\n"
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_rows_csv(all_rows, files[0], overwrite=args.overwrite)
        write_text(files[1], table, overwrite=args.overwrite)
        for p, (pairs, outputs) in sheets.items():
            contact_sheet(pairs, outputs, out / f"contact_sheet_{p}.png", overwrite=args.overwrite)
    print(table, end="")
    return 0
