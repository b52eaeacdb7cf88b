"""Command line interface: ``colorlab …`` or ``python -m colorlab …``.

Every failure caused by the user's input prints one line to stderr and exits with status 2;
no traceback is shown for a ColorlabError.
"""

import argparse
import sys

from colorlab import __version__
from colorlab.errors import ColorlabError


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="colorlab",
        description="Exemplar-based colorization (Gray2ColorNet), built chapter by chapter.",
    )
    parser.add_argument("--version", action="version", version=f"colorlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="show versions, the Keras backend and the bundled sample photos")
    info.set_defaults(func=_cmd_info)

    from colorlab.places365 import add_cli as _add_places365_subset  # `places365-subset`: stdlib + Pillow only
    _add_places365_subset(sub)
    _add_colorize_parser(sub)
    _add_train_parser(sub)
    from colorlab.packed import add_cli as _add_pack  # `pack`: NumPy + Pillow only (Keras lazily)
    _add_pack(sub)
    from colorlab.evaluate import add_cli as _add_eval  # `eval`: the dev-set evaluation (NumPy; Keras lazily)
    _add_eval(sub)
    from colorlab.video import add_cli as _add_video  # `video`: PyAV, OpenCV and Keras load lazily
    _add_video(sub)
    return parser


def _cmd_info(args) -> int:
    import keras

    from colorlab.io import sample_paths

    print(f"colorlab {__version__}")
    print(f"keras {keras.__version__} (backend: {keras.backend.backend()})")
    paths = sample_paths()
    print(f"{len(paths)} sample photos in {paths[0].parent if paths else 'data/samples'}")
    return 0


# ---- colorize ------------------------------------------------------------------------------------------------
def _add_colorize_parser(sub) -> None:
    from colorlab.inference import add_model_arguments   # NumPy + Pillow (Keras lazily)

    colorize = sub.add_parser(
        "colorize", help="colour gray photos from a colour reference (Gray2ColorNet, full resolution)",
        description="Colour TARGET photos with the colours of a reference photo. One target: -o is the output "
                    "file. Several targets: -o is a folder (created if missing) that gets <target name>.png each. "
                    "Nothing is overwritten without --overwrite; files are written atomically.")
    colorize.add_argument("targets", nargs="+", metavar="TARGET", help="gray (or colour: only its L* is used) photo")
    colorize.add_argument("--reference", "-r", required=True, metavar="REF", help="the colour reference photo")
    colorize.add_argument("--output", "-o", required=True, metavar="OUT", help="output file, or folder for several")
    add_model_arguments(colorize)
    colorize.add_argument("--overwrite", action="store_true", help="replace existing output files")
    colorize.set_defaults(func=_cmd_colorize)


def _cmd_colorize(args) -> int:
    from colorlab.inference import colorize_files

    colorize_files(args.targets, args.reference, args.output, weights=args.weights, strength=args.strength,
                   overwrite=args.overwrite)
    return 0


# ---- train ---------------------------------------------------------------------------------------------------
def _add_train_parser(sub) -> None:
    train = sub.add_parser("train", help="train Gray2ColorNet on a Places365-layout folder (checkpoints, logs)",
                           description="Train Gray2ColorNet and its patch discriminator (colorlab.train.Trainer). "
                                       "OUT gets checkpoints/, metrics.csv, metrics.jsonl, tensorboard/, images/ "
                                       "and, at the end, generator.weights.h5 with generator.json.")
    train.add_argument("--config", default="course",
                       help="model config: tiny, laptop, course (default) or paper")
    train.add_argument("--data", required=True, metavar="DIR",
                       help="a Places365-layout folder (e.g. the corpus), or one .npz file from `colorlab pack`")
    train.add_argument("--threads", type=int, default=None, metavar="T",
                       help="packed --data only: threads that prepare each batch (default: CPU cores, at most 16)")
    train.add_argument("--steps", type=int, required=True, metavar="N", help="training steps to run now")
    train.add_argument("--out", required=True, metavar="DIR", help="the run's folder")
    train.add_argument("--batch-size", type=int, default=16, metavar="B", help="images per step (default 16)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    train.add_argument("--init", metavar="WEIGHTS", default=None,
                       help="start the generator from these weights (a .weights.h5 with its .json, e.g. "
                            "data/weights/demo.weights.h5) to fine-tune them; the discriminator starts fresh")
    train.add_argument("--learning-rate", type=float, default=2e-4, metavar="LR",
                       help="Adam's learning rate for both networks (default 2e-4)")
    train.add_argument("--mode-ratio", type=float, default=0.5, metavar="R",
                       help='fraction of "other photo" pairs; the rest are "same photo, augmented" (default 0.5)')
    train.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the weights and the data order")
    train.add_argument("--checkpoint-every", type=int, default=500, metavar="N", help="steps between checkpoints")
    train.add_argument("--log-every", type=int, default=50, metavar="N", help="steps between log rows")
    train.add_argument("--image-every", type=int, default=500, metavar="N",
                       help="steps between image grids (0: none)")
    train.add_argument("--eager", action="store_true",
                       help="TensorFlow: run the step uncompiled (skips tracing; quicker for a handful of steps)")
    train.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    import json
    import os
    from pathlib import Path

    from colorlab.errors import ConfigError, DatasetError, OutputExistsError

    if args.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {args.steps}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not args.learning_rate > 0:
        raise ConfigError(f"--learning-rate must be > 0, got {args.learning_rate}")
    if not 0.0 <= args.mode_ratio <= 1.0:
        raise ConfigError(f"--mode-ratio must lie in [0, 1], got {args.mode_ratio}")
    data_dir = Path(args.data)
    if not (data_dir.is_dir() or data_dir.is_file()):
        raise DatasetError(f"--data {data_dir}: no such folder or file (a Places365-layout folder is needed, e.g. "
                           "the offline corpus from `python scripts/build_corpus.py`, or a file from `colorlab pack`)")
    if args.threads is not None and (args.threads < 1 or data_dir.is_dir()):
        raise ConfigError(f"--threads {args.threads}: needs a packed --data file and a value >= 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")

    from colorlab.data import PairDataset, Places365Folder
    from colorlab.models import get_config
    from colorlab.train import Trainer, _write_atomic, list_checkpoints

    config = get_config(args.config)
    if list_checkpoints(out) and not args.resume:
        raise OutputExistsError(f"--out {out} has checkpoints already: add --resume to continue that run, or "
                                "choose another folder")
    if data_dir.is_file():   # `colorlab pack` output: the same batches, photos from memory, prepared on threads
        from colorlab.packed import PackedCorpus, PackedPairDataset

        source, make = PackedCorpus(data_dir), PackedPairDataset
        options = {"threads": args.threads or min(os.cpu_count() or 1, 16)}
    else:
        source, make, options = Places365Folder(data_dir), PairDataset, {}
    full = len(source.split("train")) >= args.batch_size   # every step a full batch (one compiled shape) if possible
    # What shapes the run's weights and data stream: a resumed run must repeat it to continue exactly.
    recipe = {"config": config.name, "batch_size": args.batch_size, "seed": args.seed,
              "learning_rate": args.learning_rate, "mode_ratio": args.mode_ratio,
              "init": None if args.init is None else os.path.abspath(args.init)}
    recipe_path = out / "run.json"
    resuming = bool(list_checkpoints(out))
    if resuming and recipe_path.is_file():
        try:
            saved = json.loads(recipe_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ConfigError(f"{recipe_path}: unreadable ({' '.join(str(error).split())})") from None
        changed = [f"--{key.replace('_', '-')} {saved.get(key)} (now {value})" for key, value in recipe.items()
                   if key != "init" and saved.get(key) != value]
        if changed:
            raise ConfigError(f"--out {out} was started with other settings: {', '.join(changed)}; pass the same "
                              "ones to resume it exactly")
    dataset = make(source, "train", config, batch_size=args.batch_size, seed=args.seed, drop_remainder=full,
                   mode_ratio=args.mode_ratio, **options)
    trainer = Trainer(config, out, seed=args.seed, learning_rate=args.learning_rate,
                      checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                      image_every=args.image_every, compile=not args.eager)
    if resuming:
        print(f"resumed from step {trainer.restore()}")
    else:
        if args.resume:
            print(f"no checkpoint in {out}: starting from step 0")
        if args.init is not None:
            trainer.load_generator(args.init)
            print(f"generator starts from {args.init}")
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(recipe_path, lambda temporary: Path(temporary).write_text(json.dumps(recipe, indent=1),
                                                                                 encoding="utf-8"))
    rows = trainer.fit(dataset, args.steps)
    weights, config_path = trainer.export_generator(out / "generator.weights.h5")
    print(f"step {trainer.step}: loss {rows[-1]['loss']:.4f}, discriminator {rows[-1]['d_loss']:.4f}; "
          f"generator weights in {weights} (config {config_path.name})")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except ColorlabError as error:
        print(f"colorlab: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permissions, ...: still one line, never a traceback
        print(f"colorlab: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
