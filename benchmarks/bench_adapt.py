"""CPU time of reference-adaptive colorization (colorlab.adapt) on a 1-megapixel photo, beside plain colorize.

    python benchmarks/bench_adapt.py [--repeats 2] [--steps 10 20] [--quick]

Prints a Markdown report and writes benchmarks/results/adapt_cpu.md.

* The shipped demo weights (the report names their config), the bundled ``lake_1`` resized (bicubic) to 1224 x 816 (1.0 MP) as
  the gray target and ``lake_2`` (long side 1024) as the reference.
* ``colorize``: the whole pipeline at full resolution without adaptation (warm: the model is loaded and traced).
* The default: ``colorize(target, reference)`` as shipped, which adapts for the steps the demo weights recommend
  (``data/weights/demo.json``; this pair passes the match gate), first in the process and warm, beside
  ``adapt=0``.
* Adaptation alone: ``ReferenceAdapter.adapt`` for each number of steps and each ``parts`` setting (``--quick``:
  the decoder only); "first" includes building the in-memory copy and tracing the compiled step (once per process
  and settings), "warm" is the median of ``--repeats`` later calls (a second reference in the same process, a
  second photo from one reference with ``colorlab colorize``, or a video). The issue's budget: about 10 s of extra
  time per 1-MP photo.
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
    parser.add_argument("--quick", action="store_true", help="adapt the decoder only (leave parts='all' out)")
    args = parser.parse_args()

    import colorlab  # first: it keeps TensorFlow's start-up notices off stderr
    import keras
    import numpy as np
    from PIL import Image
    from colorlab import io
    from colorlab.adapt import DEFAULT_PARTS, ReferenceAdapter
    from colorlab.inference import Colorizer, colorize, resolve_adaptation

    samples = {p.stem: p for p in io.sample_paths()}
    target = Image.open(samples["lake_1"]).convert("L").resize((1224, 816), Image.Resampling.BICUBIC)
    reference = Image.open(samples["lake_2"]).convert("RGB")
    reference.thumbnail((1024, 1024), Image.Resampling.BICUBIC)
    colorize(target, reference, adapt=0)                                # warm-up: load, trace
    plain = median_time(lambda: colorize(target, reference, adapt=0), args.repeats)
    steps, options = resolve_adaptation(None, None)
    start = time.perf_counter()
    colorize(target, reference)                                         # the default, first in this process
    default_first = time.perf_counter() - start
    colorizer = Colorizer(adapt=0)
    reference_lab = colorizer.prepare_reference(np.asarray(reference, dtype=np.float32) / 255.0)
    rows, default_warm = [], None
    adapter_options = {k: v for k, v in options.items() if k != "min_match"}
    for parts in ("decoder",) if args.quick else ("decoder", "all"):
        for count in args.steps:
            adapter = ReferenceAdapter(colorizer.trained, steps=count, **{**adapter_options, "parts": parts})
            start = time.perf_counter()
            adapter.adapt(reference_lab)
            first = time.perf_counter() - start
            warm = median_time(lambda: adapter.adapt(reference_lab), args.repeats)
            default = parts == options.get("parts", DEFAULT_PARTS) and count == steps
            if default:
                default_warm = warm
            rows.append(f"| {parts} | {count}{' (default)' if default else ''} | {first:.1f} | {warm:.1f} | "
                        f"{warm / count:.2f} | {(plain + warm) / plain:.1f}× |")
    lines = [f"# Reference-adaptive colorization on the CPU ({keras.backend.backend()}, colorlab "
             f"{colorlab.__version__}, {os.cpu_count()} cores)", "",
             f"Demo weights: `{colorizer.config.name}` config, working size {colorizer.config.image_size} px; they "
             f"recommend {steps} steps ({', '.join(f'{k} {v}' for k, v in sorted(options.items()))}). "
             f"`colorize` of a 1224 × 816 photo: **{plain:.2f} s** with `adapt=0` (warm); **{default_first:.1f} s** "
             "as shipped, the first adapting call in the process (the model already loaded: matching, building the "
             "in-memory copy, tracing the step, adapting, colouring)."
             + (f" The default adaptation of another reference once traced: **{default_warm:.1f} s** "
                f"({'within' if default_warm <= 10 else 'over'} the 10 s budget; "
                f"{(plain + default_warm) / plain:.1f}× plain `colorize`)." if default_warm is not None else ""), "",
             "| parts | steps | first adaptation (s, copy + tracing) | warm adaptation (s) | s / step | colorize + "
             "adapt vs colorize |", "|---|---:|---:|---:|---:|---:|", *rows]
    publish("adapt_cpu", lines)


if __name__ == "__main__":
    main()
