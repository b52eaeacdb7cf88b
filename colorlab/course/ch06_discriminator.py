"""Chapter 06 (the patch discriminator): receptive fields, computed layer by layer and measured by gradients.

The notebook ``notebooks/06_patch_discriminator.ipynb`` keeps its cells short by calling these, with
:func:`colorlab.course.ch05_mcn.load_square` / :func:`~colorlab.course.ch05_mcn.photo_to_model` for its photo and
:func:`colorlab.course.figures.plot_maps` for its maps; every helper is unit-tested in
``tests/test_course_ch05_ch06.py``. Two groups:

* **Receptive fields**: :func:`receptive_field_table` (the recurrence), :func:`format_table` (printing it),
  :func:`input_gradient` (TensorFlow or JAX) and :func:`logit_gradient` (which pixels move one logit).
* **Figures** (matplotlib, imported inside): :func:`plot_receptive_field`, :func:`plot_windows`. Each returns its
  Figure; the notebook calls ``plt.show()``.

Conventions: images are ``(H, W, 3)`` float32 in [0, 1]; batches are ``(N, H, W, C)``. Keras, the backend and
matplotlib are imported inside the functions that need them, so importing this module is cheap.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from colorlab.errors import ConfigError

__all__ = [
    "receptive_field_table", "format_table", "input_gradient", "logit_gradient",
    "plot_receptive_field", "plot_windows",
]


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ======================================================================================= receptive fields
def receptive_field_table(kernel_sizes: Sequence[int], strides: Sequence[int],
                          paddings: Sequence[int] | None = None, input_size: int | None = None) -> list[dict]:
    """The receptive field of a convolution stack, layer by layer.

    ``r_0 = 1``, ``j_0 = 1``; for layer l: ``r_l = r_{l−1} + (k_l − 1)·j_{l−1}`` and ``j_l = j_{l−1}·s_l``, where
    ``j_{l−1} = Π_{i<l} s_i`` is the distance, in input pixels, between neighbouring positions of layer l's input.
    With ``input_size``, also the side after each layer: ``⌊(n + 2p − k)/s⌋ + 1``.

    Args:
        kernel_sizes, strides: one per layer.
        paddings: one per layer (default 0); only used for the output sides.
        input_size: side of the input, or None.

    Returns:
        One dict per layer: ``layer`` (1-based), ``k``, ``s``, ``jump_in`` (j_{l−1}), ``growth`` ((k−1)·j_{l−1}),
        ``rf`` (r_l), ``jump_out`` (j_l) and, with ``input_size``, ``size`` (side after the layer).
    """
    kernel_sizes = [_positive_int("kernel size", k) for k in kernel_sizes]
    strides = [_positive_int("stride", s) for s in strides]
    paddings = [0] * len(kernel_sizes) if paddings is None else [_positive_int("padding", p, 0) for p in paddings]
    if not kernel_sizes or not len(kernel_sizes) == len(strides) == len(paddings):
        raise ConfigError(f"receptive_field_table: need one kernel size, stride and padding per layer; got "
                          f"{len(kernel_sizes)}, {len(strides)}, {len(paddings)}")
    size = None if input_size is None else _positive_int("input_size", input_size)
    rows, field, jump = [], 1, 1
    for index, (k, s, p) in enumerate(zip(kernel_sizes, strides, paddings)):
        growth = (k - 1) * jump
        field += growth
        row = {"layer": index + 1, "k": k, "s": s, "jump_in": jump, "growth": growth, "rf": field,
               "jump_out": jump * s}
        if size is not None:
            size = (size + 2 * p - k) // s + 1
            row["size"] = size
        rows.append(row)
        jump *= s
    return rows


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None,
                 headers: Sequence[str] | None = None) -> str:
    """Rows of dicts as a fixed-width text table (right-aligned columns), for printing in a notebook."""
    rows = list(rows)
    if not rows:
        raise ConfigError("format_table needs at least one row")
    columns = list(columns or rows[0].keys())
    headers = list(headers or columns)
    if len(headers) != len(columns):
        raise ConfigError(f"format_table: {len(columns)} columns but {len(headers)} headers")
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in cells]
    return "\n".join(lines)


def input_gradient(fn: Callable, x) -> np.ndarray:
    """Gradient of a scalar function of a tensor with respect to that tensor, on the current Keras backend.

    Keras 3 has no backend-neutral gradient call: this is :func:`colorlab.step.value_and_grad` (the training
    step's), ``tf.GradientTape`` on TensorFlow, ``jax.value_and_grad`` on JAX.

    Args:
        fn: maps a tensor like ``x`` to a scalar tensor (e.g. one logit of a model).
        x: float array.

    Returns:
        float32 NumPy array of ``x``'s shape.

    Raises:
        ConfigError: on another backend.
    """
    from keras import ops

    from colorlab.step import value_and_grad

    x = ops.convert_to_tensor(np.asarray(x, dtype=np.float32))
    _, (grad,) = value_and_grad(lambda params: (fn(params[0]), None), [x])
    return np.asarray(ops.convert_to_numpy(grad), dtype=np.float32)


def logit_gradient(discriminator, x, row: int, col: int) -> np.ndarray:
    """How strongly each input pixel moves one output logit: ``Σ_c |∂ D(x)[0, row, col] / ∂ x[0, :, :, c]|``.

    Nonzero exactly inside the logit's receptive field for a discriminator whose logits depend only on their
    window (spectral norm or no norm; with instance norm every pixel counts a little).

    Args:
        discriminator: a :class:`colorlab.models.PatchDiscriminator` (or any model with a logit map output).
        x: ``(1, H, W, C)`` input.
        row, col: the logit.

    Returns:
        float32 ``(H, W)``.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ConfigError(f"logit_gradient: x must be one image (1, H, W, C), got shape {x.shape}")
    grad = input_gradient(lambda t: discriminator(t, training=False)[0, row, col, 0], x)
    return np.abs(grad[0]).sum(axis=-1)


# ================================================================================================ figures
def plot_receptive_field(image, bounds, gradient=None, title: str = "", size: float = 3.6):
    """A photo with the window one logit judges drawn on it; beside it, optionally, the measured gradient map.

    Args:
        image: ``(H, W, 3)`` in [0, 1] (or ``(H, W)``).
        bounds: ``((top, bottom), (left, right))``, half-open pixel bounds (may reach outside the image, into the
            zero padding: the rectangle is drawn where it is, clipped by the axes).
        gradient: ``(H, W)`` from :func:`logit_gradient`, drawn on a log scale, or None.
        title: figure title.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    from colorlab.course.figures import panel_size

    image = np.asarray(image)
    (top, bottom), (left, right) = bounds
    panels = 1 if gradient is None else 2
    size = panel_size(size, panels, extra=0.6 if gradient is not None else 0)
    fig, axes = plt.subplots(1, panels, figsize=(size * panels + (0.6 if gradient is not None else 0), size),
                             squeeze=False)

    def outline(ax, colour):
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                               edgecolor=colour, linewidth=2))
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")

    ax = axes[0, 0]
    ax.imshow(np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    outline(ax, "yellow")
    ax.set_title(f"window rows {top}:{bottom}, cols {left}:{right}")
    if gradient is not None:
        gradient = np.asarray(gradient, dtype=np.float64)
        positive = gradient[gradient > 0]
        ax = axes[0, 1]
        if positive.size:
            low = max(float(positive.min()), float(positive.max()) * 1e-6)
            drawn = ax.imshow(np.where(gradient > 0, gradient, np.nan), cmap="magma",
                              norm=LogNorm(vmin=low, vmax=float(positive.max())), interpolation="nearest")
            fig.colorbar(drawn, ax=ax, fraction=0.046, pad=0.04, label="|∂ logit / ∂ pixel| (log)")
        ax.set_facecolor("0.85")
        outline(ax, "cyan")
        ax.set_title("measured: pixels with nonzero gradient")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_windows(image, discriminator, cells: Sequence[tuple[int, int]], margin: int = 30, size: float = 3.4):
    """The photo once per logit in ``cells``, with that logit's window (``discriminator.patch_bounds``) drawn.

    The axes extend ``margin`` pixels beyond the image, so windows that reach into the zero padding show it.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from colorlab.course.figures import panel_size

    cells = list(cells)
    if not cells:
        raise ConfigError("plot_windows needs at least one (row, col) cell")
    image = np.asarray(image)
    height, width = image.shape[:2]
    size = panel_size(size, len(cells))
    fig, axes = plt.subplots(1, len(cells), figsize=(size * len(cells), size + 0.2), squeeze=False)
    for ax, (row, col) in zip(axes[0], cells):
        (top, bottom), (left, right) = discriminator.patch_bounds(row, col)
        ax.imshow(np.clip(image, 0, 1))
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                               edgecolor="yellow", linewidth=2))
        ax.set_xlim(-margin, width + margin)
        ax.set_ylim(height + margin, -margin)
        ax.set_title(f"logit ({row}, {col}): rows {top}:{bottom}\ncols {left}:{right}", fontsize=9)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    field = getattr(discriminator, "receptive_field", None)
    fig.suptitle(f"The {field} × {field} window each logit judges" if field else "The window each logit judges")
    fig.tight_layout()
    return fig
