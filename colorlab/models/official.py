"""The authors' trained Gray2ColorNet: their PyTorch checkpoint read without PyTorch, into the official config.

The official release (CV-xueba/Gray2ColorNet, test code only) links its ImageNet weights from its README; the
generator is ``latest_net_G.pth``, a PyTorch ``state_dict``. :func:`load_official_weights` turns that file into a
:class:`~colorlab.models.Gray2ColorNet` of :meth:`~colorlab.models.Gray2ColorConfig.official` (the official code's
generator, exactly), and :func:`convert_official_checkpoint` writes it as a colorlab generator
(``.weights.h5`` + ``.json``, what ``colorlab colorize``, ``video`` and ``eval`` load).

Reading without running code. A ``.pth`` file is a pickle, and unpickling can run any function the file names.
:func:`read_torch_state_dict` parses the file itself and unpickles with a whitelist of exactly what a tensor
``state_dict`` needs: ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the ``torch.*Storage``
types (mapped to NumPy dtypes) and the ``('storage', ...)`` persistent ids that point at the raw tensor data. Any
other name in the file (``os.system``, a model class, ...) is refused before anything is called. Both of PyTorch's
formats are read: the zip archive (``<name>/data.pkl`` + ``<name>/data/<key>``, PyTorch >= 1.6) and the older
single stream (magic number, protocol, system info, the pickle, the storage keys, then each storage's raw bytes).

The mapping (every tensor; anything unknown, missing or of another shape is refused, naming it):

================================  =====================================  ============================================
official name                     colorlab layer                         layout
================================  =====================================  ============================================
``model1`` ... ``model6``         ``encoder.block1`` ... ``block6``      Conv2d ``(O, I, kh, kw)`` -> ``(kh, kw, I, O)``
``ref_network.model1``, ``2``     ``color_encoder.block1``, ``block2``   Conv2d
``ref_network.model3``, ``4``     ``gcfn.warped_pyramid.block_quarter``, Conv2d
                                  ``block_eighth``
``global_network.model``,         ``gcfn.histogram_encoder.dense1-3``,   1 x 1 Conv2d ``(O, I, 1, 1)`` -> Dense
``.model_1`` ... ``.model_3``     ``head1-3``                            ``(I, O)``
``conf_feature.fc1``, ``fc2``     ``gcfn.gate.dense``, ``out``           Conv1d ``(O, I, 1)`` -> Dense ``(I, O)``
``resblock{s}_1``                 ``mcn.stage{s+1}.entry_conv``          Conv2d (with the bias the official keeps)
``resblock{s}_2``, ``_3``         ``mcn.stage{s+1}.res1``, ``res2``      Conv2d
``model8up``/``9up``/``10up``     ``mcn.stage1-3.up``                    ConvTranspose2d ``(I, O, kh, kw)`` ->
                                                                         ``(kh, kw, O, I)``
``model3short8`` ... ``1short10`` ``mcn.stage1-3.skip_conv``             Conv2d
``model8``, ``model9``,           ``mcn.stage1-3.post_conv*``            Conv2d
``model10``
``model_out1`` ... ``3``          ``mcn.stage1-3.ab_head``               Conv2d
``classify_network.fc``           ``classifier.logits``                  Linear ``(O, I)`` -> Dense ``(I, O)``
================================  =====================================  ============================================

The official instance norms have no weights (``affine=False``); ``running_mean``, ``running_var`` and
``num_batches_tracked`` buffers at their positions (old PyTorch versions saved them) are dropped, as the official
loader drops them. A ``module.`` prefix on every name (a model saved inside ``DataParallel``) is removed.

Inputs of the converted model are colorlab's usual ``model([target_l, reference_lab])`` (``L / 50 - 1``;
``(L / 50 - 1, a / 110, b / 110)``, the reference 128 x 128), outputs the usual dict of ab in model units plus
1000 ImageNet logits: the official ``forward(input, bias_input, ref_input, ref_color)`` reads the same numbers
(``bias_input`` is the histogram the model computes here from the reference's ab).

Checked against the official code (outside this package: the official ``networks.py`` with random weights drawn by
its own ``init_weights``, saved by ``torch.save`` in both formats, two photo pairs at 128 x 128): both files read
back bit for bit; in float64 on both sides the three ab outputs agree to 6e-6 (ab / 110) and the logits to 1e-12,
so the mapping is exact. In float32 they agree to 3e-4 (TensorFlow) and 2e-4 (JAX): that is float32 rounding, grown
through the instance norms of an untrained network — PyTorch's own float32 run is 2.3e-4 from its float64 run.
"""

from __future__ import annotations

import collections
import os
import pathlib
import pickle
import struct
import zipfile

import numpy as np

from colorlab.errors import CheckpointError, ConfigError, OutputExistsError
from colorlab.models.config import SWITCHES, Gray2ColorConfig
from colorlab.models.gray2colornet import Gray2ColorNet, build_gray2colornet
from colorlab.models.weights import WEIGHTS_SUFFIX, config_path_for, save_generator

__all__ = ["OFFICIAL_CHECKPOINT", "read_torch_state_dict", "official_weight_map", "convert_state_dict",
           "load_official_weights", "convert_official_checkpoint"]

#: The generator's file in the official release (pix2pix's naming: epoch ``latest``, network ``G``).
OFFICIAL_CHECKPOINT = "latest_net_G.pth"

#: PyTorch's storage types and the NumPy dtypes of their elements (little-endian).
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"), "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"), "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


class _StorageType:
    """What a ``torch.<X>Storage`` global unpickles to: its name and element dtype."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage a tensor points at: its key in the file, element dtype and length (its bytes are read later)."""

    def __init__(self, key, storage_type, numel, view=None):
        self.key = str(key)
        self.storage_type = storage_type
        self.numel = int(numel)
        self.view = view    # legacy format only: (root key, offset, size) of a storage that views another


class _TensorRecord:
    """A tensor as the pickle describes it: a storage, an offset, a size and strides (in elements)."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    """Stands in for ``torch._utils._rebuild_tensor_v2`` (requires_grad, hooks and metadata are ignored)."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor whose storage is not a ('storage', ...) record")
    return _TensorRecord(storage, storage_offset, size, stride)


class _TensorUnpickler(pickle.Unpickler):
    """An unpickler that knows only what a tensor state_dict needs; every other global is refused uncalled."""

    def __init__(self, file, legacy):
        super().__init__(file)
        self.legacy = legacy
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a tensor state_dict never needs "
                                     "(refused, nothing was run)")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:80]!r}")
        fields = pid[1:]
        if len(fields) < 4 or not isinstance(fields[0], _StorageType):
            raise pickle.UnpicklingError("a malformed ('storage', ...) record")
        storage_type, key, _location, numel = fields[:4]
        view = fields[4] if self.legacy and len(fields) > 4 else None
        key = key.decode() if isinstance(key, bytes) else str(key)
        if view is not None:   # legacy: (view key, offset, size), a storage inside the root storage ``key``
            view_key, offset, size = view
            root = self.storages.setdefault(key, _Storage(key, storage_type, numel))
            return self.storages.setdefault(str(view_key), _Storage(view_key, storage_type, size,
                                                                    view=(root, int(offset))))
        return self.storages.setdefault(key, _Storage(key, storage_type, numel))


def _bad(path, reason) -> CheckpointError:
    return CheckpointError(f"cannot read {os.fspath(path)!r} as a PyTorch state_dict: {reason}")


def _array(storage, data: bytes, path) -> np.ndarray:
    """The raw bytes of a storage as a 1-D NumPy array (bfloat16 widened to float32)."""
    dtype = storage.storage_type.dtype
    if len(data) < storage.numel * dtype.itemsize:
        raise _bad(path, f"storage {storage.key} is truncated")
    array = np.frombuffer(data, dtype=dtype, count=storage.numel)
    if storage.storage_type.name == "BFloat16Storage":
        array = (array.astype("<u4") << 16).view("<f4")
    return array


def _materialize(record: _TensorRecord, storage_arrays: dict, path) -> np.ndarray:
    storage = record.storage
    if storage.view is not None:
        root, offset = storage.view
        array = storage_arrays[root.key][offset:offset + storage.numel]
    else:
        array = storage_arrays[storage.key]
    if len(record.size) != len(record.stride) or any(s < 0 for s in record.size + record.stride):
        raise _bad(path, "a tensor with a malformed size or stride")
    if 0 in record.size:
        return np.zeros(record.size, dtype=array.dtype)
    last = record.offset + sum((n - 1) * s for n, s in zip(record.size, record.stride))
    if record.offset < 0 or last >= array.size:
        raise _bad(path, f"a tensor reaches past the end of its storage {storage.key}")
    strides = tuple(s * array.itemsize for s in record.stride)
    view = np.lib.stride_tricks.as_strided(array[record.offset:], shape=record.size, strides=strides)
    return np.array(view)


def _state_dict_of(obj, path) -> dict:
    if not isinstance(obj, dict):
        raise _bad(path, f"it holds a {type(obj).__name__}, not a state_dict (a dict of tensors)")
    bad = [key for key, value in obj.items() if not isinstance(key, str) or not isinstance(value, _TensorRecord)]
    if bad:
        raise _bad(path, f"entry {bad[0]!r} is not a named tensor (a state_dict holds only tensors)")
    return obj


def _read_zip(path, archive: zipfile.ZipFile) -> dict:
    names = archive.namelist()
    pickles = [name for name in names if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        generators = [name for name in names if name.endswith("_net_G.pth")]
        if generators:
            raise _bad(path, f"this is a zip of checkpoints, not a checkpoint: unzip it and convert "
                             f"{generators[0]!r}")
        raise _bad(path, "a zip file without PyTorch's <name>/data.pkl")
    prefix = pickles[0][:-len("data.pkl")]
    if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
        raise _bad(path, "it was saved on a big-endian machine (not supported)")
    with archive.open(pickles[0]) as stream:
        unpickler = _TensorUnpickler(stream, legacy=False)
        state = _state_dict_of(unpickler.load(), path)
    arrays = {}
    for key, storage in unpickler.storages.items():
        try:
            arrays[key] = _array(storage, archive.read(f"{prefix}data/{key}"), path)
        except KeyError:
            raise _bad(path, f"storage {key} is missing from the archive") from None
    return {name: _materialize(record, arrays, path) for name, record in state.items()}


def _read_legacy(path, stream) -> dict:
    try:
        magic = _TensorUnpickler(stream, legacy=True).load()
    except (pickle.UnpicklingError, EOFError, ValueError, IndexError):
        magic = None
    if magic != _LEGACY_MAGIC:
        raise _bad(path, "neither a zip archive nor PyTorch's legacy format")
    protocol = _TensorUnpickler(stream, legacy=True).load()
    if protocol != _LEGACY_PROTOCOL:
        raise _bad(path, f"legacy protocol {protocol!r} (only {_LEGACY_PROTOCOL} is known)")
    info = _TensorUnpickler(stream, legacy=True).load()
    if not isinstance(info, dict) or not info.get("little_endian", False):
        raise _bad(path, "it was saved on a big-endian machine (not supported)")
    unpickler = _TensorUnpickler(stream, legacy=True)
    state = _state_dict_of(unpickler.load(), path)
    keys = _TensorUnpickler(stream, legacy=True).load()
    if not isinstance(keys, list):
        raise _bad(path, "a malformed list of storage keys")
    arrays = {}
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise _bad(path, f"storage {key!r} is not used by any tensor")
        header = stream.read(8)
        if len(header) != 8 or struct.unpack("<q", header)[0] != storage.numel:
            raise _bad(path, f"storage {key} has a bad size header")
        arrays[storage.key] = _array(storage, stream.read(storage.numel * storage.storage_type.dtype.itemsize), path)
    missing = [s.key for s in unpickler.storages.values() if s.view is None and s.key not in arrays]
    if missing:
        raise _bad(path, f"storage {missing[0]} is missing")
    return {name: _materialize(record, arrays, path) for name, record in state.items()}


def read_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A PyTorch ``state_dict`` file (``torch.save(model.state_dict(), path)``) as NumPy arrays, no code run.

    Reads the zip format (PyTorch >= 1.6) and the legacy format; unpickles with a whitelist (module docstring).

    Returns:
        ``{name: array}`` in the file's order, each array with the tensor's shape and dtype (bfloat16 as float32).

    Raises:
        CheckpointError: a missing file, another format, a pickle naming anything outside the whitelist, or a
            truncated or inconsistent file; one line naming the file and the problem.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot read {os.fspath(path)!r}: no such file")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return _read_zip(path, archive)
        with open(path, "rb") as stream:
            return _read_legacy(path, stream)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error) as error:
        raise _bad(path, " ".join(str(error).split())[:200] or type(error).__name__) from None


# ------------------------------------------------------------------------------------------------ mapping
# How each kind of official tensor becomes a Keras variable: (to Keras, the official shape of a Keras shape).
_LAYOUTS = {
    "conv": (lambda w: w.transpose(2, 3, 1, 0), lambda s: (s[3], s[2], s[0], s[1])),         # OIHW -> HWIO
    "conv_transpose": (lambda w: w.transpose(2, 3, 1, 0), lambda s: (s[3], s[2], s[0], s[1])),  # IOHW -> HWOI
    "conv1x1": (lambda w: w[:, :, 0, 0].T, lambda s: (s[1], s[0], 1, 1)),                     # -> Dense (I, O)
    "conv1d": (lambda w: w[:, :, 0].T, lambda s: (s[1], s[0], 1)),                            # -> Dense (I, O)
    "linear": (lambda w: w.T, lambda s: (s[1], s[0])),                                        # -> Dense (I, O)
    "bias": (lambda b: b, lambda s: tuple(s)),
}


def _official_layers(model: Gray2ColorNet):
    """``(official module name, Keras layer, layout)`` for every weighted layer, and the official norm positions."""
    layers, norms = [], []
    for b, block in enumerate(model.encoder.blocks, start=1):
        layers += [(f"model{b}.{2 * i}", conv, "conv") for i, conv in enumerate(block.conv_layers)]
        norms.append(f"model{b}.{2 * len(block.conv_layers)}")
    gcfn = model.gcfn
    colour_blocks = (model.color_encoder.block1, model.color_encoder.block2, gcfn.pyramid.block_quarter,
                     gcfn.pyramid.block_eighth)
    for b, block in enumerate(colour_blocks, start=1):
        layers += [(f"ref_network.model{b}.{2 * i}", conv, "conv") for i, conv in enumerate(block.conv_layers)]
        norms.append(f"ref_network.model{b}.{2 * len(block.conv_layers)}")
    histogram = gcfn.histogram_encoder
    layers += [(f"global_network.model.{2 * i}", dense, "conv1x1") for i, dense in enumerate(histogram.shared)]
    layers += [(f"global_network.model_{i + 1}.0", dense, "conv1x1") for i, dense in enumerate(histogram.heads)]
    layers += [("conf_feature.fc1.0", gcfn.gate_layer.dense, "conv1d"), ("conf_feature.fc2.0", gcfn.gate_layer.out,
                                                                       "conv1d")]
    layers.append(("classify_network.fc", model.classifier.dense, "linear"))
    shortcuts = ("model3short8", "model2short9", "model1short10")
    for s, stage in enumerate(model.mcn.stages):
        layers.append((f"resblock{s}_1.0", stage.entry_conv, "conv"))
        norms.append(f"resblock{s}_1.1")
        for r, block in enumerate(stage.blocks, start=2):
            layers += [(f"resblock{s}_{r}.conv_block.0", block.conv1, "conv"),
                       (f"resblock{s}_{r}.conv_block.3", block.conv2, "conv")]
            norms += [f"resblock{s}_{r}.conv_block.1", f"resblock{s}_{r}.conv_block.4"]
        layers += [(f"model{8 + s}up.0", stage.up, "conv_transpose"), (f"{shortcuts[s]}.0", stage.skip_conv, "conv")]
        layers += [(f"model{8 + s}.{2 * i + 1}", conv, "conv") for i, conv in enumerate(stage.post_conv_layers)]
        if stage.post_norm is not None:
            norms.append(f"model{8 + s}.{2 * len(stage.post_conv_layers) + 1}")
        layers.append((f"model_out{s + 1}.0", stage.head, "conv"))
    return layers, norms


def _official_layout(config: Gray2ColorConfig | None) -> Gray2ColorConfig:
    """``config`` (default :meth:`Gray2ColorConfig.official`) if it has the official layout at any sizes."""
    official = Gray2ColorConfig.official()
    config = official if config is None else config
    differing = [name for name in ("gate", *SWITCHES) if getattr(config, name) != getattr(official, name)]
    if differing or not config.num_classes:
        raise CheckpointError(f"config {config.name!r} does not have the official code's layout (it differs in "
                              f"{', '.join(differing) or 'num_classes'}); use Gray2ColorConfig.official()")
    return config


def official_weight_map(model: Gray2ColorNet) -> dict:
    """Every official tensor name -> ``(Keras variable, layout)`` for a model of the official layout.

    ``layout`` is one of ``conv``, ``conv_transpose``, ``conv1x1``, ``conv1d``, ``linear``, ``bias`` (module
    docstring). Raises :class:`CheckpointError` for a model whose config has not the official code's switches
    (:meth:`Gray2ColorConfig.official`; its sizes, e.g. ``base_width``, may differ).
    """
    _official_layout(model.config)
    mapping = {}
    for name, layer, layout in _official_layers(model)[0]:
        mapping[f"{name}.weight"] = (layer.kernel, layout)
        mapping[f"{name}.bias"] = (layer.bias, "bias")
    return mapping


def _listing(names, limit=4) -> str:
    names = sorted(names)
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def convert_state_dict(state_dict: dict, config: Gray2ColorConfig | None = None,
                       source: str = "the state_dict") -> Gray2ColorNet:
    """A :class:`Gray2ColorNet` of the official config with the official ``state_dict``'s values.

    Args:
        state_dict: ``{official name: NumPy array}`` (from :func:`read_torch_state_dict`).
        config: None for :meth:`Gray2ColorConfig.official`, or the official layout at other sizes (tests use a
            narrow one).
        source: how to name the state dict in errors (the file).

    Raises:
        CheckpointError: unknown or missing names, or a tensor of another shape; one line naming them.
    """
    if state_dict and all(name.startswith("module.") for name in state_dict):
        state_dict = {name[len("module."):]: value for name, value in state_dict.items()}
    model = build_gray2colornet(_official_layout(config))
    mapping = official_weight_map(model)
    norms = _official_layers(model)[1]
    buffers = {f"{norm}.{buffer}" for norm in norms for buffer in _NORM_BUFFERS}
    unknown = set(state_dict) - set(mapping) - buffers
    if unknown:
        raise CheckpointError(f"{source} is not the official Gray2ColorNet generator: unknown tensor(s) "
                              f"{_listing(unknown)}")
    missing = set(mapping) - set(state_dict)
    if missing:
        raise CheckpointError(f"{source} is not the official Gray2ColorNet generator: missing tensor(s) "
                              f"{_listing(missing)}")
    for name, (variable, layout) in mapping.items():
        to_keras, official_shape = _LAYOUTS[layout]
        value = np.asarray(state_dict[name])
        expected = official_shape(tuple(variable.shape))
        if value.shape != expected:
            raise CheckpointError(f"{source}: tensor {name} has shape {value.shape}, the official code's is "
                                  f"{expected}")
        variable.assign(to_keras(value).astype("float32"))
    return model


def load_official_weights(path: str | os.PathLike, config: Gray2ColorConfig | None = None) -> Gray2ColorNet:
    """The authors' trained generator (``latest_net_G.pth``) as a colorlab model, read without PyTorch.

    ``config``: as in :func:`convert_state_dict` (None: the official config).

    Returns:
        A built :class:`Gray2ColorNet` of :meth:`Gray2ColorConfig.official`, called as
        ``model([target_l, reference_lab])`` (reference 128 x 128) like every colorlab generator.

    Raises:
        CheckpointError: the file cannot be read safely, or does not hold the official generator (one line).
    """
    return convert_state_dict(read_torch_state_dict(path), config=config, source=repr(os.fspath(path)))


def convert_official_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, overwrite: bool = False,
                                config: Gray2ColorConfig | None = None) -> tuple[pathlib.Path, pathlib.Path]:
    """Converts the official ``.pth`` to a colorlab generator: ``output`` (``.weights.h5``) and its ``.json``.

    ``config``: as in :func:`convert_state_dict` (None: the official config). Files are written atomically
    (:func:`colorlab.models.save_generator`).

    Raises:
        CheckpointError: as :func:`load_official_weights`.
        ConfigError: ``output`` does not end with ``.weights.h5``.
        OutputExistsError: ``output`` or its ``.json`` exists and ``overwrite`` is False.
    """
    output = pathlib.Path(output)
    if not output.name.endswith(WEIGHTS_SUFFIX):
        raise ConfigError(f"{os.fspath(output)!r} must end with '{WEIGHTS_SUFFIX}' (Keras' weights format)")
    if not overwrite:
        for path in (output, config_path_for(output)):
            if path.exists():
                raise OutputExistsError(f"{os.fspath(path)!r} exists; pass overwrite=True (--overwrite) to "
                                        "replace it")
    model = load_official_weights(checkpoint, config=config)
    return save_generator(model, output)
