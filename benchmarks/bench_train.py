"""Training throughput of one config on this machine's CPU: TensorFlow float32 and bfloat16, JAX float32 and bfloat16.

    python benchmarks/bench_train.py [--config laptop] [--batch 16] [--steps 12]

Each setting runs in its own process (the Keras backend is chosen at import) and times `colorlab.train.Trainer`'s
real step, generator and discriminator, on a fixed random batch: a few warm-up steps (tracing, oneDNN's kernel
choice) are not timed, then the median of `--steps` single steps. bfloat16 is Keras' `mixed_bfloat16` policy
(bfloat16 arithmetic, float32 weights), which oneDNN runs on AVX512-BF16 where the CPU has it. Prints a Markdown
table with ratios to TensorFlow float32 and writes benchmarks/results/train_cpu_<config>.md.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

from report import publish

SETTINGS = (("tensorflow", "float32"), ("tensorflow", "mixed_bfloat16"), ("jax", "float32"),
            ("jax", "mixed_bfloat16"))


def measure(config: str, batch: int, steps: int, warmup: int) -> dict:
    """Runs in the child process: seconds per step, median of ``steps`` after ``warmup``."""
    import statistics
    import time

    import keras
    import numpy as np

    from colorlab.models import get_config
    from colorlab.train import Trainer, TrainingRecipe

    cfg = get_config(config)
    rng = np.random.default_rng(0)
    size, ref = cfg.image_size, cfg.reference_size
    # in the model's units, as PairDataset gives them: L/50 - 1 in [-1, 1], ab/110 (photos stay within about ±0.6)
    lab = rng.uniform([-1, -0.5, -0.5], [1, 0.5, 0.5], size=(batch, ref, ref, 3)).astype(np.float32)
    data = {"target_l": rng.uniform(-1, 1, (batch, size, size, 1)).astype(np.float32), "reference_lab": lab,
            "target_ab": rng.uniform(-0.5, 0.5, (batch, size, size, 2)).astype(np.float32),
            "label": rng.integers(0, cfg.num_classes, batch).astype(np.int32)}
    precision = os.environ["BENCH_PRECISION"]
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(TrainingRecipe(config, batch_size=batch, precision=precision), out, progress=False)
        for _ in range(warmup):
            trainer.train_step(data)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            losses = trainer.train_step(data)
            times.append(time.perf_counter() - start)
    return {"backend": keras.backend.backend(), "precision": trainer.precision,
            "seconds": statistics.median(times), "finite": all(np.isfinite(v) for v in losses.values())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="laptop")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.config, args.batch, args.steps, args.warmup)))
        return 0

    rows = []
    for backend, precision in SETTINGS:
        env = dict(os.environ, KERAS_BACKEND=backend, BENCH_PRECISION=precision, TF_CPP_MIN_LOG_LEVEL="2")
        command = [sys.executable, __file__, "--child", "--config", args.config, "--batch", str(args.batch),
                   "--steps", str(args.steps), "--warmup", str(args.warmup)]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            rows.append((backend, precision, None, done.stderr.strip().splitlines()[-1:]))
            continue
        rows.append((backend, precision, json.loads(done.stdout.strip().splitlines()[-1]), None))
        print(backend, precision, rows[-1][2], flush=True)

    base = next((r[2]["seconds"] for r in rows if r[2] and r[:2] == ("tensorflow", "float32")), None)
    lines = [f"# Training throughput on the CPU: `{args.config}`, batch {args.batch}",
             "",
             f"`python benchmarks/bench_train.py --config {args.config} --batch {args.batch} --steps {args.steps}`; "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; one full `Trainer` step "
             "(generator and discriminator), median of the timed steps after warm-up.",
             "",
             "| backend | precision | s / step | images / s | ratio to TF float32 | losses finite |",
             "|---|---|---:|---:|---:|---|"]
    for backend, precision, result, error in rows:
        if result is None:
            lines.append(f"| {backend} | {precision} | failed: {' '.join(error)} | | | |")
            continue
        seconds = result["seconds"]
        ratio = f"{base / seconds:.2f}×" if base else "—"
        lines.append(f"| {backend} | {precision} | {seconds:.3f} | {args.batch / seconds:.1f} | {ratio} | "
                     f"{'yes' if result['finite'] else 'NO'} |")
    done = [(r[2]["seconds"], r[0], r[1]) for r in rows if r[2]]
    if done:
        seconds, backend, precision = min(done)
        lines += ["", f"Fastest here: {backend} {precision}, {args.batch / seconds:.1f} images/s."]
    publish(f"train_cpu_{args.config}", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
