"""CPU time of reference-adaptive colorization (colorlab.adapt) on a 1-megapixel photo, beside plain colorize.

    python benchmarks/bench_adapt.py [--repeats 2] [--steps 10 20]

Prints a Markdown report and writes benchmarks/results/adapt_cpu.md.

* The shipped demo weights (the report names their config), the bundled ``lake_1`` resized (bicubic) to 1224 x 816 (1.0 MP) as
  the gray target and ``lake_2`` (long side 1024) as the reference.
* ``colorize``: the whole pipeline at full resolution without adaptation (warm: the model is loaded and traced).
* Adaptation: ``ReferenceAdapter.adapt`` for each number of steps and each ``parts`` setting; "first" includes
  tracing the compiled step (once per process and shape), "warm" is the median of ``--repeats`` later calls (a
  second reference in the same process). The issue's budget: about 10 s of extra time per 1-MP photo.
"""

import argparse
import os
import time

from report import median_time, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20])
    args = parser.parse_args()

    import colorlab  # first: it keeps TensorFlow's start-up notices off stderr
    import keras
    import numpy as np
    from PIL import Image
    from colorlab import io
    from colorlab.adapt import ReferenceAdapter
    from colorlab.inference import Colorizer, colorize

    samples = {p.stem: p for p in io.sample_paths()}
    target = Image.open(samples["lake_1"]).convert("L").resize((1224, 816), Image.Resampling.BICUBIC)
    reference = Image.open(samples["lake_2"]).convert("RGB")
    reference.thumbnail((1024, 1024), Image.Resampling.BICUBIC)
    colorize(target, reference)                                         # warm-up: load, trace
    plain = median_time(lambda: colorize(target, reference), args.repeats)
    colorizer = Colorizer()
    reference_lab = colorizer.prepare_reference(np.asarray(reference, dtype=np.float32) / 255.0)
    rows = []
    for parts in ("decoder", "all"):
        for steps in args.steps:
            adapter = ReferenceAdapter(colorizer.trained, steps=steps, parts=parts)
            start = time.perf_counter()
            adapter.adapt(reference_lab)
            first = time.perf_counter() - start
            warm = median_time(lambda: adapter.adapt(reference_lab), args.repeats)
            rows.append(f"| {parts} | {steps} | {first:.1f} | {warm:.1f} | {warm / steps:.2f} | "
                        f"{(plain + warm) / plain:.1f}× |")
    lines = [f"# Reference-adaptive colorization on the CPU ({keras.backend.backend()}, colorlab "
             f"{colorlab.__version__}, {os.cpu_count()} cores)", "",
             f"Demo weights: `{colorizer.config.name}` config, working size {colorizer.config.image_size} px. "
             f"`colorize` of a 1224 × 816 photo without adaptation: **{plain:.2f} s** (warm).", "",
             "| parts | steps | first adaptation (s, with tracing) | warm adaptation (s) | s / step | colorize + "
             "adapt vs colorize |", "|---|---:|---:|---:|---:|---:|", *rows]
    publish("adapt_cpu", lines)


if __name__ == "__main__":
    main()
