"""Dev-set evaluation: target/reference pairs from a Places365-layout folder, every method, every metric.

What ``colorlab eval`` runs, and what chapter 09 explains. Three steps:

1. :func:`dev_pairs` builds :class:`DevPair` s from the **val split** of a Places365-layout folder (for the
   offline corpus, ``corpus/val_256``: the dev set) under one of two protocols (both ours: the paper, Lu et al.,
   ACM MM 2020, evaluates on its own ImageNet-based pairs, which are not released):

   * ``"view"`` ("same scene, other view"). With ``W`` the photo's width and ``w = round(0.6 W)``:
     target = columns ``[0, w)`` (the left 60 %), reference = columns ``[W - w, W)`` (the right 60 %). The two
     crops share the columns ``[W - w, w)``, i.e. ``2w - W`` columns (20 % of the photo, 52 of 256 px); the
     ground truth is the target crop's own colours. The reference shows the same scene, partly the same pixels
     and partly new content: a method that transfers colours by content should do well.
   * ``"other"`` ("other photo"): the reference is a *different* val photo of the same class. Among the class-mates
     of target ``i`` (in list order) one is drawn with ``numpy.random.default_rng((seed, i))``; a target whose
     class has no other val photo is **skipped** (counted in :attr:`DevPairList.skipped`). Ours, kept simple:
     the train split is never used, so a dev result never sees a training photo.

   ``limit`` keeps ``limit`` targets drawn with ``default_rng(seed)`` (then put back in list order). Everything is
   deterministic for a given folder and seed.

2. :func:`evaluate_methods` runs every method on every pair and scores it with :mod:`colorlab.metrics`:
   PSNR, SSIM and mean CIEDE2000 against the ground truth, colourfulness of the output, HIS (histogram
   intersection with the **reference**'s ab histogram, the paper's colour-transfer measure) and the L* error
   (mean |dL*| to the ground truth; a colorization should keep the input's lightness). A method is
   ``method(target_gray, reference_rgb) -> rgb`` (the :data:`colorlab.baselines.BASELINES` signature);
   :func:`model_method` wraps :func:`colorlab.inference.colorize`.

3. :func:`format_table` (Markdown) and :func:`contact_sheet` (one PNG grid) show the results, and
   :func:`paired_difference` says whether one method's lead over another is larger than the pair-to-pair noise.

The target a method receives (ours): ``target_gray`` ``(H, W)`` in [0, 1] is the sRGB gray value whose CIE L* is
the ground truth's L* (``g`` with ``L*(g, g, g) = L*(photo)``), so "gray" is exactly the photo's lightness and
a method that keeps L* scores an L* error of ~0 (up to float rounding). Importing this module imports neither
Keras nor TensorFlow (HIS and the model method import Keras when first used).
"""

from __future__ import annotations

import csv
import io as _io
import math
import pathlib
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from colorlab.errors import ConfigError
from colorlab.files import write_text

__all__ = ["DevPair", "DevPairList", "PROTOCOLS", "VIEW_FRACTION", "METRICS", "METRIC_LABELS", "METRIC_DIRECTIONS",
           "gray_of", "view_crops", "dev_pairs", "model_method", "baseline_methods", "evaluate_methods", "summarize",
           "paired_difference", "format_paired", "format_table", "contact_sheet", "write_rows_csv"]

#: The two protocols, see the module docstring.
PROTOCOLS = ("view", "other")
#: Width fraction of each crop in the ``"view"`` protocol (two crops of 60 % overlap by 20 %).
VIEW_FRACTION = 0.6
#: Metric keys of a row, in table order.
METRICS = ("psnr", "ssim", "ciede2000", "colourfulness", "his", "l_error")
#: Column headers (with the direction that is better).
METRIC_LABELS = {"psnr": "PSNR (dB) ↑", "ssim": "SSIM ↑", "ciede2000": "ΔE00 ↓", "colourfulness": "colourful.",
                 "his": "HIS ↑", "l_error": "L* err ↓"}

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DevPair:
    """One dev example.

    Attributes:
        pair_id: ``"<protocol>:<target file stem>"`` (``"other:<target stem><-<reference stem>"``), unique.
        protocol: ``"view"`` or ``"other"``.
        target_rgb: the ground truth, float32 ``(H, W, 3)`` in [0, 1] (the target's own colours).
        target_gray: float32 ``(H, W)`` in [0, 1]: the gray with the ground truth's L* (what a method colours).
        reference_rgb: float32 ``(H', W', 3)`` in [0, 1].
        label: the class index of the target.
    """

    pair_id: str
    protocol: str
    target_rgb: np.ndarray
    target_gray: np.ndarray
    reference_rgb: np.ndarray
    label: int = -1


class DevPairList(list):
    """A ``list`` of :class:`DevPair` with ``skipped``: ids of targets that got no pair (``"other"`` protocol)."""

    def __init__(self, pairs=(), skipped=()):
        super().__init__(pairs)
        self.skipped: list[str] = list(skipped)


# ------------------------------------------------------------------------------------------------- pairs

def gray_of(rgb) -> np.ndarray:
    """The gray picture of a colour photo: sRGB gray ``(H, W)`` float32 whose L* is the photo's L*.

    ``L = L*(rgb)``, then ``g = sRGB value of Lab (L, 0, 0)`` (R = G = B for a = b = 0 under D65).
    """
    from colorlab.cie import lab_to_rgb_np, rgb_to_lab_np

    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ConfigError(f"gray_of: expected an RGB image (H, W, 3), got shape {x.shape}")
    lab = rgb_to_lab_np(x)
    lab[..., 1:] = 0.0
    return lab_to_rgb_np(lab).mean(axis=-1).astype(np.float32)


def view_crops(rgb, fraction: float = VIEW_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """The ``"view"`` protocol's two crops of one photo ``(H, W, 3)``.

    With ``w = round(fraction * W)``: target = ``rgb[:, :w]``, reference = ``rgb[:, W - w:]``; they share the
    ``2w - W`` columns ``[W - w, w)``.

    Returns:
        ``(target, reference)``, each ``(H, w, 3)``.

    Raises:
        ConfigError: ``fraction`` not in (0.5, 1), or a photo too narrow for two different crops.
    """
    if not 0.5 < fraction < 1.0:
        raise ConfigError(f"view_crops: fraction must lie in (0.5, 1) so the crops overlap, got {fraction!r}")
    x = np.asarray(rgb)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ConfigError(f"view_crops: expected an RGB image (H, W, 3), got shape {x.shape}")
    width = x.shape[1]
    w = int(round(fraction * width))
    if w >= width or w < 1:
        raise ConfigError(f"view_crops: a photo {width} px wide is too narrow for two {fraction:.0%} crops")
    return x[:, :w], x[:, width - w:]


def _pick(count: int, limit, seed) -> list[int]:
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, size=limit, replace=False))


def dev_pairs(root, protocol: str, *, split: str = "val", limit: int | None = None, seed: int = 0) -> DevPairList:
    """Evaluation pairs from the val (dev) or test split of a Places365-layout folder (see the module docstring for
    the protocols).

    Args:
        root: a Places365-layout folder (:class:`colorlab.data.Places365Folder`), e.g. the offline corpus.
        protocol: ``"view"`` or ``"other"``.
        split: ``"val"`` (tune on it) or ``"test"`` (report on it once); an ``"other"`` pair's reference comes
            from the same split.
        limit: at most this many targets (drawn with ``seed``, kept in list order); ``None``: all.
        seed: seed of the ``limit`` draw and of the class-mate choice (``"other"``).

    Returns:
        A :class:`DevPairList` (a list of :class:`DevPair`, in the split's list order) with ``.skipped``.

    Raises:
        ConfigError: unknown protocol or split, or a bad ``limit``.
        DatasetError / ImageLoadError: the folder, its lists or an image cannot be read.
    """
    from colorlab.data import Places365Folder
    from colorlab.io import load_image

    if protocol not in PROTOCOLS:
        raise ConfigError(f"dev_pairs: protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ConfigError(f"dev_pairs: limit must be a positive integer or None, got {limit!r}")
    if split not in ("val", "test"):
        raise ConfigError(f"dev_pairs: split must be 'val' or 'test', got {split!r}")
    items = Places365Folder(root).split(split)
    chosen = _pick(len(items), limit, seed)
    pairs, skipped = [], []
    for i in chosen:
        path, label = items[i]
        if protocol == "view":
            photo = load_image(path)
            target, reference = view_crops(photo)
            pair_id = f"view:{path.stem}"
        else:
            mates = [j for j, (_, other) in enumerate(items) if other == label and j != i]
            if not mates:
                skipped.append(f"other:{path.stem}")
                continue
            j = mates[int(np.random.default_rng((seed, i)).integers(len(mates)))]
            target, reference = load_image(path), load_image(items[j][0])
            pair_id = f"other:{path.stem}<-{items[j][0].stem}"
        target = np.ascontiguousarray(target, dtype=np.float32)
        pairs.append(DevPair(pair_id, protocol, target, gray_of(target),
                             np.ascontiguousarray(reference, dtype=np.float32), int(label)))
    return DevPairList(pairs, skipped)


# ----------------------------------------------------------------------------------------------- methods

def baseline_methods() -> dict[str, Method]:
    """The non-learned baselines (:data:`colorlab.baselines.BASELINES`: gray, global_mean_ab, welsh)."""
    from colorlab.baselines import BASELINES

    return dict(BASELINES)


def model_method(weights, config=None, *, adapt: int | None = None, seed: int = 0,
                 adapt_options: dict | None = None) -> Method:
    """Gray2ColorNet as a method: ``method(target_gray, reference_rgb) -> rgb``, the pipeline of
    :func:`colorlab.colorize` (:meth:`colorlab.inference.Colorizer.colour`).

    Args:
        weights: a ``.weights.h5`` path (config in its sibling ``.json``), a built Gray2ColorNet, or ``None`` for
            the demo weights. The model is loaded once, here (so a missing file fails before any work).
        config: for a weights file without its ``.json``.
        adapt, seed, adapt_options: reference-adaptive colorization (:class:`colorlab.inference.Colorizer`): a
            copy of the model adapts to each pair's reference for ``adapt`` steps (0: off; ``None``: the weights'
            recommendation, as :func:`colorlab.colorize`); one adapter serves every pair, so its step is compiled
            once.

    Returns:
        A callable giving float32 ``(H, W, 3)`` in [0, 1] (the 8-bit output of ``colorize`` divided by 255).
    """
    from colorlab.inference import Colorizer

    colorizer = Colorizer(weights, config, adapt=adapt, seed=seed, adapt_options=adapt_options)

    def gray2colornet(target_gray, reference_rgb):
        image = colorizer.colour(np.asarray(target_gray, dtype=np.float32),
                                 np.asarray(reference_rgb, dtype=np.float32))
        return image.astype(np.float32) / 255.0

    return gray2colornet


# ---------------------------------------------------------------------------------------------- evaluate

def _score(pred, pair: DevPair) -> dict:
    from colorlab.metrics import (colourfulness, histogram_intersection, l_preservation, mean_ciede2000, psnr,
                                  ssim)

    gt = pair.target_rgb
    return {"psnr": psnr(pred, gt), "ssim": ssim(pred, gt), "ciede2000": mean_ciede2000(pred, gt),
            "colourfulness": colourfulness(pred), "his": histogram_intersection(pred, pair.reference_rgb),
            "l_error": l_preservation(pred, gt), "colourfulness_target": colourfulness(gt)}


def evaluate_methods(pairs: Sequence[DevPair], methods: Mapping[str, Method], *, progress: bool = True,
                     outputs: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Runs every method on every pair and scores the outputs.

    Args:
        pairs: :class:`DevPair` s (may mix protocols).
        methods: ``{name: method(target_gray (H, W), reference_rgb (H', W', 3)) -> rgb (H, W, 3) in [0, 1]}``.
        progress: show a tqdm progress bar (stderr).
        outputs: optional dict, filled with ``{name: [output (H, W, 3) float32 per pair]}`` (for
            :func:`contact_sheet`).

    Returns:
        ``(rows, summary)``. ``rows``: one dict per (pair, method), keys ``pair``, ``protocol``, ``method``, the
        :data:`METRICS` and ``colourfulness_target`` (the ground truth's, for scale). ``summary``: see
        :func:`summarize`.

    Raises:
        ConfigError: no pairs or no methods, or a method whose output is not ``(H, W, 3)`` in [0, 1].
    """
    if not pairs:
        raise ConfigError("evaluate_methods: no pairs to evaluate (is the val split empty, or were all skipped?)")
    if not methods:
        raise ConfigError("evaluate_methods: no methods given")
    rows = []
    work = [(pair, name) for pair in pairs for name in methods]
    if progress:
        from tqdm.auto import tqdm

        work = tqdm(work, desc="eval", unit="output")
    if outputs is not None:
        for name in methods:
            outputs[name] = []
    for pair, name in work:
        pred = np.asarray(methods[name](pair.target_gray, pair.reference_rgb), dtype=np.float32)
        if pred.shape != pair.target_rgb.shape:
            raise ConfigError(f"method {name!r} returned shape {pred.shape} for pair {pair.pair_id!r}, expected "
                              f"{pair.target_rgb.shape} (the target's size, RGB)")
        if not np.all(np.isfinite(pred)) or pred.min() < -1e-6 or pred.max() > 1 + 1e-6:
            raise ConfigError(f"method {name!r} returned values outside [0, 1] (or NaN) for pair {pair.pair_id!r}")
        pred = np.clip(pred, 0.0, 1.0)
        if outputs is not None:
            outputs[name].append(pred)
        rows.append({"pair": pair.pair_id, "protocol": pair.protocol, "method": name, **_score(pred, pair)})
    return rows, summarize(rows)


def summarize(rows: Sequence[dict]) -> list[dict]:
    """Means per (protocol, method), in first-seen order.

    Returns:
        One dict per (protocol, method): ``protocol``, ``method``, ``n`` (pairs), the mean of each metric in
        :data:`METRICS` and ``colourfulness_target``. PSNR is averaged over the finite values (an output identical
        to the ground truth has PSNR = inf; ``n_inf_psnr`` counts them).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["protocol"], row["method"]), []).append(row)
    summary = []
    for (protocol, method), members in groups.items():
        entry = {"protocol": protocol, "method": method, "n": len(members)}
        for key in METRICS + ("colourfulness_target",):
            values = np.array([r[key] for r in members], dtype=np.float64)
            finite = values[np.isfinite(values)]
            entry[key] = float(finite.mean()) if finite.size else math.inf
        entry["n_inf_psnr"] = int(np.sum(~np.isfinite([r["psnr"] for r in members])))
        summary.append(entry)
    return summary


def format_table(summary: Sequence[dict], digits: int = 3) -> str:
    """Markdown: one table per protocol, a row per method, a column per metric (plus ``n``).

    Below each table, the ground truth's mean colourfulness (for scale: a method near it is as colourful as the
    photos). Numbers are rounded to ``digits`` decimals (PSNR and colourfulness to 2).
    """
    if not summary:
        raise ConfigError("format_table: the summary is empty")
    lines = []
    protocols = list(dict.fromkeys(entry["protocol"] for entry in summary))
    titles = {"view": "same scene, other view", "other": "other photo of the same class"}
    for protocol in protocols:
        entries = [e for e in summary if e["protocol"] == protocol]
        if lines:
            lines.append("")
        lines.append(f"### protocol `{protocol}` ({titles.get(protocol, protocol)}), {entries[0]['n']} pairs")
        lines.append("")
        lines.append("| method | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |")
        lines.append("|---|" + "---:|" * len(METRICS))
        for e in entries:
            cells = [f"{e[m]:.2f}" if m in ("psnr", "colourfulness") else f"{e[m]:.{digits}f}" for m in METRICS]
            lines.append(f"| {e['method']} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"ground truth colourfulness: {entries[0]['colourfulness_target']:.2f}")
    return "\n".join(lines) + "\n"


#: Which way is better for each metric that has a direction (colourfulness has none: closer to the truth's is better).
METRIC_DIRECTIONS = {"psnr": 1, "ssim": 1, "ciede2000": -1, "his": 1, "l_error": -1}


def paired_difference(rows: Sequence[dict], method: str, baseline: str, metric: str, *, protocol: str,
                      resamples: int = 10_000, seed: int = 0) -> dict:
    """How much ``method`` beats ``baseline`` on one metric, pair by pair, with a bootstrap interval.

    Both methods coloured the same pairs, so their scores are compared per pair: ``d = method - baseline``. The
    mean of ``d`` is the difference of the two table means, and resampling the pairs with replacement
    (``resamples`` times) gives a 95 % percentile interval for it. An interval that contains 0 means the dev
    set cannot tell the two apart on this metric (the pairs disagree too much for its size).

    Args:
        rows: what :func:`evaluate_methods` returns (or ``rows.csv`` read back, values as numbers).
        method, baseline: method names in ``rows``.
        metric: a key of :data:`METRIC_DIRECTIONS`.
        protocol: which protocol's pairs.
        resamples, seed: of the bootstrap (``numpy.random.default_rng(seed)``).

    Returns:
        ``{"n", "mean", "low", "high", "better"}``: pairs, mean of ``d``, the interval, and how many pairs
        ``method`` scores better on (by the metric's direction). PSNR pairs where either is infinite are left out.

    Raises:
        ConfigError: an unknown metric, or a method with no row for some pair of the protocol.
    """
    if metric not in METRIC_DIRECTIONS:
        raise ConfigError(f"paired_difference: metric must be one of {sorted(METRIC_DIRECTIONS)}, got {metric!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ConfigError(f"paired_difference: resamples must be a positive integer, got {resamples!r}")
    scores: dict[str, dict[str, float]] = {method: {}, baseline: {}}
    for row in rows:
        if row["protocol"] == protocol and row["method"] in scores:
            scores[row["method"]][row["pair"]] = float(row[metric])
    pairs = list(scores[method])
    if not pairs or set(pairs) != set(scores[baseline]):
        raise ConfigError(f"paired_difference: {method!r} and {baseline!r} must both have rows for the same "
                          f"{protocol!r} pairs (found {len(scores[method])} and {len(scores[baseline])})")
    d = np.array([scores[method][p] - scores[baseline][p] for p in pairs], dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ConfigError(f"paired_difference: no finite {metric} differences for protocol {protocol!r}")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"n": int(d.size), "mean": float(d.mean()), "low": float(low), "high": float(high),
            "better": int(np.sum(d * METRIC_DIRECTIONS[metric] > 0))}


def format_paired(rows: Sequence[dict], method: str, baseline: str, protocol: str,
                  metrics: Sequence[str] = ("psnr", "ciede2000")) -> str:
    """One Markdown line: ``method`` minus ``baseline`` per metric, with the interval and the pairs it wins."""
    parts = []
    for metric in metrics:
        r = paired_difference(rows, method, baseline, metric, protocol=protocol)
        parts.append(f"{METRIC_LABELS[metric].split()[0]} {r['mean']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}], "
                     f"better on {r['better']}/{r['n']} pairs")
    return f"{method} − {baseline} (`{protocol}`, 95 % bootstrap interval over pairs): " + "; ".join(parts)


# ------------------------------------------------------------------------------------------------ output

def _fit(image: np.ndarray, cell: int) -> np.ndarray:
    """``image`` (H, W[, 3]) float in [0, 1] scaled to fit a ``cell x cell`` white square (aspect kept), uint8."""
    from PIL import Image

    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    pil = Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8), mode="RGB")
    scale = cell / max(pil.size)
    size = (max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale)))
    pil = pil.resize(size, Image.Resampling.BICUBIC)
    out = np.full((cell, cell, 3), 255, dtype=np.uint8)
    top, left = (cell - size[1]) // 2, (cell - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = np.asarray(pil)
    return out


def contact_sheet(pairs: Sequence[DevPair], outputs: Mapping[str, Sequence[np.ndarray]], path, max_rows: int = 8,
                  *, cell: int = 128, overwrite: bool = False) -> pathlib.Path:
    """One PNG grid: a row per pair (the first ``max_rows``), columns gray | reference | each method | truth.

    Args:
        pairs: the pairs, in the order of the outputs.
        outputs: ``{method: [output (H, W, 3) per pair]}`` (what :func:`evaluate_methods` fills).
        path: the PNG to write (atomically, :func:`colorlab.io.save_image`).
        max_rows: at most this many rows.
        cell: each picture is fitted into a ``cell x cell`` square (aspect ratio kept, white margins).
        overwrite: replace an existing file.

    Returns:
        ``pathlib.Path(path)``; the image is ``(20 + rows * cell) x (columns * cell)`` px.
    """
    from PIL import Image, ImageDraw

    from colorlab.io import save_image

    if not pairs:
        raise ConfigError("contact_sheet: no pairs")
    if max_rows < 1 or cell < 16:
        raise ConfigError(f"contact_sheet: max_rows must be >= 1 and cell >= 16, got {max_rows}, {cell}")
    for name, images in outputs.items():
        if len(images) < min(len(pairs), max_rows):
            raise ConfigError(f"contact_sheet: method {name!r} has {len(images)} outputs for {len(pairs)} pairs")
    rows = list(pairs)[:max_rows]
    titles = ["gray input", "reference", *outputs, "ground truth"]
    header = 20
    sheet = np.full((header + len(rows) * cell, len(titles) * cell, 3), 255, dtype=np.uint8)
    for r, pair in enumerate(rows):
        cells = [pair.target_gray, pair.reference_rgb, *(outputs[m][r] for m in outputs), pair.target_rgb]
        for c, image in enumerate(cells):
            sheet[header + r * cell: header + (r + 1) * cell, c * cell:(c + 1) * cell] = _fit(image, cell)
    pil = Image.fromarray(sheet, mode="RGB")
    draw = ImageDraw.Draw(pil)
    for c, title in enumerate(titles):
        draw.text((c * cell + 4, 4), str(title)[:cell // 6], fill=(0, 0, 0))
    return save_image(pil, path, overwrite=overwrite)


def write_rows_csv(rows: Sequence[dict], path, *, overwrite: bool = False) -> pathlib.Path:
    """Writes the per-image rows as CSV (header: pair, protocol, method, metrics...), atomically
    (:func:`colorlab.files.write_text`)."""
    columns = ["pair", "protocol", "method", *METRICS, "colourfulness_target"]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return write_text(path, buffer.getvalue(), overwrite=overwrite)
