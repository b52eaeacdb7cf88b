"""Chapter 05 (transposed convolutions, the MCN decoder): photos in model units, upsampling by hand, the decoder alone.

The notebook ``notebooks/05_mcn_decoder.ipynb`` keeps its cells short by calling these (chapter 06 reuses
:func:`load_square` and :func:`photo_to_model`); every array helper is unit-tested in
``tests/test_course_ch05_ch06.py``. Four groups:

* **Photos** (:func:`load_square`, :func:`photo_to_model`, :func:`lab_preview`): a sample photo as a square of the
  working size, in the model's units, and model-unit ab back to a picture.
* **Transposed convolution by hand** (NumPy): :func:`transposed_conv_output_size`, :func:`transposed_conv1d`,
  :func:`transposed_conv2d`, :func:`conv_matrix_1d` (why it is called *transposed*), :func:`overlap_count`
  (where the checkerboard artefact comes from), and, with Keras, :func:`upsampling_stack`,
  :func:`constant_response` and :func:`ripple` (the artefact in a randomly initialised stack).
* **Training the decoder alone** (Keras): :func:`decoder_inputs`, :func:`decoder_model`,
  :func:`multiscale_targets`, :func:`fit_decoder`, :func:`saturated_wrong_side` — a short demonstration fit of
  the MCN on one photo pair.
* **Figures** (matplotlib, imported inside): :func:`plot_fit_losses`, :func:`plot_fit_snapshots`,
  :func:`plot_snapshot_error`. Each returns its Figure; the notebook calls ``plt.show()``. The maps of this
  chapter are drawn with :func:`colorlab.course.figures.plot_maps`.

Conventions: images are ``(H, W, 3)`` float32 in [0, 1]; model inputs follow the official Gray2ColorNet code's
scaling (L/50 − 1, ab/110, see :mod:`colorlab.color`); batches are ``(N, H, W, C)``. Keras, the backend and
matplotlib are imported inside the functions that need them, so importing this module is cheap.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from colorlab.errors import ConfigError

__all__ = [
    "load_square", "photo_to_model", "lab_preview",
    "transposed_conv_output_size", "transposed_conv1d", "transposed_conv2d", "conv_matrix_1d", "overlap_count",
    "UPSAMPLERS", "upsampling_stack", "constant_response", "ripple",
    "decoder_inputs", "decoder_model", "multiscale_targets", "fit_decoder", "saturated_wrong_side",
    "plot_fit_losses", "plot_fit_snapshots", "plot_snapshot_error",
]


#: The two ways :func:`upsampling_stack` doubles a feature map: a transposed convolution, or a nearest-neighbour
#: resize followed by an ordinary convolution (Odena et al., Distill 2016).
UPSAMPLERS = ("transposed", "resize")


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ================================================================================================= photos
def load_square(source, size: int) -> np.ndarray:
    """A photo as a ``size x size`` square: the central square crop, resized with Pillow.

    Args:
        source: a sample name (a file stem in ``data/samples``, e.g. ``"flower_1"``), a path, or an image array.
        size: side of the result in pixels.

    Returns:
        float32 ``(size, size, 3)`` in [0, 1].

    Raises:
        ConfigError: unknown sample name or bad size; ``ImageLoadError`` for an unreadable file.
    """
    from PIL import Image

    from colorlab import io

    size = _positive_int("load_square: size", size)
    if isinstance(source, str) and os.path.sep not in source and not os.path.exists(source):
        paths = {p.stem: p for p in io.sample_paths()}
        if source not in paths:
            raise ConfigError(f"load_square: no sample photo named {source!r}; available: {sorted(paths)}")
        source = paths[source]
    rgb = io.load_image(source)
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = np.round(rgb[top:top + side, left:left + side] * 255.0).astype(np.uint8)
    resample = Image.BOX if side >= size else Image.BICUBIC   # BOX: area averaging when shrinking
    resized = Image.fromarray(crop).resize((size, size), resample=resample)
    return np.asarray(resized, dtype=np.float32) / 255.0


def photo_to_model(rgb) -> dict:
    """One photo in the generator's units, as batches of one.

    Args:
        rgb: ``(H, W, 3)`` in [0, 1].

    Returns:
        dict of float32 NumPy arrays: ``"L"`` ``(1, H, W, 1)`` = L/50 − 1, ``"lab"`` ``(1, H, W, 3)`` =
        (L/50 − 1, a/110, b/110) (a reference input), ``"ab"`` ``(1, H, W, 2)`` = ab/110 (a training target).
    """
    import keras

    from colorlab import color

    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ConfigError(f"photo_to_model: expected an (H, W, 3) image, got shape {rgb.shape}")
    lab = keras.ops.convert_to_numpy(color.normalize_lab(color.rgb_to_lab(rgb))).astype(np.float32)[None]
    return {"L": lab[..., :1].copy(), "lab": lab, "ab": lab[..., 1:].copy()}


def _block_mean(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(H, W[, C]) → (rows, cols[, C]) by area averaging (exact box means when H, W are multiples)."""
    height, width = x.shape[:2]
    if (height, width) == (rows, cols):
        return x
    if height % rows == 0 and width % cols == 0:
        fh, fw = height // rows, width // cols
        return x.reshape(rows, fh, cols, fw, *x.shape[2:]).mean(axis=(1, 3))
    import keras

    from colorlab.losses import area_resize

    batch = x.reshape(1, height, width, -1)
    out = keras.ops.convert_to_numpy(area_resize(batch.astype(np.float32), (rows, cols)))[0]
    return out.reshape(rows, cols, *x.shape[2:])


def lab_preview(L, ab) -> np.ndarray:
    """A model-unit ab map shown in colour, with the photo's lightness averaged down to the ab map's size.

    Args:
        L: ``(H, W)`` or ``(H, W, 1)`` lightness in model units (L/50 − 1), at full resolution.
        ab: ``(h, w, 2)`` in model units (ab/110), h ≤ H, w ≤ W (e.g. the 1/4 or 1/2 output).

    Returns:
        RGB float32 ``(h, w, 3)`` in [0, 1] (out-of-gamut colours clipped).
    """
    import keras

    from colorlab import color

    L = np.asarray(L, dtype=np.float32)
    L = L[..., 0] if L.ndim == 3 else L
    ab = np.asarray(ab, dtype=np.float32)
    if L.ndim != 2 or ab.ndim != 3 or ab.shape[-1] != 2:
        raise ConfigError(f"lab_preview: expected L (H, W) and ab (h, w, 2), got {L.shape} and {ab.shape}")
    small_l = _block_mean(L, *ab.shape[:2])
    lab = np.concatenate([small_l[..., None], ab], axis=-1)
    rgb = color.lab_to_rgb(color.denormalize_lab(lab))
    return keras.ops.convert_to_numpy(rgb).astype(np.float32)


# ================================================================================ transposed convolution
def transposed_conv_output_size(size, kernel_size, stride, padding=0, output_padding=0):
    """Output length of a transposed convolution: ``(n − 1)·s − 2p + k + output_padding``.

    Each of the n inputs stamps a k-long copy of the kernel, the stamps ``s`` apart: ``(n − 1)·s + k`` outputs
    ("full" output); then ``p`` are cropped at each end, and ``output_padding`` extra positions may be kept at
    the end (PyTorch's and Keras' way to pick among the sizes a strided convolution maps to one size).
    Keras' ``padding="same"`` gives ``n·s``; its ``padding="valid"`` is ``p = 0``, ``(n − 1)·s + max(k, s)``.

    Args:
        size, kernel_size, stride: n ≥ 1, k ≥ 1, s ≥ 1 (ints, or NumPy int arrays for n).
        padding, output_padding: p ≥ 0, and 0 ≤ output_padding < s.

    Returns:
        The output length (same type as ``size``).

    Raises:
        ConfigError: a bad argument or a result below 1.
    """
    kernel_size = _positive_int("kernel_size", kernel_size)
    stride = _positive_int("stride", stride)
    padding = _positive_int("padding", padding, minimum=0)
    output_padding = _positive_int("output_padding", output_padding, minimum=0)
    if output_padding >= stride:
        raise ConfigError(f"output_padding must be smaller than the stride ({stride}), got {output_padding}")
    n = np.asarray(size)
    if not np.issubdtype(n.dtype, np.integer) or np.any(n < 1):
        raise ConfigError(f"size must be integers >= 1, got {size!r}")
    out = (n - 1) * stride - 2 * padding + kernel_size + output_padding
    if np.any(out < 1):
        raise ConfigError(f"a transposed convolution (k={kernel_size}, s={stride}, p={padding}) of size {size!r} "
                          f"leaves no output")
    return int(out) if n.ndim == 0 else out


def transposed_conv1d(x, kernel, stride: int) -> np.ndarray:
    """1-D transposed convolution, one channel, no padding ("full" output), written as stamps.

    ``y[i·s + t] += x[i] · w[t]`` for every input i and kernel tap t: each input value stamps a scaled copy of
    the kernel, the copies ``s`` apart; where copies overlap they add up.

    Args:
        x: ``(n,)`` input.
        kernel: ``(k,)`` weights w.
        stride: s.

    Returns:
        float64 ``(( n − 1)·s + k,)``.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    stride = _positive_int("stride", stride)
    if x.ndim != 1 or kernel.ndim != 1 or not x.size or not kernel.size:
        raise ConfigError(f"transposed_conv1d: x and kernel must be non-empty 1-D arrays, got {x.shape} "
                          f"and {kernel.shape}")
    out = np.zeros((x.size - 1) * stride + kernel.size)
    for i, value in enumerate(x):
        out[i * stride:i * stride + kernel.size] += value * kernel
    return out


def transposed_conv2d(x, kernel, stride: int) -> np.ndarray:
    """2-D transposed convolution, one channel, no padding: ``y[i·s + u, j·s + v] += x[i, j] · w[u, v]``.

    Args:
        x: ``(h, w)``; kernel: ``(k, k)`` (or any ``(kh, kw)``); stride: s, the same along both axes.

    Returns:
        float64 ``((h − 1)·s + kh, (w − 1)·s + kw)``.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    stride = _positive_int("stride", stride)
    if x.ndim != 2 or kernel.ndim != 2 or not x.size or not kernel.size:
        raise ConfigError(f"transposed_conv2d: x and kernel must be non-empty 2-D arrays, got {x.shape} "
                          f"and {kernel.shape}")
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i * stride:i * stride + kh, j * stride:j * stride + kw] += x[i, j] * kernel
    return out


def conv_matrix_1d(input_size: int, kernel, stride: int) -> np.ndarray:
    """The matrix C of a strided 1-D convolution without padding: ``(C x)[j] = Σ_t w[t]·x[j·s + t]``.

    Deep-learning "convolution" is a cross-correlation (the kernel is not flipped); this is that operation.
    ``C.T`` is the transposed convolution: ``C.T @ y == transposed_conv1d(y, w, s)`` whenever the sizes
    match, i.e. ``input_size == (m − 1)·s + k`` — hence the name.

    Args:
        input_size: n; kernel: ``(k,)``; stride: s.

    Returns:
        float64 ``(m, n)`` with ``m = ⌊(n − k)/s⌋ + 1`` outputs.
    """
    n = _positive_int("input_size", input_size)
    kernel = np.asarray(kernel, dtype=np.float64)
    stride = _positive_int("stride", stride)
    if kernel.ndim != 1 or not 1 <= kernel.size <= n:
        raise ConfigError(f"conv_matrix_1d: kernel must be 1-D with 1..{n} taps, got shape {kernel.shape}")
    m = (n - kernel.size) // stride + 1
    matrix = np.zeros((m, n))
    for j in range(m):
        matrix[j, j * stride:j * stride + kernel.size] = kernel
    return matrix


def overlap_count(input_size, kernel_size: int, stride: int) -> np.ndarray:
    """How many kernel taps land on each output position of a transposed convolution (no padding).

    The transposed convolution of an all-ones input with an all-ones kernel. If ``k`` is divisible by ``s``
    every interior position receives ``k/s`` taps per axis; otherwise the count alternates (⌈k/s⌉ and ⌊k/s⌋),
    the "uneven overlap" behind the checkerboard artefact (Odena et al., Distill 2016). In 2-D the count is the
    outer product of the two 1-D counts.

    Args:
        input_size: n (1-D) or ``(h, w)`` (2-D).
        kernel_size, stride: k and s (square kernels in 2-D).

    Returns:
        int64 ``((n − 1)·s + k,)`` or ``((h − 1)·s + k, (w − 1)·s + k)``.
    """
    kernel_size = _positive_int("kernel_size", kernel_size)
    stride = _positive_int("stride", stride)
    if isinstance(input_size, (tuple, list)):
        if len(input_size) != 2:
            raise ConfigError(f"overlap_count: input_size must be an int or (h, w), got {input_size!r}")
        rows, cols = (overlap_count(n, kernel_size, stride) for n in input_size)
        return np.outer(rows, cols)
    n = _positive_int("input_size", input_size)
    return np.rint(transposed_conv1d(np.ones(n), np.ones(kernel_size), stride)).astype(np.int64)


# ------------------------------------------------------------------------------------ the artefact in Keras
def upsampling_stack(kind: str = "transposed", n_layers: int = 3, kernel_size: int = 3, stride: int = 2,
                     channels: int = 8, kernel_initializer="glorot_uniform", seed: int | None = None):
    """A stack of ``n_layers`` 2x upsampling layers, as at the start of training (random weights, no bias).

    * ``"transposed"``: ``Conv2DTranspose(k, strides=s, padding="same")`` per layer (output side ×s).
    * ``"resize"``: ``UpSampling2D(s, "nearest")`` then ``Conv2D(k, padding="same")`` per layer — the fix Odena
      et al. (Distill 2016) recommend: every output position sees the same number of taps by construction.

    ReLU between layers; the last layer has one channel (so the result is one map to look at).

    Args:
        kind: one of :data:`UPSAMPLERS`.
        n_layers, kernel_size, stride, channels: the stack's shape.
        kernel_initializer: any Keras initializer (``"ones"`` shows pure overlap counts).
        seed: seeds the initializer (same seed → same weights).

    Returns:
        An unbuilt ``keras.Sequential``; input ``(N, h, w, C)`` → output ``(N, h·s^n, w·s^n, 1)``.
    """
    import keras
    from keras import layers

    if kind not in UPSAMPLERS:
        raise ConfigError(f"upsampling_stack: kind must be one of {UPSAMPLERS}, got {kind!r}")
    n_layers = _positive_int("n_layers", n_layers)
    kernel_size = _positive_int("kernel_size", kernel_size)
    stride = _positive_int("stride", stride)
    channels = _positive_int("channels", channels)
    stack = []
    for index in range(n_layers):
        filters = 1 if index == n_layers - 1 else channels
        init = keras.initializers.get(kernel_initializer)
        if seed is not None and hasattr(init, "seed"):
            init = init.__class__.from_config({**init.get_config(), "seed": seed + index})
        if kind == "transposed":
            stack.append(layers.Conv2DTranspose(filters, kernel_size, strides=stride, padding="same",
                                                use_bias=False, kernel_initializer=init))
        else:
            stack.append(layers.UpSampling2D(stride, interpolation="nearest"))
            stack.append(layers.Conv2D(filters, kernel_size, padding="same", use_bias=False,
                                       kernel_initializer=init))
        if index < n_layers - 1:
            stack.append(layers.ReLU())
    return keras.Sequential(stack, name=f"{kind}_k{kernel_size}_s{stride}")


def constant_response(stack, input_size: int = 8, channels: int = 8, value: float = 1.0) -> np.ndarray:
    """The first output channel of ``stack`` for a constant input ``(1, input_size, input_size, channels)``.

    A constant input has no structure; whatever pattern the output shows away from the borders comes from the
    upsampling itself. Returns float32 ``(H, W)``.
    """
    import keras

    input_size = _positive_int("input_size", input_size)
    channels = _positive_int("channels", channels)
    x = np.full((1, input_size, input_size, channels), value, dtype=np.float32)
    return keras.ops.convert_to_numpy(stack(x))[0, ..., 0].astype(np.float32)


def ripple(image, margin: int | None = None) -> float:
    """Relative variation of a map away from its borders: ``std(interior) / mean(|interior|)``.

    For the response to a constant input any variation is an artefact of the upsampling: 0 means flat.

    Args:
        image: ``(H, W)``.
        margin: pixels dropped on every side (border effects of the zero padding); default ``min(H, W) // 4``.

    Returns:
        A float ≥ 0 (0 also for an all-zero interior).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ConfigError(f"ripple: expected a 2-D map, got shape {image.shape}")
    margin = min(image.shape) // 4 if margin is None else _positive_int("margin", margin, minimum=0)
    interior = image[margin:image.shape[0] - margin, margin:image.shape[1] - margin]
    if not interior.size:
        raise ConfigError(f"ripple: margin {margin} leaves nothing of a {image.shape} map")
    scale = float(np.mean(np.abs(interior)))
    return 0.0 if scale == 0.0 else float(np.std(interior) / scale)


# ====================================================================================== the decoder alone
def decoder_inputs(model, target_l, reference_lab) -> list[np.ndarray]:
    """What the MCN decoder of ``model`` receives for one pair: 6 target feature maps, then 3 fused maps.

    Args:
        model: a built :class:`colorlab.models.Gray2ColorNet`.
        target_l: ``(N, H, W, 1)``; reference_lab: ``(N, h, w, 3)``, model units. H and W must be multiples of
            8 (the encoder's total stride), so no padding is involved.

    Returns:
        list of 9 float32 arrays: the encoder's ``block1..block6`` of the target (strides 1, 2, 4, 8, 8, 8), then
        the GCFN's fused colour features at 1/8, 1/4, 1/2.
    """
    import keras

    target_l = np.asarray(target_l, dtype=np.float32)
    if target_l.ndim != 4 or target_l.shape[1] % 8 or target_l.shape[2] % 8:
        raise ConfigError(f"decoder_inputs: target_l must be (N, H, W, 1) with H, W multiples of 8, "
                          f"got {target_l.shape}")
    _, internals = model([target_l, np.asarray(reference_lab, dtype=np.float32)], return_internals=True)
    maps = list(internals["target_features"]) + list(internals["fused"])
    return [keras.ops.convert_to_numpy(m).astype(np.float32) for m in maps]


def decoder_model(model, inputs: Sequence[np.ndarray]):
    """A functional ``keras.Model`` around ``model.mcn``: the 9 decoder inputs → the three ab outputs.

    It *shares* the MCN's weights with ``model``: training it trains ``model``'s decoder.

    Args:
        model: a built Gray2ColorNet; inputs: the list from :func:`decoder_inputs` (for the shapes).

    Returns:
        ``keras.Model`` with outputs ``{"ab_quarter", "ab_half", "ab"}`` (tanh, model units).
    """
    import keras

    if len(inputs) != 9:
        raise ConfigError(f"decoder_model: expected the 9 maps of decoder_inputs, got {len(inputs)}")
    tensors = [keras.Input(shape=np.shape(x)[1:], name=f"in{i}") for i, x in enumerate(inputs)]
    quarter, half, full = model.mcn(tensors[:6], tensors[6:])
    return keras.Model(tensors, {"ab_quarter": quarter, "ab_half": half, "ab": full}, name="mcn_alone")


def multiscale_targets(ab) -> dict:
    """Ground truth at the decoder's three scales, by area averaging (as :func:`colorlab.losses.multiscale_smooth_l1`).

    Args:
        ab: ``(N, H, W, 2)`` model units, H and W multiples of 4.

    Returns:
        dict of float32 arrays ``"ab"`` ``(N, H, W, 2)``, ``"ab_half"`` ``(N, H/2, W/2, 2)``,
        ``"ab_quarter"`` ``(N, H/4, W/4, 2)``.
    """
    ab = np.asarray(ab, dtype=np.float32)
    if ab.ndim != 4 or ab.shape[-1] != 2 or ab.shape[1] % 4 or ab.shape[2] % 4:
        raise ConfigError(f"multiscale_targets: expected (N, H, W, 2) with H, W multiples of 4, got {ab.shape}")
    n, height, width, _ = ab.shape

    def pool(factor):
        return ab.reshape(n, height // factor, factor, width // factor, factor, 2).mean(axis=(2, 4))

    return {"ab": ab, "ab_half": pool(2), "ab_quarter": pool(4)}


def fit_decoder(model, inputs: Sequence[np.ndarray], target_ab, steps: int, snapshot_steps: Sequence[int] = (),
                learning_rate: float = 2e-3, log_every: int = 10, scale_weights: Sequence[float] | None = None):
    """Trains ``model``'s MCN alone on one example (everything before it frozen) and records how it learns.

    Loss: :func:`colorlab.losses.smooth_l1` at each scale against :func:`multiscale_targets`, weighted by
    ``scale_weights`` for (full, half, quarter) — the multi-scale reconstruction loss of chapter 07. Adam,
    batch size 1, through ``model.fit`` (so it runs on any Keras backend).

    Args:
        model: a built Gray2ColorNet; its decoder weights change.
        inputs: the 9 maps from :func:`decoder_inputs` (batch of one).
        target_ab: ``(1, H, W, 2)`` model units.
        steps: training steps (a multiple of ``log_every``).
        snapshot_steps: steps after which the three outputs are recorded (multiples of ``log_every``, ≤ steps);
            step 0 (before training) is always recorded.
        learning_rate: Adam's step size.
        log_every: the loss curve has one point (the mean over these steps) per ``log_every`` steps.
        scale_weights: weights of (full, half, quarter); default :data:`colorlab.losses.DEFAULT_SCALE_WEIGHTS`.

    Returns:
        dict: ``"steps"`` (int array, the end step of each logged window), ``"loss"`` ``{"ab", "ab_half",
        "ab_quarter", "total"}`` → float arrays (unweighted per-scale losses and the weighted total), and
        ``"snapshots"`` ``{step: {"ab_quarter", "ab_half", "ab"} → (H_s, W_s, 2)}``.
    """
    import keras

    from colorlab import losses

    steps = _positive_int("steps", steps)
    log_every = _positive_int("log_every", log_every)
    if steps % log_every:
        raise ConfigError(f"fit_decoder: steps ({steps}) must be a multiple of log_every ({log_every})")
    marks = sorted({0, steps, *(int(s) for s in snapshot_steps)})
    if any(s % log_every or not 0 <= s <= steps for s in marks):
        raise ConfigError(f"fit_decoder: snapshot_steps must be multiples of log_every ({log_every}) in "
                          f"[0, {steps}], got {list(snapshot_steps)}")
    weights = losses.DEFAULT_SCALE_WEIGHTS if scale_weights is None else tuple(scale_weights)
    decoder = decoder_model(model, inputs)

    def scale_loss(y_true, y_pred):
        return losses.smooth_l1(y_pred, y_true)

    keys = ("ab", "ab_half", "ab_quarter")
    decoder.compile(optimizer=keras.optimizers.Adam(learning_rate),
                    loss={key: scale_loss for key in keys},
                    loss_weights={key: float(w) for key, w in zip(keys, weights)})
    x = [np.repeat(np.asarray(m, dtype=np.float32), log_every, axis=0) for m in inputs]
    y = {key: np.repeat(value, log_every, axis=0) for key, value in multiscale_targets(target_ab).items()}

    def snapshot():
        out = decoder([np.asarray(m, dtype=np.float32) for m in inputs], training=False)
        return {key: keras.ops.convert_to_numpy(out[key])[0] for key in ("ab_quarter", "ab_half", "ab")}

    history = {key: [] for key in (*keys, "total")}
    snapshots = {0: snapshot()}
    for start, stop in zip(marks[:-1], marks[1:]):
        logs = decoder.fit(x, y, batch_size=1, epochs=(stop - start) // log_every, shuffle=False, verbose=0)
        for key in keys:
            history[key].extend(logs.history[f"{key}_loss"])
        history["total"].extend(logs.history["loss"])
        snapshots[stop] = snapshot()
    return {"steps": np.arange(1, steps // log_every + 1) * log_every,
            "loss": {key: np.asarray(values) for key, values in history.items()},
            "snapshots": {step: snapshots[step] for step in marks}}


def saturated_wrong_side(ab, truth_ab, threshold: float = 0.95, min_truth: float = 0.05) -> int:
    """How many ab values sit in a saturated tanh on the wrong side of zero.

    Counts values with ``|ab| > threshold`` whose sign differs from the truth's, among those where the truth is
    clearly coloured (``|truth| > min_truth``). There the tanh's slope is below ``1 − threshold²`` (0.1 for 0.95),
    so the value barely moves during training.

    Args:
        ab, truth_ab: arrays of the same shape, model units.

    Returns:
        int.
    """
    ab, truth_ab = np.asarray(ab), np.asarray(truth_ab)
    if ab.shape != truth_ab.shape:
        raise ConfigError(f"saturated_wrong_side: shapes differ, {ab.shape} vs {truth_ab.shape}")
    wrong = (np.abs(ab) > threshold) & (np.sign(ab) != np.sign(truth_ab)) & (np.abs(truth_ab) > min_truth)
    return int(wrong.sum())


# ================================================================================================ figures
_SCALE_LABELS = {"ab_quarter": "1/4", "ab_half": "1/2", "ab": "full size"}


def plot_fit_losses(fit: dict):
    """Each head's loss during :func:`fit_decoder`, on a log scale (one point per logged window)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for key, label in _SCALE_LABELS.items():
        ax.semilogy(fit["steps"], np.maximum(fit["loss"][key], 1e-6), marker=".", label=f"output at {label}")
    window = int(fit["steps"][0]) if len(fit["steps"]) else 1
    ax.set_xlabel("training step")
    ax.set_ylabel(f"smooth-L1 loss (mean over {window} steps)")
    ax.set_title("Each head's loss during the demonstration fit")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_fit_snapshots(fit: dict, L, truth: dict, size: float = 2.5):
    """Grid of the three outputs (columns 1/4, 1/2, full) at each snapshot of :func:`fit_decoder` (rows), and the
    ground truth from :func:`multiscale_targets` as the last row; colours shown with :func:`lab_preview`.

    Args:
        fit: the dict from :func:`fit_decoder`; L: ``(H, W)`` or ``(H, W, 1)`` model units; truth: batch-of-one
            targets ``{"ab", "ab_half", "ab_quarter"}``.
    """
    import matplotlib.pyplot as plt

    steps = list(fit["snapshots"])
    fig, axes = plt.subplots(len(steps) + 1, 3, figsize=(3.2 * size, size * (len(steps) + 1)), squeeze=False)
    for row, step in enumerate(steps + ["truth"]):
        for col, key in enumerate(_SCALE_LABELS):
            ab = truth[key][0] if step == "truth" else fit["snapshots"][step][key]
            ax = axes[row, col]
            ax.imshow(lab_preview(L, ab), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"output at {_SCALE_LABELS[key]}")
            if col == 0:
                ax.set_ylabel("ground truth" if step == "truth" else f"step {step}")
    fig.suptitle("Coarse to fine: the three outputs during the fit (rows) and the ground truth (bottom)")
    fig.tight_layout()
    return fig


def plot_snapshot_error(L, ab, truth_ab, title: str = "", max_error: float = 60.0):
    """One output in colour beside its error map ``110·‖ab − truth‖`` in Lab units.

    Args:
        L: full-resolution lightness, model units; ab, truth_ab: ``(h, w, 2)`` model units, same shape.
        max_error: top of the error colour scale (Lab units).
    """
    import matplotlib.pyplot as plt

    ab, truth_ab = np.asarray(ab), np.asarray(truth_ab)
    if ab.shape != truth_ab.shape:
        raise ConfigError(f"plot_snapshot_error: ab {ab.shape} and truth {truth_ab.shape} differ")
    error = 110.0 * np.linalg.norm(ab - truth_ab, axis=-1)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.4))
    axes[0].imshow(lab_preview(L, ab), interpolation="nearest")
    axes[0].set_title(title or "output")
    drawn = axes[1].imshow(error, cmap="magma", vmin=0, vmax=max_error, interpolation="nearest")
    fig.colorbar(drawn, ax=axes[1], label="|Δab| (Lab units)")
    axes[1].set_title(f"error, mean {error.mean():.1f} Lab units")
    for ax in axes:
        ax.set_xlabel("x (pixels of this scale)")
        ax.set_ylabel("y")
    fig.tight_layout()
    return fig
