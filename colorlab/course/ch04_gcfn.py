"""Chapter 04 (GCFN gating): the gate's statistics, the best possible gate, blending, and the blend explorer.

The notebook ``notebooks/04_gcfn.ipynb`` keeps its cells short by calling these, with the view pairs, model
inputs, softmax and colour helpers of :mod:`colorlab.course.ch03_correspondence`. Two groups:

* **Array helpers** (NumPy, unit-tested): a centred crop, 2 x 2 cell averages, the statistics the stats gate
  reads, the best per-position gate, the gated blend of two colour sources, binned means.
* **Figures and a widget** (matplotlib / ipywidgets, imported here, not by ``import colorlab``): maps over the
  matching grid with colour bars, overlaid histograms, binned-mean curves, PSNR against a fixed gate, and a
  fixed-gate blending explorer whose callback can be driven headlessly by setting ``slider.value``.

Conventions as in chapter 03: correlation and attention are ``(Lt, Lr)`` for one pair, positions row-major on the
matching grids (one cell = 2 x 2 pixels), ab in **Lab units**.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from colorlab.course.ch03_correspondence import colorize, normalized_entropy, psnr
from colorlab.course.figures import panel_size, pixel_axes
from colorlab.errors import ConfigError

__all__ = [
    "center_crop", "cell_average", "gate_statistics", "optimal_gate", "blend_ab", "binned_means",
    "plot_cell_maps", "plot_histograms", "plot_binned_means", "plot_blend_curves", "blend_explorer",
]


# ---------------------------------------------------------------------------------------------- array helpers

def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` window of an ``(H, W, C)`` image (H, W >= size)."""
    rgb = np.asarray(rgb)
    height, width = rgb.shape[:2]
    if height < size or width < size:
        raise ConfigError(f"center_crop: image {height} x {width} is smaller than {size} x {size}")
    top, left = (height - size) // 2, (width - size) // 2
    return rgb[top:top + size, left:left + size].copy()


def cell_average(values: np.ndarray, cell: int = 2) -> np.ndarray:
    """Averages ``(H, W, C)`` over ``cell x cell`` blocks -> ``(H/cell, W/cell, C)`` (H, W multiples of cell).

    With ``cell = 2`` this puts per-pixel values (e.g. the target's true ab) on the matching grid, the way the
    model's ``reference_ab_small`` is made (2 x 2 average pooling).
    """
    values = np.asarray(values, dtype=np.float64)
    height, width = values.shape[:2]
    if height % cell or width % cell:
        raise ConfigError(f"cell_average: {height} x {width} is not a multiple of {cell}")
    return values.reshape(height // cell, cell, width // cell, cell, -1).mean(axis=(1, 3))


def gate_statistics(correlation: np.ndarray, attention: np.ndarray, top_k: int = 8) -> dict:
    """The numbers our stats gate reads for each target position, plus the best match's attention weight.

    NumPy twin of :meth:`colorlab.models.StatsGate.statistics` (without a padding mask), returned by name.

    Args:
        correlation: ``(Lt, Lr)`` cosines. attention: ``(Lt, Lr)``, rows summing to 1. top_k: ``k``.

    Returns:
        dict of float arrays ``(Lt,)`` — ``"top1_cosine"`` (the best match's cosine), ``"mean_cosine"``,
        ``"entropy"`` (normalised, 0..1), ``"max_attention"`` (the share the best match gets; not a gate input,
        shown because it is the easiest to read) — and ``"top_k"`` ``(Lt, k)``, largest first (-1 where the
        reference has fewer than ``k`` positions).
    """
    correlation = np.asarray(correlation, dtype=np.float64)
    lr = correlation.shape[-1]
    padded = np.concatenate([correlation, -np.ones(correlation.shape[:-1] + (max(0, top_k - lr),))], axis=-1)
    top = -np.sort(-padded, axis=-1)[..., :top_k]
    return {"top1_cosine": top[..., 0], "mean_cosine": correlation.mean(axis=-1),
            "entropy": normalized_entropy(attention), "max_attention": np.asarray(attention).max(axis=-1),
            "top_k": top}


def blend_ab(warped_ab: np.ndarray, global_ab: np.ndarray, omega) -> np.ndarray:
    """Gated fusion on colours: ``warped * omega + global * (1 - omega)`` (broadcasting).

    Args:
        warped_ab: ``(..., 2)``; global_ab: broadcastable, e.g. ``(2,)`` (one colour for every position);
        omega: a number or an array broadcastable to ``(..., 1)`` with values in [0, 1].
    """
    omega = np.asarray(omega, dtype=np.float32)
    if np.any(omega < 0) or np.any(omega > 1):
        raise ConfigError("blend_ab: omega must lie in [0, 1]")
    return np.asarray(warped_ab, np.float32) * omega + np.asarray(global_ab, np.float32) * (1.0 - omega)


def optimal_gate(warped_ab: np.ndarray, global_ab: np.ndarray, true_ab: np.ndarray) -> np.ndarray:
    """The per-position gate that would bring the blend closest to the truth (least squares), in [0, 1].

    Minimising ``|omega w + (1 - omega) g - t|^2`` over omega gives ``omega* = (t - g).(w - g) / |w - g|^2``,
    clipped to [0, 1] (0.5 where ``w = g``, when any omega is as good). Not something a model can compute — it
    needs the true colours — but it is what a perfectly trained gate would output if it were judged by this
    error alone.

    Args:
        warped_ab: ``(..., 2)``; global_ab: broadcastable to it; true_ab: ``(..., 2)``.

    Returns:
        float64 ``(...)`` in [0, 1].
    """
    w = np.asarray(warped_ab, np.float64)
    g = np.broadcast_to(np.asarray(global_ab, np.float64), w.shape)
    t = np.asarray(true_ab, np.float64)
    direction = w - g
    norm2 = (direction ** 2).sum(axis=-1)
    omega = np.where(norm2 > 1e-12, ((t - g) * direction).sum(axis=-1) / np.maximum(norm2, 1e-12), 0.5)
    return np.clip(omega, 0.0, 1.0)


def binned_means(x: np.ndarray, y: np.ndarray, bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``y`` in equal-count bins of ``x`` (quantile bins): how ``y`` changes with ``x`` on average.

    Returns:
        ``(x_centres, y_means)``, each ``(bins,)``: the mean ``x`` and the mean ``y`` of each bin.
    """
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape or x.size < bins:
        raise ConfigError(f"binned_means: need x and y of the same size >= bins, got {x.size}, {y.size}")
    order = np.argsort(x, kind="stable")
    groups = np.array_split(order, bins)
    return np.array([x[g].mean() for g in groups]), np.array([y[g].mean() for g in groups])


# ---------------------------------------------------------------------------------------------------- figures

def plot_cell_maps(maps: Sequence[np.ndarray], titles: Sequence[str], cmap: str = "viridis", vmin=None, vmax=None,
                   colorbar_label: str = "", suptitle: str | None = None, size: float = 3.0, contour=None):
    """Maps side by side, each with a colour bar (e.g. statistics of the correlation over the target grid).

    Args:
        maps: 2-D arrays. titles: one per map. cmap, vmin, vmax: shared colour scale (per map if None).
        colorbar_label: the colour bar's label. contour: an optional bool map (same shape as each map) outlined
            in white, e.g. the overlap of a view pair.

    Returns:
        The Figure.
    """
    if len(maps) != len(titles):
        raise ConfigError(f"plot_cell_maps: got {len(maps)} maps but {len(titles)} titles")
    size = panel_size(size, len(maps), extra=0.6)
    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps) + 0.6, size + 0.4), squeeze=False)
    for ax, image, title in zip(axes[0], maps, titles):
        shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if contour is not None:
            ax.contour(np.asarray(contour, dtype=float), levels=[0.5], colors="white", linewidths=1.2)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label)
        ax.set_title(title)
        ax.set_xlabel("column (matching cells)")
        ax.set_ylabel("row (matching cells)")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_histograms(groups: dict, title: str, xlabel: str, bins: int = 30, value_range=None, ax=None):
    """Overlaid, normalised histograms of several groups of values (e.g. a statistic inside / outside an overlap).

    Args:
        groups: ``{label: values}``. title, xlabel: for the Axes. bins, value_range: as in ``numpy.histogram``.
        ax: Axes to draw on (a new figure if None).

    Returns:
        The Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    if value_range is None:
        every = np.concatenate([np.ravel(v) for v in groups.values()])
        value_range = (float(every.min()), float(every.max()) + 1e-9)
    for label, values in groups.items():
        ax.hist(np.ravel(values), bins=bins, range=value_range, density=True, histtype="stepfilled", alpha=0.45,
                label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def plot_binned_means(curves: dict, title: str, xlabel: str, ylabel: str, ax=None):
    """Line plot of ``{label: (x_centres, y_means)}`` (from :func:`binned_means`). Returns the Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_blend_curves(omegas: Sequence[float], psnrs: dict, best: dict | None = None, ax=None):
    """PSNR of the blended colours against a fixed gate value, one curve per pair.

    Args:
        omegas: the fixed gate values. psnrs: ``{pair label: PSNRs (len(omegas),)}``.
        best: ``{pair label: PSNR}`` of the per-position best gate, drawn as a dashed line in the curve's colour.
        ax: Axes to draw on (a new figure if None).

    Returns:
        The Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for label, values in psnrs.items():
        line, = ax.plot(omegas, values, marker="o", label=f"{label}: one Ω everywhere")
        if best and label in best:
            ax.axhline(best[label], color=line.get_color(), linestyle="--", label=f"{label}: best Ω per position")
    ax.set_xlabel("Ω (0 = global colour only, 1 = warped colour only)")
    ax.set_ylabel("PSNR against the true colours (dB)")
    ax.set_title("Blending warped and global colour")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


# ----------------------------------------------------------------------------------------------------- widget

def blend_explorer(L: np.ndarray, warped_ab: np.ndarray, global_ab: np.ndarray, truth: np.ndarray | None = None,
                   omega: float = 0.5, draw: bool = True):
    """A fixed-gate slider: ``ab = warped * omega + global * (1 - omega)``, the colorized result beside both ends.

    Args:
        L: ``(H, W)`` target lightness. warped_ab: ``(H, W, 2)`` (full resolution, Lab units).
        global_ab: ``(2,)`` or ``(H, W, 2)``. truth: optional ``(H, W, 3)`` for a PSNR in the titles.
        omega: the slider's start value. draw: draw the figure (False: only compute; for tests).

    Returns:
        An ``ipywidgets.interactive`` with ``slider`` (the omega slider) and ``state`` (``"omega"``,
        ``"rgb"``, ``"psnr"``) attributes.
    """
    import ipywidgets as widgets

    ends = {0.0: colorize(L, blend_ab(warped_ab, global_ab, 0.0)), 1.0: colorize(L, blend_ab(warped_ab, global_ab,
                                                                                              1.0))}
    state: dict = {}

    def score(rgb):
        return "" if truth is None else f"\nPSNR {psnr(rgb, truth):.1f} dB"

    def show(omega):
        rgb = colorize(L, blend_ab(warped_ab, global_ab, omega))
        state.update(omega=omega, rgb=rgb, psnr=None if truth is None else psnr(rgb, truth))
        if draw:
            fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.6))
            panels = [(ends[0.0], "Ω = 0: global colour only"), (rgb, f"Ω = {omega:.2f}"),
                      (ends[1.0], "Ω = 1: warped colour only")]
            for ax, (image, title) in zip(axes, panels):
                ax.imshow(image)
                pixel_axes(ax, title + score(image))
            fig.suptitle("fused = warped · Ω + global · (1 − Ω), with one Ω for every pixel")
            fig.tight_layout()
            plt.show()

    slider = widgets.FloatSlider(value=omega, min=0.0, max=1.0, step=0.05, description="Ω",
                                 continuous_update=False)
    explorer = widgets.interactive(show, omega=slider)
    explorer.slider = slider
    explorer.state = state
    return explorer
