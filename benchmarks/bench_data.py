"""Images per second of the input pipeline alone: PairDataset (JPEG folder) vs PackedPairDataset (one .npz).

    python benchmarks/bench_data.py [--data corpus] [--batch 64] [--epochs 2] [--configs course laptop]

Prints a Markdown report and writes benchmarks/results/data_cpu.md.

* Data: the train split of the offline corpus (``scripts/build_corpus.py``; 427 photos of 256 x 256), packed once
  into a temporary ``.npz`` with ``colorlab.packed.pack_corpus`` (its time is reported too). With batch 64 and
  ``drop_remainder`` an epoch is 6 batches = 384 examples, ``mode_ratio`` 0.5 (the default).
* A rate is examples per second of ``dataset.batch(k, epoch)`` over whole epochs — exactly the call
  ``Trainer.fit`` makes (one batch at a time, the next one loading while a step trains) — median of ``--epochs``
  epochs after one warm-up epoch (which also triggers the backend's kernel compilation for the Lab conversion).
  "2 batches at once" runs two ``batch`` calls on two threads, as ``model.fit`` does with ``workers=2``
  (``Trainer.fit`` does not); ``threads=2`` is PackedPairDataset's own pool inside one batch (usable by both).
* PackedPairDataset caches the Lab images that do not depend on the epoch (targets, "other" references): the
  first epoch fills the cache ("cold"), later epochs reuse it ("warm"); ``cache_bytes=0`` turns it off.
* The Lab conversion runs on the Keras backend (``KERAS_BACKEND``; on the GPU host: JAX on the GPU). Stage times
  are per image, median of 3 passes over 64 photos, one thread.
DESIGN.md's target: the course model trains at >= 3,000 img/s at 128² on one H100, whose host has 16 CPU cores, so
the input pipeline alone must deliver well above 3,000 img/s there. This machine cannot measure that: the
per-core extrapolation at the end is arithmetic, not a measurement.
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from report import median_time, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 3000.0    # img/s, DESIGN.md (training the course model at 128² on one H100)
HOST_CORES = 16    # the H100 machine's CPU cores


def _epoch_rate(dataset, epoch: int, parallel_batches: int = 1) -> tuple[float, float]:
    """Examples per second of one whole epoch of ``dataset.batch``, and the CPU cores it kept busy (process CPU
    time / wall time: the backend's own threads count too)."""
    start, cpu = time.perf_counter(), time.process_time()
    if parallel_batches == 1:
        count = sum(dataset.batch(k, epoch)[1]["label"].shape[0] for k in range(len(dataset)))
    else:
        with ThreadPoolExecutor(parallel_batches) as pool:
            count = sum(b[1]["label"].shape[0] for b in pool.map(lambda k: dataset.batch(k, epoch),
                                                                 range(len(dataset))))
    wall = time.perf_counter() - start
    return count / wall, (time.process_time() - cpu) / wall


def _rates(make, epochs: int, parallel_batches: int = 1) -> tuple[float, float, float]:
    """(cold, warm, cores): the first epoch of a fresh dataset, then the median rate of ``epochs`` later epochs
    and the median number of cores they kept busy."""
    dataset = make()
    cold = _epoch_rate(dataset, 0, parallel_batches)[0]
    later = [_epoch_rate(dataset, e, parallel_batches) for e in range(1, epochs + 1)]
    return cold, statistics.median(r for r, _ in later), statistics.median(c for _, c in later)


def stages(folder, corpus, size: int) -> dict:
    """Per-image seconds of each stage (one thread)."""
    import numpy as np

    from colorlab import io
    from colorlab.data import _normalised_lab, augment_reference, resize_and_crop

    paths = [p for p, _ in folder.split("train")[:64]]
    images = corpus.images("train")[:64]
    rng = np.random.default_rng(0)
    floats = [io.load_image(p) for p in paths]
    resized = np.stack([resize_and_crop(x, size) for x in images])
    _normalised_lab(resized)
    _normalised_lab(resized[:8])
    n = len(paths)
    return {
        "decode": median_time(lambda: [io.load_image(p) for p in paths], 3) / n,
        "read": median_time(lambda: [np.asarray(x, np.float32) / 255.0 for x in images], 3) / n,
        "augment": median_time(lambda: [augment_reference(x, rng) for x in floats], 3) / n,
        "resize": median_time(lambda: [resize_and_crop(x, size) for x in images], 3) / n,
        "lab": median_time(lambda: _normalised_lab(resized), 3) / n,
        "lab8": median_time(lambda: [_normalised_lab(resized[k:k + 8]) for k in range(0, n, 8)], 3) / n,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "corpus"), help="a Places365-layout folder (train split)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per variant (after the cold one)")
    parser.add_argument("--configs", nargs="+", default=["course", "laptop"])
    args = parser.parse_args(argv)
    data_dir = Path(args.data)
    if not (data_dir / "places365_train_standard.txt").is_file():
        publish("data_cpu", [f"No corpus at {data_dir}: build it with `python scripts/build_corpus.py --out corpus/` "
                             "and run this again. Nothing was measured."])
        return 1

    import keras

    from colorlab.data import PairDataset, Places365Folder
    from colorlab.models import get_config
    from colorlab.packed import PackedCorpus, PackedPairDataset, pack_corpus

    folder = Places365Folder(data_dir)
    n_train = len(folder.split("train"))
    backend = keras.backend.backend()
    tmp = tempfile.TemporaryDirectory()
    start = time.perf_counter()
    packed_path = pack_corpus(folder, Path(tmp.name) / "corpus.npz", splits=("train",), threads=2, progress=False)
    pack_s = time.perf_counter() - start
    corpus = PackedCorpus(packed_path)
    common = dict(batch_size=args.batch, seed=0, drop_remainder=True)

    lines = [f"Input pipeline alone, train split of `{data_dir.name}` ({n_train} photos, "
             f"{corpus.size}x{corpus.size}), batch {args.batch}, drop_remainder (an epoch = "
             f"{n_train // args.batch * args.batch} examples), mode_ratio 0.5; {os.cpu_count()} CPU cores shared "
             f"with other jobs; Keras backend **{backend}** on the CPU; median of {args.epochs} epochs after a "
             f"cold one. Packing the split took {pack_s:.1f} s ({packed_path.stat().st_size / 2**20:.0f} MiB file; "
             "2 threads).", ""]
    summary = {}
    for name in args.configs:
        config = get_config(name)
        size = config.image_size
        print(f"measuring {name} ({size} px) ...", file=sys.stderr)
        variants = [
            ("PairDataset (folder, JPEG decode)", "1 thread",
             lambda: PairDataset(folder, "train", config, **common), 1),
            ("PairDataset (folder, JPEG decode)", "2 batches at once",
             lambda: PairDataset(folder, "train", config, **common), 2),
            ("PackedPairDataset, no cache", "1 thread",
             lambda: PackedPairDataset(corpus, "train", config, cache_bytes=0, **common), 1),
            ("PackedPairDataset, no cache", "threads=2",
             lambda: PackedPairDataset(corpus, "train", config, cache_bytes=0, threads=2, **common), 1),
            ("PackedPairDataset (cache)", "1 thread",
             lambda: PackedPairDataset(corpus, "train", config, **common), 1),
            ("PackedPairDataset (cache)", "threads=2",
             lambda: PackedPairDataset(corpus, "train", config, threads=2, **common), 1),
        ]
        # compile the backend's Lab kernels for this size once, outside every timing
        PairDataset(folder, "train", config, **common).batch(0)
        PackedPairDataset(corpus, "train", config, **common).batch(0)
        rows = []
        for label, mode, make, parallel in variants:
            cold, warm, cores = _rates(make, args.epochs, parallel)
            rows.append((label, mode, cold, warm, cores))
            print(f"  {label}, {mode}: cold {cold:.1f}, warm {warm:.1f} img/s, {cores:.2f} cores", file=sys.stderr)
        base = rows[0][3]
        lines += [f"### `{name}` config: {size}² target, {config.reference_size}² reference", "",
                  "| pipeline | parallelism | first epoch (img/s) | later epochs (img/s) | cores busy "
                  "| vs folder, 1 thread | vs target 3,000 img/s |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for label, mode, cold, warm, cores in rows:
            lines.append(f"| {label} | {mode} | {cold:.0f} | {warm:.0f} | {cores:.2f} | {warm / base:.2f}x | "
                         f"{warm / TARGET:.3f} |")
        st = stages(folder, corpus, size)
        ms = {k: v * 1e3 for k, v in st.items()}
        folder_model = ms["decode"] * 1.5 + ms["augment"] * 0.5 + 2 * ms["resize"] + 2 * ms["lab"]
        warm_model = 0.5 * (ms["augment"] + ms["resize"] + ms["lab8"])
        lines += ["", f"Stages, ms per image at {size} px (one thread): JPEG decode with `load_image` "
                  f"{ms['decode']:.2f} · packed read (uint8 -> float) {ms['read']:.2f} · `augment_reference` "
                  f"(256²) {ms['augment']:.2f} · `resize_and_crop` to {size} {ms['resize']:.2f} · Lab conversion "
                  f"{ms['lab']:.2f} in batches of 64, {ms['lab8']:.2f} in chunks of 8 (the packed dataset's). "
                  f"Per example, the folder pays 1.5 decodes + 0.5 augmentations + 2 resizes + 2 Lab conversions "
                  f"≈ {folder_model:.1f} ms; the packed dataset with a warm cache pays only the \"same\" half's "
                  f"augmentation, resize and Lab ≈ {warm_model:.1f} ms (plus copying the cached ones).", ""]
        summary[name] = {"rows": rows, "ms": ms, "warm_model": warm_model}

    lines += ["### Extrapolation to the H100 host (16 cores) — arithmetic, not a measurement", ""]
    for name, s in summary.items():
        rows, ms = s["rows"], s["ms"]
        per_core = rows[4][3] / max(rows[4][4], 1.0)   # img/s per busy core (1 Python thread + backend threads)
        efficiency = rows[5][3] / (2 * per_core)
        cpu_only = 1e3 / max(s["warm_model"] - 0.5 * ms["lab8"], 1e-9)
        folder_one = rows[0][3]
        lines.append(
            f"* `{name}`: packed + warm cache, 1 thread: {rows[4][3]:.0f} img/s on {rows[4][4]:.2f} busy cores = "
            f"{per_core:.0f} img/s per core. x {HOST_CORES} cores = {per_core * HOST_CORES:,.0f} img/s if it scaled "
            f"perfectly ({per_core * HOST_CORES / TARGET:.1f}x the target); "
            f"{per_core * HOST_CORES * min(efficiency, 1):,.0f} img/s at the 2-thread efficiency measured here "
            f"({efficiency:.0%} of twice the per-core rate, on shared cores). If the Lab conversion runs on the GPU "
            f"(JAX there), the CPU part alone is ≈ {cpu_only:.0f} img/s per core from the stage times (x {HOST_CORES}"
            f" = {cpu_only * HOST_CORES:,.0f}). The folder path under `Trainer.fit` prepares batches on one Python "
            f"thread whatever the core count: ≈ {folder_one:.0f} img/s ({folder_one / TARGET:.3f}x the target).")
    lines += ["", "Caveats: the host's cores may be faster than these shared ones; part of each example holds "
              "Python's GIL (Pillow's image <-> array copies; its warps and resizes release it), so threads do "
              "not scale perfectly and 16 threads will scale worse than 2; the first epoch runs at the "
              "\"first epoch\" rate until the cache is full, and a corpus larger than `cache_bytes` (default "
              "4 GiB = ~21,000 photos at 128 px) runs partly at the no-cache rate. The largest remaining cost is "
              "`augment_reference`, which warps the full 256² photo before it is resized to the working size.", "",
              f"Measured {datetime.date.today().isoformat()} on the 2-core development machine "
              f"(`nice -n 5`, other jobs running). Reproduce: `KERAS_BACKEND={backend} python "
              "benchmarks/bench_data.py`."]
    tmp.cleanup()
    publish("data_cpu", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
