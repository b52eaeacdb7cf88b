"""Chapter 03 (encoder and correspondence): view pairs, attention, warping, and the attention explorer.

The notebook ``notebooks/03_encoder_correspondence.ipynb`` keeps its cells short by calling these; chapter 04
reuses the view pairs, :func:`model_inputs`, :func:`softmax_with_temperature`, :func:`upsample`,
:func:`colorize` and :func:`psnr`. Three groups:

* **View pairs** (:class:`ViewPair`, :func:`crop_pair`): the "same image under geometric augmentation" pairs of
  the course — the target is one square crop of a photo, the reference another, shifted (and optionally flipped
  left-right) crop of the same photo. Because we made the shift, we know where every target pixel *really* is in
  the reference (:meth:`ViewPair.reference_pixel`, :meth:`ViewPair.true_cells`), so a matching can be graded.
* **Array helpers** (NumPy, unit-tested): softmax with temperature, warping, normalised entropy, colorizing L
  with ab, PSNR, a temperature sweep, the share of correct matches, the encoder's shapes per config.
* **Figures and a widget** (matplotlib / ipywidgets, imported here, not by ``import colorlab``): the attention of
  one target pixel as a heat map over the reference, a static grid of pixels x temperatures, the PSNR-vs-temperature
  curve, and an interactive attention explorer whose callback can be driven headlessly by setting
  ``slider.value``.

Conventions: attention and correlation matrices are ``(Lt, Lr)`` for one image pair (the batch axis dropped),
positions in row-major order on the matching grids (``index = row * width + col``), one matching cell = 2 x 2
pixels (the paper's matching scale, half the input resolution). ab values are in **Lab units** unless a name says
otherwise (the model works in ``ab / 110``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from colorlab.course.figures import panel_size, pixel_axes
from colorlab.errors import ConfigError

__all__ = [
    "ViewPair", "crop_pair", "resize_short_side", "model_inputs",
    "softmax_with_temperature", "normalized_entropy", "warp", "upsample", "colorize", "psnr",
    "warped_colorization", "temperature_sweep", "match_accuracy", "encoder_shapes",
    "plot_view_pair", "plot_attention", "plot_attention_grid", "plot_temperature_curve", "attention_explorer",
]


# ------------------------------------------------------------------------------------------------ view pairs

@dataclass(frozen=True)
class ViewPair:
    """A target and a reference cut from the same photo, with the geometry that relates them.

    Attributes:
        image: the whole photo ``(H, W, 3)`` in [0, 1].
        target: ``image[:size, :size]``, ``(size, size, 3)`` — its gray version is the model's input.
        reference: ``image[dy:dy + size, dx:dx + size]``, flipped left-right if ``flip``, ``(size, size, 3)``.
        shift: ``(dy, dx)`` in pixels, both even and >= 0.
        flip: whether the reference was mirrored left-right.
    """

    image: np.ndarray
    target: np.ndarray
    reference: np.ndarray
    shift: tuple
    flip: bool

    @property
    def size(self) -> int:
        """Side of the target and of the reference, in pixels."""
        return int(self.target.shape[0])

    def reference_pixel(self, row: int, col: int):
        """Where target pixel ``(row, col)`` lies in the reference: ``(row', col')``, or None outside the overlap.

        Target pixel ``(r, c)`` is image pixel ``(r, c)``; reference pixel ``(r', c')`` is image pixel
        ``(r' + dy, c' + dx)`` (before a flip, which maps column ``c'`` to ``size - 1 - c'``).
        """
        dy, dx = self.shift
        r, c = int(row) - dy, int(col) - dx
        if not (0 <= r < self.size and 0 <= c < self.size):
            return None
        return (r, self.size - 1 - c) if self.flip else (r, c)

    def true_cells(self) -> np.ndarray:
        """For each target matching cell (row-major, ``(size/2)**2`` of them), the flat index of the reference
        cell showing the same 2 x 2 pixels, or -1 where that part of the target is not in the reference.

        Returns:
            int64 array ``(Lt,)``.
        """
        grid = self.size // 2
        dy, dx = self.shift[0] // 2, self.shift[1] // 2
        rows, cols = np.divmod(np.arange(grid * grid), grid)
        r, c = rows - dy, cols - dx
        inside = (r >= 0) & (r < grid) & (c >= 0) & (c < grid)
        if self.flip:
            c = grid - 1 - c
        return np.where(inside, r * grid + c, -1).astype(np.int64)

    def overlap_mask(self) -> np.ndarray:
        """``(size/2, size/2)`` bool: the target cells that have a true counterpart in the reference."""
        grid = self.size // 2
        return (self.true_cells() >= 0).reshape(grid, grid)


def resize_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resizes an image so its shorter side is ``side`` pixels (Lanczos, aspect ratio kept).

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1].
        side: target length of the shorter side (>= 8).

    Returns:
        float32 ``(H', W', 3)`` in [0, 1] with ``min(H', W') == side``.
    """
    from PIL import Image

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ConfigError(f"resize_short_side: rgb must have shape (H, W, 3), got {rgb.shape}")
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 8:
        raise ConfigError(f"resize_short_side: side must be an integer >= 8, got {side!r}")
    height, width = rgb.shape[:2]
    scale = side / min(height, width)
    new_h = side if height <= width else round(height * scale)
    new_w = side if width < height else round(width * scale)
    image = Image.fromarray(np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8))
    return np.asarray(image.resize((new_w, new_h), Image.LANCZOS), dtype=np.float32) / 255.0


def crop_pair(image: np.ndarray, size: int, shift: Sequence[int], flip: bool = False) -> ViewPair:
    """Cuts a target and a shifted (optionally mirrored) reference of ``size x size`` from one photo.

    Args:
        image: ``(H, W, 3)`` in [0, 1], at least ``size + dy`` tall and ``size + dx`` wide.
        size: side of both crops; a multiple of 8 (the encoder's total stride, so no padding is involved).
        shift: ``(dy, dx)``, even and >= 0: the reference starts ``dy`` rows lower and ``dx`` columns further
            right than the target. Even shifts keep the 2 x 2 matching cells of the two crops aligned.
        flip: mirror the reference left-right (an augmentation an untrained encoder cannot see through).

    Returns:
        A :class:`ViewPair`.

    Raises:
        ConfigError: bad size or shift, or an image too small for them.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ConfigError(f"crop_pair: image must have shape (H, W, 3), got {image.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8 or size % 8:
        raise ConfigError(f"crop_pair: size must be a positive multiple of 8, got {size!r}")
    if len(shift) != 2 or any(int(s) != s or s < 0 or s % 2 for s in shift):
        raise ConfigError(f"crop_pair: shift must be two even integers >= 0, got {tuple(shift)!r}")
    dy, dx = int(shift[0]), int(shift[1])
    if image.shape[0] < size + dy or image.shape[1] < size + dx:
        raise ConfigError(f"crop_pair: a {size}-pixel crop shifted by ({dy}, {dx}) needs an image of at least "
                          f"{size + dy} x {size + dx} pixels, got {image.shape[0]} x {image.shape[1]}")
    target = image[:size, :size].copy()
    reference = image[dy:dy + size, dx:dx + size]
    reference = (reference[:, ::-1] if flip else reference).copy()
    return ViewPair(image=image, target=target, reference=reference, shift=(dy, dx), flip=bool(flip))


def model_inputs(target_rgb: np.ndarray, reference_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model's two inputs for one pair, in the official code's Lab scaling.

    Args:
        target_rgb: ``(H, W, 3)`` in [0, 1] (only its L is used).
        reference_rgb: ``(h, w, 3)`` in [0, 1].

    Returns:
        ``(target_l, reference_lab)``: float32 ``(1, H, W, 1)`` = ``L / 50 - 1`` and ``(1, h, w, 3)`` =
        ``(L / 50 - 1, a / 110, b / 110)``.
    """
    import keras

    from colorlab import color

    def normalized(rgb):
        return keras.ops.convert_to_numpy(color.normalize_lab(color.rgb_to_lab(np.asarray(rgb, np.float32))))

    return normalized(target_rgb)[None, ..., :1].copy(), normalized(reference_rgb)[None].copy()


# ---------------------------------------------------------------------------------------------- array helpers

def softmax_with_temperature(correlation: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(correlation / temperature)`` over the last axis (reference positions), computed stably.

    ``A_ij = exp((C_ij - max_j C_ij) / tau) / sum_j exp((C_ij - max_j C_ij) / tau)``: subtracting the row maximum
    changes nothing mathematically and keeps ``exp`` from overflowing at ``tau = 0.01`` (a cosine of 1 would
    give ``e^100``).

    Args:
        correlation: ``(..., Lr)`` cosines.
        temperature: ``tau > 0`` (the paper's: 0.01).

    Returns:
        float32 ``(..., Lr)``, each row summing to 1.
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"temperature must be a number > 0, got {temperature!r}")
    logits = np.asarray(correlation, dtype=np.float32) / np.float32(temperature)
    logits = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def normalized_entropy(attention: np.ndarray) -> np.ndarray:
    """Entropy of each attention row divided by ``log(Lr)``: 0 for one clear match, 1 for a uniform row.

    ``H_i = -sum_j A_ij log A_ij / log Lr`` (``0 log 0 = 0``). The same quantity as
    :func:`colorlab.models.attention_entropy` and the stats gate's entropy input.

    Args:
        attention: ``(..., Lr)``, rows summing to 1, ``Lr >= 2``.

    Returns:
        float64 ``(...)`` in [0, 1].
    """
    attention = np.asarray(attention, dtype=np.float64)
    size = attention.shape[-1]
    if size < 2:
        raise ConfigError(f"normalized_entropy needs at least 2 reference positions, got {size}")
    terms = np.where(attention > 0, attention * np.log(np.where(attention > 0, attention, 1.0)), 0.0)
    return -terms.sum(axis=-1) / np.log(size)


def warp(attention: np.ndarray, values: np.ndarray, target_grid: Sequence[int]) -> np.ndarray:
    """Carries reference values over to the target: ``A @ V``, reshaped to the target's grid.

    Args:
        attention: ``(Lt, Lr)``, rows summing to 1.
        values: ``(hr, wr, C)`` with ``hr * wr = Lr`` (e.g. the reference's ab, averaged over 2 x 2 pixels).
        target_grid: ``(ht, wt)`` with ``ht * wt = Lt``.

    Returns:
        float32 ``(ht, wt, C)``: each target cell's attention-weighted average of reference values.
    """
    attention = np.asarray(attention, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    ht, wt = (int(s) for s in target_grid)
    if attention.ndim != 2 or values.ndim != 3 or attention.shape[1] != values.shape[0] * values.shape[1] \
            or attention.shape[0] != ht * wt:
        raise ConfigError(f"warp: attention {attention.shape}, values {values.shape} and target grid "
                          f"{(ht, wt)} do not fit: need (ht*wt, hr*wr), (hr, wr, C)")
    return (attention @ values.reshape(-1, values.shape[-1])).reshape(ht, wt, -1)


def upsample(values: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Bilinear resize of a ``(h, w, C)`` map to ``(H, W, C)`` (pixel centres aligned, Pillow's BILINEAR).

    Used to bring ab from the matching grid (1/2) back to the full target resolution.
    """
    from PIL import Image

    values = np.asarray(values, dtype=np.float32)
    height, width = (int(s) for s in shape)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(values[..., c])).resize((width, height),
                                                                                        Image.BILINEAR))
                for c in range(values.shape[-1])]
    return np.stack(channels, axis=-1).astype(np.float32)


def colorize(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """sRGB picture of lightness ``L`` ``(H, W)`` (0..100) with colour ``ab`` ``(H, W, 2)`` or ``(2,)`` (Lab units).

    Returns float32 ``(H, W, 3)`` in [0, 1] (out-of-gamut colours clipped).
    """
    import keras

    from colorlab import color

    L = np.asarray(L, dtype=np.float32)
    ab = np.broadcast_to(np.asarray(ab, dtype=np.float32), L.shape + (2,))
    lab = np.concatenate([L[..., None], ab], axis=-1)
    return keras.ops.convert_to_numpy(color.lab_to_rgb(lab)).astype(np.float32)


def psnr(image: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(range^2 / mean((image - truth)^2))`` (inf if equal)."""
    image, truth = np.asarray(image, np.float64), np.asarray(truth, np.float64)
    if image.shape != truth.shape:
        raise ConfigError(f"psnr: shapes differ, {image.shape} vs {truth.shape}")
    mse = float(np.mean((image - truth) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range ** 2 / mse))


def warped_colorization(correlation: np.ndarray, reference_ab: np.ndarray, L: np.ndarray,
                        temperature: float) -> np.ndarray:
    """Colours the target by warping the reference's ab with ``softmax(C / tau)`` — no decoder, no training.

    Args:
        correlation: ``(Lt, Lr)`` cosines on the matching grids (target grid ``ceil(H/2) x ceil(W/2)``).
        reference_ab: ``(hr, wr, 2)`` the reference's ab on its matching grid, Lab units.
        L: ``(H, W)`` the target's lightness (0..100).
        temperature: ``tau``.

    Returns:
        float32 ``(H, W, 3)``: L with the warped ab, upsampled bilinearly to full resolution.
    """
    L = np.asarray(L, dtype=np.float32)
    grid = (-(-L.shape[0] // 2), -(-L.shape[1] // 2))
    ab = warp(softmax_with_temperature(correlation, temperature), reference_ab, grid)
    return colorize(L, upsample(ab, L.shape))


def temperature_sweep(correlation: np.ndarray, reference_ab: np.ndarray, L: np.ndarray, truth: np.ndarray,
                      temperatures: Sequence[float]) -> np.ndarray:
    """PSNR (dB) against ``truth`` of :func:`warped_colorization` at each temperature. Returns ``(K,)``."""
    return np.array([psnr(warped_colorization(correlation, reference_ab, L, t), truth) for t in temperatures])


def match_accuracy(attention: np.ndarray, true_cells: np.ndarray, reference_grid: Sequence[int],
                   tolerance: int = 1) -> float:
    """Share of target cells (those with a true counterpart) whose strongest attention lands on it.

    Args:
        attention: ``(Lt, Lr)``.
        true_cells: ``(Lt,)`` flat reference cell of each target cell, -1 where there is none
            (:meth:`ViewPair.true_cells`).
        reference_grid: ``(hr, wr)``.
        tolerance: a hit may be this many cells off in each direction (1 cell = 2 pixels).

    Returns:
        A fraction in [0, 1] (nan if no target cell has a counterpart).
    """
    true_cells = np.asarray(true_cells)
    valid = true_cells >= 0
    if not valid.any():
        return float("nan")
    width = int(reference_grid[1])
    best = np.asarray(attention).argmax(axis=-1)
    by, bx = np.divmod(best[valid], width)
    ty, tx = np.divmod(true_cells[valid], width)
    return float(np.mean((np.abs(by - ty) <= tolerance) & (np.abs(bx - tx) <= tolerance)))


def encoder_shapes(base_widths: dict, size: int = 128) -> list[dict]:
    """Output shape and parameter count of each encoder block, per config, for a ``size x size`` gray input.

    Builds :class:`colorlab.models.Encoder` for each width and runs it symbolically (shapes only, no arithmetic).

    Args:
        base_widths: ``{config name: base_width}``, e.g. ``{"tiny": 8, "course": 32, "paper": 64}``.
        size: input side (a multiple of 8).

    Returns:
        One dict per block: ``{"block": name, "stride": s, "shape": {config: (h, w, c)},
        "params": {config: n}}``.
    """
    import keras

    from colorlab.models import ENCODER_LEVELS, ENCODER_STRIDES, Encoder

    rows = [{"block": level, "stride": stride, "shape": {}, "params": {}}
            for level, stride in zip(ENCODER_LEVELS, ENCODER_STRIDES)]
    for name, width in base_widths.items():
        encoder = Encoder(width)
        outputs = encoder(keras.KerasTensor((1, size, size, 1)))
        for row, output, block in zip(rows, outputs, encoder.blocks):
            row["shape"][name] = tuple(int(s) for s in output.shape[1:])
            row["params"][name] = int(sum(np.prod(v.shape) for v in block.weights))
    return rows


# ---------------------------------------------------------------------------------------------------- figures

def _attention_overlay(ax, reference_rgb, attention_map):
    """Draws the reference, dimmed, with the attention map (on the matching grid) as a heat overlay."""
    height, width = reference_rgb.shape[:2]
    ax.imshow(0.35 + 0.5 * np.asarray(reference_rgb), extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    peak = float(attention_map.max()) or 1.0
    strength = np.clip(attention_map / peak, 0.0, 1.0)
    overlay = plt.get_cmap("inferno")(strength)
    overlay[..., 3] = 0.9 * np.sqrt(strength)
    ax.imshow(overlay, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest")
    # one matching cell is only 2 x 2 pixels: ring the strongest one so a one-hot row stays visible
    cell_row, cell_col = np.unravel_index(np.argmax(attention_map), attention_map.shape)
    scale_r, scale_c = height / attention_map.shape[0], width / attention_map.shape[1]
    ax.scatter([(cell_col + 0.5) * scale_c - 0.5], [(cell_row + 0.5) * scale_r - 0.5], s=160, marker="o",
               facecolors="none", edgecolors="lime", linewidths=1.8, label="strongest cell")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)


def _mark(ax, point, marker, color, label=None, size=110):
    if point is not None:
        ax.scatter([point[1]], [point[0]], marker=marker, s=size, c=color, linewidths=2.2, label=label,
                   edgecolors="black" if marker == "o" else None)


def plot_view_pair(pair: ViewPair, size: float = 3.2):
    """The photo with the two crop windows outlined, the gray target and the colour reference.

    Returns:
        Figure with 3 Axes.
    """
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(1, 3, figsize=(3 * size + 0.6, size + 0.3),
                             gridspec_kw={"width_ratios": [pair.image.shape[1] / pair.image.shape[0], 1, 1]})
    axes[0].imshow(pair.image)
    dy, dx = pair.shift
    for (top, left), colour, label in (((0, 0), "yellow", "target"), ((dy, dx), "cyan", "reference")):
        # drawn through the centres of the crop's border pixels, so an edge on the photo's border stays visible
        axes[0].add_patch(Rectangle((left, top), pair.size - 1, pair.size - 1, fill=False, edgecolor=colour,
                                    linewidth=2, label=label, clip_on=False))
    axes[0].legend(loc="upper right", fontsize=8, framealpha=0.8)
    pixel_axes(axes[0], "the photo and the two crops")
    axes[1].imshow(_gray(pair.target), cmap="gray", vmin=0, vmax=1)
    pixel_axes(axes[1], "target: its L only (model input)")
    axes[2].imshow(pair.reference)
    pixel_axes(axes[2], "reference" + (" (mirrored)" if pair.flip else "") + ": colour")
    fig.tight_layout()
    return fig


def plot_attention(target_rgb: np.ndarray, reference_rgb: np.ndarray, attention_map: np.ndarray,
                   pixel: Sequence[int], true_pixel=None, temperature: float | None = None, axes=None):
    """One target pixel and where it looks: the gray target with the pixel marked, the reference with the heat map.

    Args:
        target_rgb: ``(H, W, 3)`` (drawn in gray: the model sees only its L) or ``(H, W)`` gray in [0, 1].
        reference_rgb: ``(h, w, 3)``.
        attention_map: ``(hr, wr)`` the pixel's attention row on the reference's matching grid (sums to 1).
        pixel: ``(row, col)`` in the target.
        true_pixel: ``(row, col)`` of the same scene point in the reference (marked with a cyan x), or None.
            The strongest attention cell is ringed in green.
        temperature: shown in the title.
        axes: two Axes to draw on; a new 8 x 3.8-inch figure if None.

    Returns:
        The Figure.
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    fig = axes[0].figure
    gray = _gray(target_rgb)
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1)
    _mark(axes[0], pixel, "o", "yellow")
    pixel_axes(axes[0], f"target (gray), pixel {tuple(int(p) for p in pixel)}")
    _attention_overlay(axes[1], reference_rgb, np.asarray(attention_map))
    _mark(axes[1], true_pixel, "x", "cyan", label="true position")
    weight = float(np.max(attention_map))
    tau = "" if temperature is None else f"τ = {temperature:.3g}, "
    pixel_axes(axes[1], f"attention over the reference\n({tau}best cell holds {weight:.0%})")
    axes[1].legend(loc="lower right", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    return fig


def _gray(rgb):
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        return rgb
    import keras

    from colorlab import color

    L = keras.ops.convert_to_numpy(color.rgb_to_lab(rgb))[..., 0]
    return colorize(L, np.zeros(2, np.float32))[..., 0]


def plot_attention_grid(target_rgb: np.ndarray, reference_rgb: np.ndarray, correlation: np.ndarray,
                        reference_grid: Sequence[int], pixels: Sequence[Sequence[int]],
                        temperatures: Sequence[float], true_pixels: Sequence | None = None,
                        row_labels: Sequence[str] | None = None, size: float = 2.6):
    """Static companion of the attention explorer: pixels (rows) x temperatures (columns).

    Args:
        target_rgb, reference_rgb: the pair, ``(H, W, 3)`` and ``(h, w, 3)``.
        correlation: ``(Lt, Lr)`` cosines on the matching grids.
        reference_grid: ``(hr, wr)``.
        pixels: ``(row, col)`` target pixels, one per figure row.
        temperatures: one per attention column.
        true_pixels: per pixel, its true reference position or None (drawn as a cyan x). The strongest cell
            of each attention map is ringed in green.
        row_labels: a short description per pixel (added to the target panel's title).
        size: inches per panel.

    Returns:
        Figure with ``len(pixels) x (1 + len(temperatures))`` Axes.
    """
    width = -(-np.asarray(target_rgb).shape[1] // 2)
    columns = 1 + len(temperatures)
    size = panel_size(size, columns)
    fig, axes = plt.subplots(len(pixels), columns, figsize=(size * columns, size * len(pixels) + 0.5),
                             squeeze=False)
    gray = _gray(target_rgb)
    for index, (row, col) in enumerate(pixels):
        ax = axes[index, 0]
        ax.imshow(gray, cmap="gray", vmin=0, vmax=1)
        _mark(ax, (row, col), "o", "yellow", size=70)
        label = f"{row_labels[index]}\n" if row_labels else ""
        pixel_axes(ax, f"{label}target pixel ({row}, {col})")
        line = (row // 2) * width + col // 2
        for column, tau in enumerate(temperatures, start=1):
            ax = axes[index, column]
            attention = softmax_with_temperature(correlation[line], tau).reshape(tuple(reference_grid))
            _attention_overlay(ax, reference_rgb, attention)
            if true_pixels is not None:
                _mark(ax, true_pixels[index], "x", "cyan", size=70)
            pixel_axes(ax, f"τ = {tau:g}: best cell {attention.max():.0%}")
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Where each target pixel looks in the reference, at {len(temperatures)} temperatures "
                 "(cyan x: the true position; green ring: the strongest cell)")
    fig.tight_layout()
    return fig


def plot_temperature_curve(temperatures: Sequence[float], psnrs: Sequence[float], baselines: dict | None = None,
                           paper_temperature: float = 0.01, ax=None, title: str | None = None):
    """PSNR of the warped-ab colorization against the softmax temperature (log axis).

    Args:
        temperatures, psnrs: the sweep (:func:`temperature_sweep`).
        baselines: ``{label: psnr}`` drawn as horizontal dashed lines (e.g. the gray image).
        paper_temperature: marked with a vertical line.
        ax: Axes to draw on (a new figure if None).

    Returns:
        The Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(temperatures, psnrs, marker="o", color="tab:red", label="L + warped reference ab")
    for (label, value), style in zip((baselines or {}).items(), ("--", ":", "-.")):
        ax.axhline(value, color="0.4", linestyle=style, label=label)
    ax.axvline(paper_temperature, color="tab:blue", alpha=0.6, label=f"paper's τ = {paper_temperature:g}")
    ax.set_xscale("log")
    ax.set_xlabel("softmax temperature τ (log scale)")
    ax.set_ylabel("PSNR against the true colours (dB)")
    ax.set_title(title or "Colours copied through the attention, by temperature")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


# ----------------------------------------------------------------------------------------------------- widget

def attention_explorer(target_rgb: np.ndarray, reference_rgb: np.ndarray, correlation: np.ndarray,
                       reference_grid: Sequence[int], true_pixel: Callable | None = None,
                       temperature: float = 0.01, draw: bool = True):
    """Sliders for a target pixel (row, column) and a log-scale temperature; shows where that pixel looks.

    The callback recomputes one attention row, ``softmax(C[i] / tau)``, and draws :func:`plot_attention`.

    Args:
        target_rgb, reference_rgb: the pair. correlation: ``(Lt, Lr)`` cosines. reference_grid: ``(hr, wr)``.
        true_pixel: optional function ``(row, col) -> (row', col') or None`` giving the true position
            (e.g. :meth:`ViewPair.reference_pixel`).
        temperature: the temperature slider's start value (the paper's 0.01).
        draw: draw the figure (False: only compute; for tests).

    Returns:
        An ``ipywidgets.interactive``; its ``sliders`` attribute holds the three sliders by name
        (``"row"``, ``"col"``, ``"temperature"``) and ``state`` the last result (``"pixel"``, ``"attention"``,
        ``"temperature"``).
    """
    import ipywidgets as widgets

    height, width = np.asarray(target_rgb).shape[:2]
    grid_width = -(-width // 2)
    state: dict = {}

    def show(row, col, temperature):
        line = (row // 2) * grid_width + col // 2
        attention = softmax_with_temperature(correlation[line], temperature).reshape(tuple(reference_grid))
        state.update(pixel=(row, col), attention=attention, temperature=temperature)
        if draw:
            truth = true_pixel(row, col) if true_pixel is not None else None
            plot_attention(target_rgb, reference_rgb, attention, (row, col), truth, temperature)
            plt.show()

    sliders = {
        "row": widgets.IntSlider(value=height // 2, min=0, max=height - 1, description="row",
                                 continuous_update=False),
        "col": widgets.IntSlider(value=width // 2, min=0, max=width - 1, description="column",
                                 continuous_update=False),
        "temperature": widgets.FloatLogSlider(value=temperature, base=10, min=-3, max=0, step=0.1,
                                              description="τ", readout_format=".3f", continuous_update=False),
    }
    explorer = widgets.interactive(show, **sliders)
    explorer.sliders = sliders
    explorer.state = state
    return explorer
