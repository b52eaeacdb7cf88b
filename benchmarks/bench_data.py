"""Images per second of the input pipeline alone: PairDataset (JPEG folder) and PackedPairDataset (one .npz), with
batches prepared in the calling thread, on threads, or ahead on worker processes (``processes=N``).

    python benchmarks/bench_data.py [--data corpus] [--config course] [--batch 64] [--processes 1 2]

Prints a Markdown report and writes benchmarks/results/data_cpu.md.

* Data: the train split of the offline corpus (``scripts/build_corpus.py``), packed once into a temporary ``.npz``
  with ``colorlab.packed.pack_corpus``. Without a corpus, a stand-in in its format is made from ``data/samples``:
  256 x 256 crops (JPEG quality 95, 4:4:4, as the corpus) in Places365's layout, one class per subject. The report
  says which.
* A rate is examples per second of ``dataset.batch(k, epoch)`` in order — exactly the calls ``Trainer.fit`` makes
  (one at a time; worker processes prepare the following ones meanwhile) — ``mode_ratio`` 0.5, ``drop_remainder``.
  "First epoch": a fresh dataset (worker start-up, caches empty). "Later": after ``--warm`` more epochs, the median
  of ``--epochs`` epochs (the caches hold the epoch-independent Lab images; each worker process has its own cache,
  filled by the batches it prepared, so the pool needs a few epochs to warm up).
* Cores busy: CPU seconds of this process and its worker processes (read from ``/proc``) per wall second, over
  the later epochs; img/s per core = later rate / cores busy. "Main" is this process alone: with a pool, the cost of
  copying batches out of shared memory, the part that does not spread over the workers.
* Two more rows, with the most workers: no cache at all (what a corpus much larger than each worker's
  ``cache_bytes // N`` runs at, e.g. a Places365 subset of tens of thousands of photos), and the same for a corpus
  packed at the working size (``colorlab pack --size 128``: other batches, see the stages).
* Stages: per image, one thread, median of 3 passes over 64 photos.

DESIGN.md's target: the course model trains at >= 3,000 img/s at 128² on one H100 whose host has 16 CPU cores, so
the input pipeline must deliver that there. This 2-core machine (shared with other jobs) cannot measure it: the
extrapolation at the end is arithmetic, not a measurement.
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from report import median_time, publish

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 3000.0    # img/s, DESIGN.md (training the course model at 128² on one H100)
HOST_CORES = 16    # the H100 machine's CPU cores


def stand_in(out: Path, samples: Path = ROOT / "data" / "samples") -> Path:
    """A Places365-layout folder of 256 x 256 JPEG crops of ``samples`` (the corpus's size and encoding): each photo's
    shorter side scaled to 256, 320 and 384 px, cut into 256 x 256 tiles; the photo's name stem is its class."""
    from PIL import Image

    photos = sorted(samples.glob("*.jpg"))
    classes = sorted({p.stem.rstrip("_0123456789") for p in photos})
    out.mkdir()
    (out / "categories_places365.txt").write_text("".join(f"/{c[0]}/{c} {k}\n" for k, c in enumerate(classes)))
    lines, counts = [], {}
    for path in photos:
        name = path.stem.rstrip("_0123456789")
        with Image.open(path) as image:
            image = image.convert("RGB")
            for side in (256, 320, 384):
                scale = side / min(image.size)
                scaled = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
                for top in range(0, scaled.height - 255, 128):
                    for left in range(0, scaled.width - 255, 128):
                        counts[name] = counts.get(name, 0) + 1
                        relative = f"{name[0]}/{name}/{counts[name]:08d}.jpg"
                        (out / "data_256" / relative).parent.mkdir(parents=True, exist_ok=True)
                        scaled.crop((left, top, left + 256, top + 256)).save(out / "data_256" / relative, "JPEG",
                                                                             quality=95, subsampling=0)
                        lines.append(f"/{relative} {classes.index(name)}\n")
    (out / "places365_train_standard.txt").write_text("".join(lines))
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and of its live child processes (the data workers), from /proc."""
    total = time.process_time()
    me = str(os.getpid())
    tick = os.sysconf("SC_CLK_TCK")
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == me:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _epoch(dataset, epoch: int) -> tuple[float, float, float]:
    """(examples per second, cores busy in all, cores busy in this process) over one epoch of ``dataset.batch``."""
    start, cpu, main = time.perf_counter(), _cpu_seconds(), time.process_time()
    count = sum(dataset.batch(k, epoch)[1]["label"].shape[0] for k in range(len(dataset)))
    wall = time.perf_counter() - start
    return count / wall, (_cpu_seconds() - cpu) / wall, (time.process_time() - main) / wall


def rates(make, warm: int, epochs: int) -> dict:
    """First-epoch rate of a fresh dataset, then the median rate and cores busy of ``epochs`` epochs after ``warm``
    more."""
    with make() as dataset:
        first = _epoch(dataset, 0)[0]
        for epoch in range(1, warm + 1):
            dataset.batch(0, epoch)
            for k in range(1, len(dataset)):
                dataset.batch(k, epoch)
        later = [_epoch(dataset, e) for e in range(warm + 1, warm + 1 + epochs)]
    return {"first": first, "later": statistics.median(r for r, _, _ in later),
            "cores": statistics.median(c for _, c, _ in later), "main": statistics.median(m for _, _, m in later)}


def stages(folder, corpus, size: int) -> dict:
    """Per-image seconds of each stage (one thread)."""
    import numpy as np

    from colorlab import io
    from colorlab.cie import normalised_lab
    from colorlab.data import augment_reference, resize_and_crop

    paths = [p for p, _ in folder.split("train")[:64]]
    photos = [corpus.photo("train", k) for k in range(len(paths))]
    rng = np.random.default_rng(0)
    resized = np.stack([resize_and_crop(x, size) for x in photos])
    n = len(paths)
    return {
        "decode": median_time(lambda: [io.load_image(p) for p in paths], 3) / n,
        "read": median_time(lambda: [corpus.photo("train", k) for k in range(n)], 3) / n,
        "augment": median_time(lambda: [augment_reference(x, rng) for x in photos], 3) / n,
        "resize": median_time(lambda: [resize_and_crop(x, size) for x in photos], 3) / n,
        "lab": median_time(lambda: [normalised_lab(x) for x in resized], 3) / n,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT / "corpus"), help="a Places365-layout folder (train split)")
    parser.add_argument("--config", default="course", help="model config whose sizes are used (default: course)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    parser.add_argument("--threads", type=int, default=2, help="threads of the threaded variants")
    parser.add_argument("--warm", type=int, default=2, help="epochs between the first and the timed ones")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per variant (after the warm ones)")
    args = parser.parse_args(argv)

    from colorlab.data import PairDataset, Places365Folder
    from colorlab.models import get_config
    from colorlab.packed import PackedCorpus, PackedPairDataset, pack_corpus

    load = os.getloadavg()[0]
    tmp = tempfile.TemporaryDirectory()
    data_dir = Path(args.data)
    if (data_dir / "places365_train_standard.txt").is_file():
        described = f"the train split of `{data_dir.name}`"
    else:
        print(f"no corpus at {data_dir}: measuring on a stand-in made from data/samples", file=sys.stderr)
        data_dir = stand_in(Path(tmp.name) / "stand_in")
        described = ("a **stand-in** for the corpus (none was built here): 256x256 JPEG crops of the 30 photos of "
                     "`data/samples`, quality 95, 4:4:4, as the corpus")
    folder = Places365Folder(data_dir)
    n_train = len(folder.split("train"))
    start = time.perf_counter()
    packed_path = pack_corpus(folder, Path(tmp.name) / "corpus.npz", splits=("train",), threads=2, progress=False)
    pack_s = time.perf_counter() - start
    corpus = PackedCorpus(packed_path)
    config = get_config(args.config)
    size = config.image_size
    common = dict(batch_size=args.batch, seed=0, drop_remainder=True)
    variants = [("PairDataset (folder, JPEG decode)", "1 thread", lambda: PairDataset(folder, "train", config,
                                                                                       **common))]
    variants += [("PairDataset (folder, JPEG decode)", f"processes={n}",
                  lambda n=n: PairDataset(folder, "train", config, processes=n, **common)) for n in args.processes]
    variants += [("PackedPairDataset (one .npz)", "1 thread", lambda: PackedPairDataset(corpus, "train", config,
                                                                                         **common)),
                 ("PackedPairDataset (one .npz)", f"threads={args.threads}",
                  lambda: PackedPairDataset(corpus, "train", config, threads=args.threads, **common))]
    variants += [("PackedPairDataset (one .npz)", f"processes={n}",
                  lambda n=n: PackedPairDataset(corpus, "train", config, processes=n, **common))
                 for n in args.processes]
    # a corpus too large for the cache (each worker caches cache_bytes // N), and one packed at the working size
    small = PackedCorpus(pack_corpus(folder, Path(tmp.name) / "small.npz", splits=("train",), size=size, threads=2,
                                     progress=False))
    most = max(args.processes)
    variants += [("PackedPairDataset, no cache", f"processes={most}",
                  lambda: PackedPairDataset(corpus, "train", config, processes=most, cache_bytes=0, **common)),
                 (f"PackedPairDataset packed at {size}² (`--size {size}`), no cache", f"processes={most}",
                  lambda: PackedPairDataset(small, "train", config, processes=most, cache_bytes=0, **common))]

    rows = []
    for label, mode, make in variants:
        result = rates(make, args.warm, args.epochs)
        rows.append((label, mode, result))
        print(f"  {label}, {mode}: first {result['first']:.0f}, later {result['later']:.0f} img/s on "
              f"{result['cores']:.2f} cores (main {result['main']:.2f})", file=sys.stderr)
    base = rows[0][2]["later"]
    base_per_core = base / rows[0][2]["cores"]
    per_epoch = n_train // args.batch * args.batch
    lines = [f"Input pipeline alone, {described} ({n_train} photos, {corpus.size}x{corpus.size}), `{config.name}` "
             f"config ({size}² target, {config.reference_size}² reference), batch {args.batch}, drop_remainder (an "
             f"epoch = {per_epoch} examples), mode_ratio 0.5. **{os.cpu_count()} CPU cores, shared with other jobs "
             f"running at the same time** (load average {load:.1f} at the start): rates are noisy, and two "
             "workers here compete with everything else for two cores. Short runs: one epoch from a fresh "
             f"dataset, {args.warm} warm-up epochs, then {args.epochs} timed. Packing the split took {pack_s:.1f} s "
             f"({packed_path.stat().st_size / 2**20:.0f} MiB file). Lab conversion: `colorlab.cie.normalised_lab` "
             "(NumPy, no Keras).", "",
             "| pipeline | parallelism | first epoch (img/s) | later epochs (img/s) | cores busy (main) | "
             "img/s per core | later vs folder, 1 thread | per core vs folder, 1 thread | vs target 3,000 img/s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, mode, r in rows:
        per_core = r["later"] / r["cores"]
        lines.append(f"| {label} | {mode} | {r['first']:.0f} | {r['later']:.0f} | {r['cores']:.2f} ({r['main']:.2f}) "
                     f"| {per_core:.0f} | {r['later'] / base:.2f}x | {per_core / base_per_core:.2f}x | "
                     f"{r['later'] / TARGET:.3f} |")
    ms = {k: v * 1e3 for k, v in stages(folder, corpus, size).items()}
    lines += ["", f"Stages, ms per image (one thread): JPEG decode (`load_image`, 256²) {ms['decode']:.2f} · packed "
              f"read (uint8 -> float) {ms['read']:.2f} · `augment_reference` (256²) {ms['augment']:.2f} · "
              f"`resize_and_crop` to {size} {ms['resize']:.2f} · `normalised_lab` at {size}² {ms['lab']:.2f}. Per "
              "example the folder pays, cold, 1.5 decodes + 0.5 augmentations + 2 resizes + 2 Lab conversions "
              f"≈ {1.5 * ms['decode'] + 0.5 * ms['augment'] + 2 * ms['resize'] + 2 * ms['lab']:.1f} ms; with a warm "
              "cache either source pays only the \"same\" half's decode or read, augmentation, resize and Lab ≈ "
              f"{0.5 * (ms['decode'] + ms['augment'] + ms['resize'] + ms['lab']):.1f} ms (folder), "
              f"{0.5 * (ms['read'] + ms['augment'] + ms['resize'] + ms['lab']):.1f} ms (packed). Packed at the "
              f"working size, the resize is a no-op and the augmentation warps {size}² photos instead of 256², at "
              "the price of other batches (the augmentation's resolution changes) and a corpus for one size only.",
              ""]

    lines += [f"### Extrapolation to the H100 host ({HOST_CORES} cores) — arithmetic, not a measurement", ""]
    workers = HOST_CORES - 1   # one core left to the training loop
    for label, mode, r in rows:
        if not mode.startswith("processes="):
            continue
        n = int(mode.split("=")[1])
        worker_rate = r["later"] / max(r["cores"] - r["main"], 1e-9)     # img/s per busy worker core
        copy_cap = r["later"] / max(r["main"], 1e-9)                     # img/s if the main process did only this
        lines.append(f"* {label}, {mode}: {r['later']:.0f} img/s on {r['cores'] - r['main']:.2f} worker cores = "
                     f"{worker_rate:.0f} img/s per worker core; {workers} workers (one core left to training) = "
                     f"{worker_rate * workers:,.0f} img/s if they scale as separate processes should "
                     f"({worker_rate * workers / TARGET:.1f}x the target). The main process spent {r['main']:.2f} "
                     f"cores copying batches out, a ceiling of ≈ {copy_cap:,.0f} img/s for one main process "
                     f"({n} worker(s) here).")
    lines += ["", "Caveats: the host's cores may be faster or slower than these shared ones; on 2 cores a pool of 2 "
              "competes with the main process and with other jobs, so its 2-core rate says little, and the per-core "
              "rate is the figure to scale. Each worker keeps its own cache (`cache_bytes // N`), filled by the "
              "batches it prepares, so a pool reaches the warm rate after a few epochs, and a corpus larger than "
              "that share runs partly at the cold rate. The largest remaining cost is `augment_reference`, which "
              "warps the full 256² photo before it is resized to the working size.", "",
              f"Measured {datetime.date.today().isoformat()} on the {os.cpu_count()}-core development machine "
              "(other jobs running). Reproduce: `python benchmarks/bench_data.py`."]
    tmp.cleanup()
    publish("data_cpu", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
