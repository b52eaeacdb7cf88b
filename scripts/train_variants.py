"""Train one Gray2ColorNet variant for a fixed wall-clock budget, then export its generator.

The question it answers: for the same time on the same machine, which working size colours the held-out photos
best, from scratch or fine-tuning the demo weights? Start one process per variant (side by side on one GPU, or one
after the other on a CPU), each with the same ``--minutes``, then score each export with
``colorlab eval --weights OUT/generator.weights.h5 --data corpus --split val``.

    KERAS_BACKEND=jax python scripts/train_variants.py --variant 96-ft --init laptop.weights.h5 \\
        --data corpus.npz --minutes 3 --batch-size 64 --processes 6 --out runs/96-ft

Variants of the ``--base`` config (default ``laptop``; the network is convolutional, so its parameters are the same
at every working size, and the fine-tunes load ``--init`` unchanged whatever size it was trained at):

- ``64``, ``96``: from scratch at 64 x 64 / 96 x 96, learning rate 2e-4, half "other photo" pairs.
- ``64-ft``, ``96-ft``, ``128-ft``: fine-tuning ``--init`` at that size, 1e-4, 30 % "other photo" pairs.

The run folder is an ordinary ``colorlab train`` folder (checkpoints, metrics.csv). Training stops at the first
multiple of ``--chunk`` steps after the budget is spent, or at ``--steps`` to repeat a run (the same batches; another
device's arithmetic differs slightly). The data order depends on ``--seed`` and ``--batch-size`` only.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

#: name -> (working size, fine-tune?, learning rate, share of "other photo" pairs)
VARIANTS = {
    "64": (64, False, 2e-4, 0.5),
    "96": (96, False, 2e-4, 0.5),
    "64-ft": (64, True, 1e-4, 0.3),
    "96-ft": (96, True, 1e-4, 0.3),
    "128-ft": (128, True, 1e-4, 0.3),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=list(VARIANTS), required=True)
    parser.add_argument("--base", default="laptop", help="the config whose working size varies (default laptop)")
    parser.add_argument("--data", required=True, help="a Places365-layout folder or a `colorlab pack` file")
    parser.add_argument("--out", required=True, type=Path)
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, help="wall-clock budget for training")
    budget.add_argument("--steps", type=int, help="train exactly this many steps instead (to repeat a run)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--init", default=None, help="exported weights the -ft variants start from")
    parser.add_argument("--processes", type=int, default=0, help="worker processes preparing batches")
    parser.add_argument("--chunk", type=int, default=100, help="steps between looks at the clock")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    size, fine_tune, learning_rate, mode_ratio = VARIANTS[args.variant]
    if fine_tune and args.init is None:
        parser.error(f"--variant {args.variant} fine-tunes: pass --init WEIGHTS")

    from colorlab.models import get_config
    from colorlab.packed import open_training_data
    from colorlab.train import Trainer, TrainingRecipe

    config = get_config(args.base, image_size=size, reference_size=size).replace(name=f"{args.base}{size}")
    recipe = TrainingRecipe(config, batch_size=args.batch_size, seed=args.seed, learning_rate=learning_rate,
                            mode_ratio=mode_ratio, init=str(Path(args.init).resolve()) if fine_tune else None)
    source, make = open_training_data(args.data)
    trainer = Trainer(recipe, args.out, checkpoint_every=10 ** 9, log_every=50, image_every=0,
                      progress=False)
    if fine_tune:   # weights of another working size load as they are: the network is convolutional
        trainer.load_generator(recipe.init)
    threads = 1 if args.processes else min(os.cpu_count() or 1, 8)
    dataset = make(source, "train", config, batch_size=args.batch_size, seed=args.seed, drop_remainder=True,
                   mode_ratio=mode_ratio, threads=threads, processes=args.processes)
    start = time.perf_counter()
    try:
        while True:   # at least one chunk
            target = trainer.step + args.chunk if args.steps is None else min(trainer.step + args.chunk, args.steps)
            row = trainer.fit(dataset, target)[-1]
            seconds = time.perf_counter() - start
            print(f"{args.variant}: step {trainer.step}, {seconds:.0f} s, loss {row['loss']:.4f}, "
                  f"d {row['d_loss']:.4f}", flush=True)
            if trainer.step >= (args.steps or 0) and seconds >= 60 * (args.minutes or 0):
                break
    finally:
        dataset.close()
    trainer.export_generator(args.out / "generator.weights.h5")
    summary = dict(variant=args.variant, config=config.name, steps=trainer.step, seconds=round(seconds, 1),
                   pairs=trainer.step * args.batch_size, batch_size=args.batch_size, learning_rate=learning_rate,
                   mode_ratio=mode_ratio, init=recipe.init, loss=row["loss"], d_loss=row["d_loss"])
    (args.out / "variant.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
