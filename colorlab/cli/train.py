"""``colorlab train``: train Gray2ColorNet on a Places365-layout folder or a ``colorlab pack`` file
(:class:`colorlab.train.Trainer`)."""

import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train Gray2ColorNet on a Places365-layout folder (checkpoints, logs)",
        description="Train Gray2ColorNet and its patch discriminator (colorlab.train.Trainer). "
                    "OUT gets checkpoints/, metrics.csv, metrics.jsonl, tensorboard/, images/ "
                    "and, at the end, generator.weights.h5 with generator.json. One run at a time in OUT. "
                    "Interrupted (Ctrl-C, a crash, a full disk)? Run the same command with --resume: it continues "
                    "from the last checkpoint (Ctrl-C writes one at the current step) and ends at step --steps.")
    parser.add_argument("--config", default="course",
                        help="model config: tiny, laptop, laptop96 (the demo weights' own), course (default) or paper")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="a Places365-layout folder (e.g. the corpus), or one .npz file from `colorlab pack`")
    parser.add_argument("--processes", type=int, default=0, metavar="N",
                        help="worker processes that prepare batches ahead, e.g. CPU cores - 1 to feed a GPU "
                             "(default 0: batches are prepared on threads of this process)")
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help="threads that prepare each batch, in each worker with --processes (default: CPU cores, "
                             "at most 16; 1 with --processes)")
    parser.add_argument("--steps", type=int, required=True, metavar="N",
                        help="train until step N, counted from the start of the run: with --resume, the steps "
                             "still missing (none if the run is there already)")
    parser.add_argument("--out", required=True, metavar="DIR", help="the run's folder")
    parser.add_argument("--batch-size", type=int, default=16, metavar="B", help="images per step (default 16)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest intact checkpoint in --out (a damaged one is skipped, "
                             "with a warning)")
    parser.add_argument("--init", metavar="WEIGHTS", default=None,
                        help="start the generator from these weights (a .weights.h5 with its .json, e.g. "
                             "data/weights/demo.weights.h5) to fine-tune them; the discriminator starts fresh")
    parser.add_argument("--learning-rate", type=float, default=2e-4, metavar="LR",
                        help="Adam's learning rate for both networks (default 2e-4)")
    parser.add_argument("--mode-ratio", type=float, default=0.5, metavar="R",
                        help='fraction of "other photo" pairs; the rest are "same photo, augmented" (default 0.5)')
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the weights and the data order")
    parser.add_argument("--checkpoint-every", type=int, default=500, metavar="N", help="steps between checkpoints")
    parser.add_argument("--log-every", type=int, default=50, metavar="N", help="steps between log rows")
    parser.add_argument("--image-every", type=int, default=500, metavar="N",
                        help="steps between image grids (0: none)")
    parser.add_argument("--eager", action="store_true",
                        help="TensorFlow: run the step uncompiled (skips tracing; quicker for a handful of steps)")
    from colorlab.distribute import MODES   # names only: nothing heavy

    parser.add_argument("--distribute", choices=MODES, default="none",
                        help="none (default): one device; data-parallel: every GPU of this machine; multi-worker: "
                             "one process of several (start the same command in each), told the cluster by "
                             "KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES and _PROCESS_ID (JAX) or TF_CONFIG "
                             "(TensorFlow). --batch-size is the global batch; process 0 writes --out, which every "
                             "process must see to --resume")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from colorlab.errors import ConfigError, DatasetError, OutputExistsError

    if args.steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {args.steps}")
    data_dir = Path(args.data)
    if not (data_dir.is_dir() or data_dir.is_file()):
        raise DatasetError(f"--data {data_dir}: no such folder or file (a Places365-layout folder is needed, e.g. "
                           "the offline corpus from `python scripts/build_corpus.py`, or a file from `colorlab pack`)")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.processes < 0:
        raise ConfigError(f"--processes must be >= 0, got {args.processes}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")

    from colorlab.distribute import Distribution
    from colorlab.train import Trainer, TrainingRecipe, list_checkpoints

    distribution = Distribution(args.distribute)   # first: joins the other processes before anything computes

    def say(text: str) -> None:   # one process speaks for the run
        if distribution.is_chief:
            print(text)

    recipe = TrainingRecipe(args.config, batch_size=args.batch_size, seed=args.seed,
                            learning_rate=args.learning_rate, mode_ratio=args.mode_ratio, init=args.init)
    if list_checkpoints(out) and not args.resume:
        raise OutputExistsError(f"--out {out} has checkpoints already: add --resume to continue that run, or "
                                "choose another folder")
    from colorlab.packed import open_training_data

    data = open_training_data(data_dir)   # a malformed --data is one line before the model is built
    trainer = None
    try:
        trainer = Trainer(recipe, out, checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                          image_every=args.image_every, distribute=distribution, compile=not args.eager)
        with trainer.lock():   # one run at a time in --out (a second one is refused, naming this process)
            return _train(args, trainer, data, say)
    except KeyboardInterrupt:   # fit has written a checkpoint at the step it finished
        found = list_checkpoints(out)
        kept = f"checkpoint {found[-1]} kept: run the same command with --resume to continue" if found else \
            "no checkpoint yet"
        print(f"colorlab: interrupted at step {trainer.step if trainer else 0}; {kept}", file=sys.stderr)
        return 130


def _train(args, trainer, data, say) -> int:
    """Restores (with --resume), trains until --steps on ``data`` (:func:`colorlab.packed.open_training_data`) and exports, holding the run
    folder's lock."""
    import os
    import warnings

    from colorlab.errors import OutputExistsError
    from colorlab.train import list_checkpoints

    out, recipe = trainer.out_dir, trainer.recipe
    resuming = bool(list_checkpoints(out))
    if resuming and not args.resume:   # checkpoints written since run() looked
        raise OutputExistsError(f"--out {out} has checkpoints already: add --resume to continue that run, or "
                                "choose another folder")
    if resuming:   # refuses a run.json with other settings, naming each
        with warnings.catch_warnings(record=True) as caught:   # a damaged checkpoint skipped, bad log rows dropped
            warnings.simplefilter("always", UserWarning)
            step = trainer.restore()
        for warning in caught:
            print(f"colorlab: warning: {warning.message}", file=sys.stderr)
        say(f"resumed from step {step}")
    else:
        if args.resume:
            say(f"no checkpoint in {out}: starting from step 0")
        if recipe.init is not None:
            trainer.load_generator(recipe.init)
            say(f"generator starts from {args.init}")
    if trainer.step >= args.steps:
        weights, _ = trainer.export_generator(out / "generator.weights.h5")
        say(f"already at step {trainer.step} (--steps {args.steps}): nothing to train; generator weights in {weights}")
        return 0
    source, make = data
    threads = args.threads or (1 if args.processes else min(os.cpu_count() or 1, 16))
    options = {"threads": threads, "processes": args.processes}   # the same batches whatever their values
    full = len(source.split("train")) >= recipe.batch_size   # every step a full batch (one compiled shape) if possible
    dataset = make(source, "train", recipe.config, batch_size=recipe.batch_size, seed=recipe.seed,
                   drop_remainder=full, mode_ratio=recipe.mode_ratio, shard=trainer.distribution.shard, **options)
    try:
        rows = trainer.fit(dataset, args.steps)
    finally:
        dataset.close()   # its worker processes and threads
    weights, config_path = trainer.export_generator(out / "generator.weights.h5")
    say(f"step {trainer.step}: loss {rows[-1]['loss']:.4f}, discriminator {rows[-1]['d_loss']:.4f}; "
        f"generator weights in {weights} (config {config_path.name})")
    return 0
