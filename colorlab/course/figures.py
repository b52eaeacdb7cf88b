"""The course's shared figure kit: ab planes, the sRGB gamut, L/a/b decompositions, ab histograms, image grids, maps.

Figures that several chapters draw live here; a figure only one chapter needs lives in that chapter's module
(see :mod:`colorlab.course`). The notebooks keep their cells short by calling these. Each plotting function draws
with matplotlib (imported here, not by ``import colorlab``), gives every axis a title and labels, and returns the
Figure (or the Axes it drew on, when you pass one in) without calling ``plt.show()`` — the notebook does that.

Array helpers (:func:`ab_grid`, :func:`ab_plane`, :func:`gamut_area`) return NumPy arrays and are unit-tested;
they use :mod:`colorlab.color` for every conversion.

Orientation convention for ab images (ours, the usual one in colour science figures): **a runs left → right,
b runs bottom → top**, so greens are on the left, reds/magentas on the right, blues at the bottom and yellows at
the top; images are drawn with ``extent`` in Lab units so the axes read in a and b directly.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from colorlab.errors import ConfigError

__all__ = [
    "MAX_WIDTH", "panel_size",
    "ab_grid", "ab_plane", "gamut_area",
    "plot_ab_plane", "plot_ab_planes", "plot_gamut_area",
    "plot_lab_decomposition", "plot_ab_histogram", "show_images", "plot_maps", "pixel_axes",
]

#: The widest figure the course draws, in inches. The notebooks draw at 100 dpi, so this is about 1,050 pixels:
#: what JupyterLab and GitHub show without shrinking the figure, and with it its text (ours).
MAX_WIDTH = 10.5


def panel_size(size: float, panels: int, extra: float = 0.0) -> float:
    """``size`` (inches per panel), or less, so that ``panels`` panels side by side plus ``extra`` inches (colour
    bars, a legend) fit in :data:`MAX_WIDTH`."""
    return min(float(size), (MAX_WIDTH - extra) / max(int(panels), 1))


#: Default half-width of the ab window drawn, in Lab units: the model's ab scale (|a|, |b| of sRGB colours
#: stay below about 110, see ``colorlab.color.AB_SCALE``).
AB_MAX = 110.0


def _to_numpy(x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


# ---------------------------------------------------------------------------------------------- array helpers

def ab_grid(size: int = 201, ab_max: float = AB_MAX) -> tuple[np.ndarray, np.ndarray]:
    """A square grid of ab values, laid out as an image (row 0 at the top).

    Args:
        size: pixels per side; an odd size puts a = b = 0 exactly on the centre pixel.
        ab_max: the grid spans [−ab_max, ab_max] on both axes (pixel centres at the ends).

    Returns:
        ``(a, b)``: two float64 arrays (size, size). ``a`` grows along columns (left → right), ``b`` grows
        from the bottom row to the top row.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ConfigError(f"size must be an integer >= 2, got {size!r}")
    if not np.isfinite(ab_max) or ab_max <= 0:
        raise ConfigError(f"ab_max must be a positive number, got {ab_max!r}")
    values = np.linspace(-ab_max, ab_max, size)
    a, b = np.meshgrid(values, values[::-1])
    return a, b


def ab_plane(L: float, size: int = 201, ab_max: float = AB_MAX) -> tuple[np.ndarray, np.ndarray]:
    """The colours of the ab plane at lightness ``L``, and which of them sRGB can show.

    Args:
        L: lightness in [0, 100].
        size, ab_max: the grid, as in :func:`ab_grid`.

    Returns:
        ``(rgb, inside)``: ``rgb`` float32 (size, size, 3) in [0, 1] — ``lab_to_rgb`` with clipping, so
        out-of-gamut colours are shown as their clipped (wrong) sRGB values; ``inside`` bool (size, size),
        True where the Lab colour is inside the sRGB gamut (:func:`colorlab.color.in_gamut`).
    """
    from colorlab import color

    if not 0.0 <= float(L) <= 100.0:
        raise ConfigError(f"L must lie in [0, 100], got {L!r}")
    a, b = ab_grid(size, ab_max)
    lab = np.stack([np.full_like(a, float(L)), a, b], axis=-1).astype(np.float32)
    rgb = _to_numpy(color.lab_to_rgb(lab)).astype(np.float32)
    inside = _to_numpy(color.in_gamut(lab)).astype(bool)
    return rgb, inside


def gamut_area(L_values: Sequence[float], size: int = 201, ab_max: float = AB_MAX) -> np.ndarray:
    """Area of the sRGB gamut's ab slice at each lightness, in squared Lab units.

    Counts in-gamut pixels of :func:`ab_plane` times the area of one pixel, ``(2·ab_max/(size−1))²``; the
    error is about one pixel's width along the slice's boundary.

    Args:
        L_values: lightnesses in [0, 100], shape (K,).
        size, ab_max: the grid used to measure; the window must contain the slice (±110 does for sRGB).

    Returns:
        float64 array (K,).
    """
    step = 2.0 * ab_max / (size - 1)
    return np.array([ab_plane(L, size, ab_max)[1].sum() * step * step for L in L_values], dtype=np.float64)


# ------------------------------------------------------------------------------------------------- figures

def _ab_extent(ab_max: float, size: int) -> tuple[float, float, float, float]:
    half = ab_max / (size - 1)  # half a pixel, so pixel centres sit at their ab values
    return (-ab_max - half, ab_max + half, -ab_max - half, ab_max + half)


def _label_ab(ax, title: str) -> None:
    ax.set_xlabel("a   (− green … red +)")
    ax.set_ylabel("b   (− blue … yellow +)")
    ax.set_title(title)


def plot_ab_plane(L: float, ax=None, size: int = 201, ab_max: float = AB_MAX, show_out_of_gamut: bool = False,
                  background=(1.0, 1.0, 1.0)):
    """Draws the ab plane at lightness ``L``.

    Args:
        L: lightness in [0, 100].
        ax: Axes to draw on; a new 4×4-inch figure if None.
        size, ab_max: the grid, as in :func:`ab_grid` (``size=21`` draws exactly the 21×21 histogram bin
            centres).
        show_out_of_gamut: if False (default), colours sRGB cannot show are painted ``background`` and the
            gamut boundary is outlined (for ``size > 64``); if True they are shown clipped (what ``lab_to_rgb``
            displays for them).
        background: RGB colour of the out-of-gamut region.

    Returns:
        The Axes drawn on.
    """
    rgb, inside = ab_plane(L, size, ab_max)
    if not show_out_of_gamut:
        rgb = np.where(inside[..., None], rgb, np.asarray(background, dtype=np.float32))
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    extent = _ab_extent(ab_max, size)
    ax.imshow(rgb, extent=extent, interpolation="nearest" if size <= 64 else "antialiased")
    if not show_out_of_gamut and size > 64 and 0 < inside.sum() < inside.size:  # outline smooth grids only
        a, b = ab_grid(size, ab_max)
        ax.contour(a, b, inside.astype(float), levels=[0.5], colors="0.35", linewidths=0.8)
    ax.axhline(0.0, color="0.5", linewidth=0.5)
    ax.axvline(0.0, color="0.5", linewidth=0.5)
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    _label_ab(ax, f"ab plane at L = {float(L):g}")
    return ax


def plot_ab_planes(L_values: Sequence[float] = (20, 40, 60, 80), size: int = 201, ab_max: float = AB_MAX,
                   show_out_of_gamut: bool = False):
    """A row of ab planes, one per lightness (the static companion of the L slider).

    Returns:
        Figure with one Axes per plane (a row, or two columns when a row would be wider than :data:`MAX_WIDTH`;
        an unused grid cell is hidden).
    """
    ncols = len(L_values) if 3.2 * len(L_values) <= MAX_WIDTH else 2      # too wide for a row: two columns
    nrows = -(-len(L_values) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows + 0.3), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(L_values):
            ax.set_visible(False)
            continue
        plot_ab_plane(L_values[index], ax=ax, size=size, ab_max=ab_max, show_out_of_gamut=show_out_of_gamut)
        if index % ncols:
            ax.set_ylabel("")
    fig.suptitle("The sRGB colours of the ab plane at several lightnesses (white: not displayable)")
    fig.tight_layout()
    return fig


def plot_gamut_area(L_values: Sequence[float], areas: Sequence[float], ax=None):
    """Line plot of the gamut slice area against L (from :func:`gamut_area`).

    Returns:
        The Axes drawn on (a new figure if ``ax`` is None).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.asarray(L_values), np.asarray(areas), marker=".", color="0.2")
    ax.set_xlabel("L (lightness)")
    ax.set_ylabel("area of in-gamut ab  (Lab units²)")
    ax.set_title("How many ab values sRGB can show, per lightness")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return ax


def _axis_colormap(channel: str, limit: float, L: float = 60.0, n: int = 256):
    """A colormap showing the real colour of each a (or b) value, at lightness L with the other channel 0."""
    from matplotlib.colors import ListedColormap

    from colorlab import color

    values = np.linspace(-limit, limit, n)
    lab = np.zeros((n, 3), dtype=np.float32)
    lab[:, 0] = L
    lab[:, 1 if channel == "a" else 2] = values
    return ListedColormap(_to_numpy(color.lab_to_rgb(lab)), name=f"lab_{channel}")


def plot_lab_decomposition(rgb: np.ndarray, ab_limit: float | None = None, title: str | None = None):
    """Shows an sRGB image next to its L, a and b channels, each with a colourbar in Lab units.

    L is drawn in gray from 0 (black) to 100 (white); a and b with colormaps made of their own colours (at
    L = 60, the other channel 0; clipped where sRGB cannot show them), symmetric around 0 so gray pixels sit in
    the middle of the bar.

    Args:
        rgb: float array (H, W, 3) in [0, 1].
        ab_limit: colour range ±ab_limit for a and b; default: the largest |a| or |b| in the image
            (at least 10).
        title: figure title.

    Returns:
        Figure with 7 Axes: the 4 images, then the 3 colourbars.
    """
    from colorlab import color

    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ConfigError(f"rgb must have shape (H, W, 3), got shape {rgb.shape}")
    lab = _to_numpy(color.rgb_to_lab(rgb))
    if ab_limit is None:
        ab_limit = max(10.0, float(np.ceil(np.abs(lab[..., 1:]).max())))
    aspect = min(rgb.shape[0] / rgb.shape[1], 1.5)
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 2 * (0.6 + 3.4 * aspect)), layout="compressed")
    axes = axes.ravel()                                   # image and L on top, a and b below
    axes[0].imshow(np.clip(rgb, 0, 1))
    axes[0].set_title("sRGB image")
    panels = [
        (1, lab[..., 0], "gray", 0.0, 100.0, "L (lightness, 0–100)"),
        (2, lab[..., 1], _axis_colormap("a", ab_limit), -ab_limit, ab_limit, "a (− green … red +)"),
        (3, lab[..., 2], _axis_colormap("b", ab_limit), -ab_limit, ab_limit, "b (− blue … yellow +)"),
    ]
    for index, channel, cmap, vmin, vmax, name in panels:
        image = axes[index].imshow(channel, cmap=cmap, vmin=vmin, vmax=vmax)
        axes[index].set_title(name)
        fig.colorbar(image, ax=axes[index], shrink=0.9, label="Lab units")
    for ax in axes:
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    if title:
        fig.suptitle(title)
    return fig


def plot_ab_histogram(hist: np.ndarray, bins: int = 21, ab_max: float = AB_MAX, ax=None, log: bool = True,
                      title: str = "ab histogram", floor: float = 1e-5):
    """Draws a flat ab histogram as a bins×bins image with a and b axes in Lab units.

    Args:
        hist: (bins·bins,) or (bins, bins) in a-major order (``index = i_a·bins + i_b``, the convention of
            :func:`colorlab.color.soft_ab_histogram`), e.g. a row of its output.
        bins, ab_max: bin centres at ``linspace(−ab_max, ab_max, bins)`` on each axis.
        ax: Axes to draw on; a new figure if None.
        log: logarithmic colour scale (most mass sits near gray; a log scale shows the rare vivid colours too).
        title: the Axes title.
        floor: on the log scale, values below ``floor`` (including empty bins) are drawn as the lowest colour.

    Returns:
        The Axes drawn on (its colourbar is added to the same figure).
    """
    from matplotlib.colors import LogNorm, Normalize

    hist = np.asarray(hist, dtype=np.float64)
    if hist.size != bins * bins:
        raise ConfigError(f"hist must have {bins}×{bins} = {bins * bins} values, got shape {hist.shape}")
    grid = hist.reshape(bins, bins).T  # rows: b, columns: a
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.8))
    if log:
        norm = LogNorm(vmin=floor, vmax=max(float(grid.max()), floor * 10))
        grid = np.maximum(grid, floor)
    else:
        norm = Normalize(vmin=0.0, vmax=float(grid.max()) or 1.0)
    image = ax.imshow(grid, origin="lower", extent=_ab_extent(ab_max, bins), cmap="magma", norm=norm,
                      interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="fraction of pixels" + (" (log scale)" if log else ""))
    ax.axhline(0.0, color="0.6", linewidth=0.5)
    ax.axvline(0.0, color="0.6", linewidth=0.5)
    _label_ab(ax, title)
    return ax


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int | None = None,
                size: float = 2.8, suptitle: str | None = None):
    """Shows images in a grid, without axis ticks.

    Args:
        images: arrays (H, W, 3) in [0, 1], or (H, W) drawn in gray over [0, 1].
        titles: one per image (optional).
        ncols: images per row (default: all in one row, at most 6).
        size: inches per image (less if the row would be wider than :data:`MAX_WIDTH`).
        suptitle: figure title.

    Returns:
        Figure with one Axes per grid cell (``rows·ncols``; unused cells are hidden).
    """
    images = list(images)
    if not images:
        raise ConfigError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ConfigError(f"got {len(images)} images but {len(titles)} titles")
    ncols = ncols or min(len(images), 6)
    nrows = -(-len(images) // ncols)
    size = panel_size(size, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= len(images):
            ax.set_visible(False)
            continue
        image = np.asarray(images[index])
        ax.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[index])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_maps(maps: Sequence[np.ndarray], titles: Sequence[str], suptitle: str | None = None,
              annotate: bool = False, cmap: str = "viridis", size: float = 3.2, colorbar: bool = True,
              vmin=None, vmax=None):
    """2-D maps side by side, each with a title, row/column axis labels and a colour bar.

    Args:
        maps: arrays ``(H, W)``; titles: one per map.
        annotate: write each value in its cell (for small integer maps, e.g. overlap counts).
        vmin, vmax: shared colour limits (default: per map).

    Returns:
        The matplotlib Figure (the notebook calls ``plt.show()``).
    """
    maps = [np.asarray(m) for m in maps]
    if not maps or len(titles) != len(maps):
        raise ConfigError(f"plot_maps: got {len(maps)} maps and {len(titles)} titles")
    size = panel_size(size, len(maps))
    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps), size), squeeze=False)
    for ax, image, title in zip(axes[0], maps, titles):
        if image.ndim != 2:
            raise ConfigError(f"plot_maps: maps must be 2-D, got shape {image.shape}")
        drawn = ax.imshow(image, cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
        ax.set_title(title)
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        if annotate:   # dark text on the light end of the colour map, light text on the dark end
            for (i, j), value in np.ndenumerate(image):
                ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=7,
                        color="black" if drawn.norm(value) > 0.6 else "white")
        if colorbar:
            fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def pixel_axes(ax, title: str) -> None:
    """Titles an image Axes and labels its axes in pixels (rows and columns), as chapters 03 and 04 draw photos."""
    ax.set_title(title)
    ax.set_xlabel("column (pixels)")
    ax.set_ylabel("row (pixels)")
