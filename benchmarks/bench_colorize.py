"""CPU time of colorlab.colorize at full resolution, beside the Welsh et al. (2002) baseline, and its memory at 12 MP.

    python benchmarks/bench_colorize.py [--repeats 3] [--config course]

Prints a Markdown report and writes benchmarks/results/colorize_cpu.md.

* The model is the ``course`` config with **random weights** (seeded), saved to a temporary ``.weights.h5`` + ``.json``
  and loaded through ``colorize(weights=...)`` like trained weights would be: the time does not depend on the
  values of the weights, only on their shapes, so this measures what the shipped demo weights will cost.
* The photos are bundled samples (``data/samples``) resized (bicubic) so the longer side is 1024 px, and to
  4000 x 3000 = 12 MP; the target is their gray version, the reference another sample at its own size.
* Times are medians of ``--repeats`` runs after one warm-up (which builds and caches the model and traces the
  backend's kernels), TensorFlow (or whichever Keras backend is set), all CPU cores of this machine.
* Memory at 12 MP: ``tracemalloc`` peak (NumPy and Pillow buffers allocated from Python during one call; TensorFlow's
  own allocator is not traced, but the model runs at the small working size) and the process's maximum resident
  set size (``resource.getrusage``; includes the framework, so the increase over the 1024-px runs is shown too).
DESIGN.md's target: a 1024-px photo in <= 1.5 s on CPU at full resolution.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from report import median_time, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _max_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024   # bytes on macOS, KiB on Linux


def _photo(path, long_side=None, size=None):
    import numpy as np
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if size is None:
        scale = long_side / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", default="course")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import colorlab.inference as cz
    from colorlab.baselines import welsh
    from colorlab.io import sample_paths
    from colorlab.cie import lightness
    from colorlab.metrics import l_preservation
    from colorlab.models import build_gray2colornet

    samples = {p.name: p for p in sample_paths()}
    target_path, reference_path = samples["castle_1.jpg"], samples["castle_2.jpg"]
    reference = _photo(reference_path, long_side=512)
    photo = _photo(target_path, long_side=1024)
    gray = photo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)      # (H, W) in [0, 1]

    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / f"{args.config}.weights.h5"
        model = build_gray2colornet(args.config)
        model.save_weights(weights)
        (Path(folder) / f"{args.config}.json").write_text(json.dumps({"config": model.config.to_dict()}))
        del model

        run = lambda image: cz.colorize(image, reference, weights=weights)   # noqa: E731
        start = time.perf_counter()
        out = run(gray)                                                      # builds + loads + caches the model
        first = time.perf_counter() - start
        t_colorize = median_time(lambda: run(gray), args.repeats)
        dl = l_preservation(np.asarray(out, np.float32) / 255.0, gray)

        # the model call alone, at the working size, for the breakdown
        colorizer = cz.Colorizer(weights)
        l_small = colorizer.working_lightness(lightness(gray).astype(np.float32))
        ref_small = colorizer.prepare_reference(reference)
        t_model = median_time(lambda: colorizer.predict_ab(l_small[None], ref_small), args.repeats)
        t_welsh = median_time(lambda: welsh(gray, reference), args.repeats)
        rss_1024 = _max_rss_mib()

        big = _photo(target_path, size=(4000, 3000)) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        del photo
        t_big = median_time(lambda: run(big), 1)
        tracemalloc.start()
        run(big)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_big = _max_rss_mib()

    backend = keras.backend.backend()
    lines = [
        f"`colorize` with the `{args.config}` config (**random weights**: the time depends on the shapes only), "
        f"{backend} backend, {os.cpu_count()} CPU cores, median of {args.repeats} after a warm-up.",
        "",
        "| photo | pixels | colorize (s) | of which the model (s) | Welsh 2002 (s) | colorize / Welsh | mean abs ΔL* |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {target_path.name}, {gray.shape[1]}×{gray.shape[0]} | {gray.size / 1e6:.2f} MP | {t_colorize:.2f} | "
        f"{t_model:.2f} | {t_welsh:.2f} | {t_colorize / t_welsh:.2f} | {dl:.3f} |",
        "",
        f"First call (build the model, load the weights, trace): {first:.1f} s. DESIGN.md target for a 1024-px photo: "
        "≤ 1.5 s.",
        "",
        "| photo | pixels | colorize (s) | tracemalloc peak, NumPy/Pillow (MiB) | max RSS after 1024 px (MiB) "
        "| max RSS after 12 MP (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| {target_path.name} upscaled, {big.shape[1]}×{big.shape[0]} | {big.size / 1e6:.1f} MP | {t_big:.2f} | "
        f"{traced_peak / 2**20:.0f} | {rss_1024:.0f} | {rss_big:.0f} |",
        "",
        f"Load average during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) — on a "
        "shared machine the times are upper bounds.",
        "Reproduce: `python benchmarks/bench_colorize.py`.",
    ]
    publish("colorize_cpu", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
