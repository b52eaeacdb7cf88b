"""The authors' checkpoint converter (colorlab.models.official), tested without PyTorch.

The state dicts here are written by a small test-side writer in PyTorch's own formats (the zip archive
``<name>/data.pkl`` + ``<name>/data/<key>``, and the legacy single stream), pickling exactly what ``torch.save``
pickles for a ``state_dict``: an OrderedDict of ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, hooks)`` with ``('storage', torch.FloatStorage, key, 'cpu', numel)`` persistent ids. The names and
shapes are the official code's (models/networks.py of CV-xueba/Gray2ColorNet), written out below independently of
the converter's own table. The comparison against the official PyTorch model itself runs outside the test suite.
"""

import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

import keras
from PIL import Image

from colorlab.cli import main
from colorlab.errors import CheckpointError, OutputExistsError
from colorlab.models import (Gray2ColorConfig, build_gray2colornet, convert_official_checkpoint, convert_state_dict,
                             count_params, load_generator, load_official_weights, official_weight_map,
                             read_torch_state_dict)

#: The official layout at test sizes: width 4, a 16 x 16 reference (64 matching positions), 5 classes.
SMALL = dict(base_width=4, image_size=16, reference_size=16, gate_hidden=8, num_classes=5)


def official_shapes(w=64, positions=4096, hidden=1024, classes=1000, hist=441):
    """Every tensor of the official generator's state_dict and its shape, from the official code."""
    shapes = {}

    def conv(name, out, inp, k=3):
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (out, inp, k, k), (out,)

    encoder = [[(w, 1), (w, w)], [(2 * w, w), (2 * w, 2 * w)], [(4 * w, 2 * w)] + [(4 * w, 4 * w)] * 2,
               [(8 * w, 4 * w)] + [(8 * w, 8 * w)] * 2, [(8 * w, 8 * w)] * 3, [(8 * w, 8 * w)] * 3]
    for b, convs in enumerate(encoder, start=1):
        for i, (out, inp) in enumerate(convs):
            conv(f"model{b}.{2 * i}", out, inp)
    colour = [[(w, 2), (w, w)], [(2 * w, w), (2 * w, 2 * w)], [(4 * w, 2 * w), (4 * w, 4 * w)],
              [(8 * w, 4 * w), (8 * w, 8 * w)]]
    for b, convs in enumerate(colour, start=1):
        for i, (out, inp) in enumerate(convs):
            conv(f"ref_network.model{b}.{2 * i}", out, inp)
    for i, inp in enumerate((hist, 8 * w, 8 * w)):
        conv(f"global_network.model.{2 * i}", 8 * w, inp, k=1)
    for i, out in enumerate((8 * w, 4 * w, 2 * w), start=1):
        conv(f"global_network.model_{i}.0", out, 8 * w, k=1)
    shapes["conf_feature.fc1.0.weight"], shapes["conf_feature.fc1.0.bias"] = (hidden, positions, 1), (hidden,)
    shapes["conf_feature.fc2.0.weight"], shapes["conf_feature.fc2.0.bias"] = (1, hidden, 1), (1,)
    shapes["classify_network.fc.weight"], shapes["classify_network.fc.bias"] = (classes, 8 * w), (classes,)
    stages = [(8 * w, 4 * w, "model3short8", 4 * w, 2), (4 * w, 2 * w, "model2short9", 2 * w, 1),
              (2 * w, 2 * w, "model1short10", w, 1)]
    for s, (width, out, shortcut, skip, posts) in enumerate(stages):
        conv(f"resblock{s}_1.0", width, width)
        for r in (2, 3):
            conv(f"resblock{s}_{r}.conv_block.0", width, width)
            conv(f"resblock{s}_{r}.conv_block.3", width, width)
        shapes[f"model{8 + s}up.0.weight"], shapes[f"model{8 + s}up.0.bias"] = (width, out, 4, 4), (out,)
        conv(f"{shortcut}.0", out, skip)
        for i in range(posts):
            conv(f"model{8 + s}.{2 * i + 1}", out, out)
        conv(f"model_out{s + 1}.0", 2, out, k=1)
    return shapes


def small_shapes():
    return official_shapes(w=SMALL["base_width"], positions=(SMALL["reference_size"] // 2) ** 2,
                           hidden=SMALL["gate_hidden"], classes=SMALL["num_classes"])


def random_state_dict(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0.0, 0.3, shape).astype("float32") for name, shape in shapes.items()}


# ------------------------------------------------------------------------- a writer of PyTorch's formats

class _Pickle:
    """Writes pickle opcodes (protocol 2) the way torch.save pickles a state_dict."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")

    def glob(self, module, name):
        self.out += f"c{module}\n{name}\n".encode()

    def text(self, value):
        data = value.encode()
        self.out += b"X" + struct.pack("<I", len(data)) + data

    def ints(self, values):
        self.out += b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"

    def int(self, value):
        self.out += b"J" + struct.pack("<i", value)

    def ordered_dict(self):
        self.glob("collections", "OrderedDict")
        self.out += b")R"


def _state_dict_pickle(entries, storages, legacy):
    """entries: name -> (storage key, offset, size, stride); storages: key -> 1-D float32 array."""
    p = _Pickle()
    p.ordered_dict()
    for name, (key, offset, size, stride) in entries.items():
        p.text(name)
        p.glob("torch._utils", "_rebuild_tensor_v2")
        p.out += b"(("                                          # the arguments, then the persistent id
        p.text("storage")
        p.glob("torch", "FloatStorage")
        p.text(key)
        p.text("cpu")
        p.int(storages[key].size)
        if legacy:
            p.out += b"N"                                       # view_metadata
        p.out += b"tQ"
        p.int(offset)
        p.ints(size)
        p.ints(stride)
        p.out += b"\x89"                                        # requires_grad False
        p.ordered_dict()                                        # backward hooks
        p.out += b"tRs"
    p.out += b"."
    return bytes(p.out)


def contiguous(state_dict):
    """entries and storages for a state dict, one contiguous storage per tensor."""
    entries, storages = {}, {}
    for index, (name, array) in enumerate(state_dict.items()):
        strides = tuple(int(np.prod(array.shape[i + 1:])) for i in range(array.ndim))
        entries[name] = (str(index), 0, array.shape, strides)
        storages[str(index)] = np.ascontiguousarray(array, "<f4").reshape(-1)
    return entries, storages


def write_torch_zip(path, entries, storages, data_pkl=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl or _state_dict_pickle(entries, storages, legacy=False))
        archive.writestr("archive/byteorder", "little")
        for key, array in storages.items():
            archive.writestr(f"archive/data/{key}", array.astype("<f4").tobytes())
        archive.writestr("archive/version", "3\n")
    return path


def write_torch_legacy(path, entries, storages):
    info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    keys = sorted(storages)
    with open(path, "wb") as f:
        for header in (0x1950a86a20f9469cfc6c, 1001, info):
            f.write(pickle.dumps(header, protocol=2))
        f.write(_state_dict_pickle(entries, storages, legacy=True))
        f.write(pickle.dumps(keys, protocol=2))
        for key in keys:
            f.write(struct.pack("<q", storages[key].size) + storages[key].astype("<f4").tobytes())
    return path


def save(path, state_dict, legacy=False):
    return (write_torch_legacy if legacy else write_torch_zip)(path, *contiguous(state_dict))


# ----------------------------------------------------------------------------------------- reading

@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_reader_gives_back_every_tensor(tmp_path, legacy):
    state = {"a.weight": np.arange(24, dtype="float32").reshape(2, 3, 2, 2), "a.bias": np.float32([0.5, -1.5]),
             "scalar": np.float32(3.0).reshape(())}
    got = read_torch_state_dict(save(tmp_path / "x.pth", state, legacy=legacy))
    assert list(got) == list(state)
    for name, value in state.items():
        assert got[name].dtype == np.float32 and got[name].shape == value.shape
        np.testing.assert_array_equal(got[name], value)


def test_reader_follows_offsets_and_strides_as_pytorch_defines_them(tmp_path):
    """A transposed view (strides (1, 3)) and a tensor at an offset inside a shared storage."""
    storage = np.arange(10, dtype="float32")
    entries = {"transposed": ("0", 0, (3, 2), (1, 3)), "tail": ("0", 6, (4,), (1,))}
    got = read_torch_state_dict(write_torch_zip(tmp_path / "x.pth", entries, {"0": storage}))
    np.testing.assert_array_equal(got["transposed"], storage[:6].reshape(2, 3).T)
    np.testing.assert_array_equal(got["tail"], [6, 7, 8, 9])
    entries = {"past_the_end": ("0", 8, (4,), (1,))}
    with pytest.raises(CheckpointError, match="past the end"):
        read_torch_state_dict(write_torch_zip(tmp_path / "y.pth", entries, {"0": storage}))


def test_a_forbidden_global_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    command = f"touch {marker}".encode()
    evil = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R."
    path = write_torch_zip(tmp_path / "evil.pth", {}, {}, data_pkl=evil)
    with pytest.raises(CheckpointError, match=r"os\.system") as error:
        read_torch_state_dict(path)
    assert "\n" not in str(error.value)
    assert not marker.exists()
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
                       + pickle.dumps({"little_endian": True}, protocol=2) + evil)
    with pytest.raises(CheckpointError, match=r"os\.system"):
        read_torch_state_dict(legacy)
    assert not marker.exists()


def test_other_files_are_refused_in_one_line(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="neither a zip archive nor PyTorch's legacy format"):
        read_torch_state_dict(junk)
    with pytest.raises(CheckpointError, match="no such file"):
        read_torch_state_dict(tmp_path / "missing.pth")
    download = tmp_path / "imagenet.zip"               # the download itself: a zip of .pth files
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr("imagenet/latest_net_G.pth", b"...")
    with pytest.raises(CheckpointError, match="unzip it and convert 'imagenet/latest_net_G.pth'"):
        read_torch_state_dict(download)
    not_a_dict = _Pickle()
    not_a_dict.int(7)
    with pytest.raises(CheckpointError, match="not a state_dict"):
        read_torch_state_dict(write_torch_zip(tmp_path / "int.pth", {}, {}, data_pkl=bytes(not_a_dict.out) + b"."))


# ----------------------------------------------------------------------------------------- mapping

def _keras_shape(official, layout):
    """The shape a tensor has in Keras, from its official shape (PyTorch layouts)."""
    if layout in ("conv", "conv_transpose"):                   # OIHW -> HWIO; IOHW -> HWOI (Keras' transposed)
        return official[2], official[3], official[1], official[0]
    if layout in ("conv1x1", "conv1d", "linear"):              # -> Dense (I, O)
        return official[1], official[0]
    return official


def test_the_official_config_has_every_official_tensor_at_its_shape():
    shapes = official_shapes()
    assert len(shapes) == 122
    assert sum(int(np.prod(s)) for s in shapes.values()) == 53_057_711    # the official model, counted in PyTorch
    assert count_params(Gray2ColorConfig.official())["total"] == 53_057_711
    mapping = official_weight_map(build_gray2colornet(Gray2ColorConfig.official()))
    assert set(mapping) == set(shapes)
    for name, (variable, layout) in mapping.items():
        assert tuple(variable.shape) == _keras_shape(shapes[name], layout), name


@pytest.fixture(scope="module")
def small_state():
    return random_state_dict(small_shapes())


@pytest.fixture(scope="module")
def small_model(small_state, tmp_path_factory):
    path = save(tmp_path_factory.mktemp("official") / "small.pth", small_state)
    return load_official_weights(path, config=Gray2ColorConfig.official(**SMALL))


def _value(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable))


def test_values_land_where_the_official_code_has_them(small_model, small_state):
    m = small_model
    stage1, stage2, stage3 = m.mcn.stages
    conv = lambda w: w.transpose(2, 3, 1, 0)  # noqa: E731   OIHW -> HWIO
    expected = [
        (m.encoder.blocks[0].conv_layers[0].kernel, conv(small_state["model1.0.weight"])),
        (m.encoder.blocks[3].conv_layers[2].bias, small_state["model4.4.bias"]),
        (m.encoder.blocks[5].conv_layers[1].kernel, conv(small_state["model6.2.weight"])),
        (m.color_encoder.block1.conv_layers[0].kernel, conv(small_state["ref_network.model1.0.weight"])),
        (m.gcfn.pyramid.block_quarter.conv_layers[1].kernel, conv(small_state["ref_network.model3.2.weight"])),
        (m.gcfn.pyramid.block_eighth.conv_layers[0].kernel, conv(small_state["ref_network.model4.0.weight"])),
        (m.gcfn.histogram_encoder.shared[0].kernel, small_state["global_network.model.0.weight"][:, :, 0, 0].T),
        (m.gcfn.histogram_encoder.heads[1].kernel, small_state["global_network.model_2.0.weight"][:, :, 0, 0].T),
        (m.gcfn.gate_layer.dense.kernel, small_state["conf_feature.fc1.0.weight"][:, :, 0].T),
        (m.gcfn.gate_layer.out.bias, small_state["conf_feature.fc2.0.bias"]),
        (m.classifier.dense.kernel, small_state["classify_network.fc.weight"].T),
        (stage1.entry_conv.bias, small_state["resblock0_1.0.bias"]),
        (stage1.up.kernel, small_state["model8up.0.weight"].transpose(2, 3, 1, 0)),
        (stage1.post_conv_layers[1].kernel, conv(small_state["model8.3.weight"])),
        (stage1.skip_conv.kernel, conv(small_state["model3short8.0.weight"])),
        (stage2.blocks[0].conv2.kernel, conv(small_state["resblock1_2.conv_block.3.weight"])),
        (stage2.head.kernel, conv(small_state["model_out2.0.weight"])),
        (stage3.blocks[1].conv1.bias, small_state["resblock2_3.conv_block.0.bias"]),
        (stage3.skip_conv.kernel, conv(small_state["model1short10.0.weight"])),
        (stage3.post_conv_layers[0].kernel, conv(small_state["model10.1.weight"])),
    ]
    for variable, value in expected:
        np.testing.assert_array_equal(_value(variable), value, err_msg=variable.path)
    # Every weight of the model is one official tensor (its values rearranged), each used once.
    fingerprints = {np.sort(v.reshape(-1)).tobytes(): name for name, v in small_state.items()}
    used = [fingerprints.get(np.sort(_value(v).reshape(-1)).tobytes()) for v in m.weights]
    assert None not in used and sorted(used) == sorted(small_state)


def _torch_conv2d(x, weight, bias, padding=1):
    """PyTorch's Conv2d (cross-correlation), NCHW, by loops over the kernel."""
    n, _, h, w = x.shape
    kh, kw = weight.shape[2:]
    padded = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    out = np.zeros((n, weight.shape[0], h + 2 * padding - kh + 1, w + 2 * padding - kw + 1))
    for i in range(kh):
        for j in range(kw):
            patch = padded[:, :, i:i + out.shape[2], j:j + out.shape[3]]
            out += np.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])
    return out + bias[None, :, None, None]


def _torch_conv_transpose2d(x, weight, bias, stride=2, padding=1):
    """PyTorch's ConvTranspose2d, weight (I, O, kh, kw): input (y, x) adds weight[.., i, j] at (s y - p + i, ..)."""
    n, _, h, w = x.shape
    kh, kw = weight.shape[2:]
    full = np.zeros((n, weight.shape[1], (h - 1) * stride + kh, (w - 1) * stride + kw))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + stride * h:stride, j:j + stride * w:stride] += np.einsum("nchw,co->nohw", x,
                                                                                        weight[:, :, i, j])
    out_h, out_w = (h - 1) * stride - 2 * padding + kh, (w - 1) * stride - 2 * padding + kw
    return full[:, :, padding:padding + out_h, padding:padding + out_w] + bias[None, :, None, None]


def test_converted_layers_compute_what_the_pytorch_layers_compute(small_model, small_state):
    rng = np.random.default_rng(3)
    nchw = rng.normal(size=(1, 32, 5, 6))                     # stage 1's up: 8w = 32 -> 4w = 16 channels
    nhwc = lambda a: a.transpose(0, 2, 3, 1).astype("float32")  # noqa: E731
    expected = _torch_conv_transpose2d(nchw, small_state["model8up.0.weight"], small_state["model8up.0.bias"])
    got = _value(small_model.mcn.stages[0].up(nhwc(nchw)))
    np.testing.assert_allclose(got, nhwc(expected), atol=1e-4)
    image = rng.normal(size=(1, 1, 6, 7))                     # encoder conv 1 (with its ReLU)
    expected = np.maximum(_torch_conv2d(image, small_state["model1.0.weight"], small_state["model1.0.bias"]), 0)
    np.testing.assert_allclose(_value(small_model.encoder.blocks[0].conv_layers[0](nhwc(image))), nhwc(expected),
                               atol=1e-4)
    column = rng.normal(size=(1, 3, 64)).astype("float32")   # the gate: Conv1d over the 64 reference positions
    fc1, fc2 = small_state["conf_feature.fc1.0.weight"][:, :, 0], small_state["conf_feature.fc2.0.weight"][:, :, 0]
    hidden = np.maximum(column @ fc1.T + small_state["conf_feature.fc1.0.bias"], 0)
    omega = 1 / (1 + np.exp(-(hidden @ fc2.T + small_state["conf_feature.fc2.0.bias"])))
    np.testing.assert_allclose(_value(small_model.gcfn.gate_layer(column)), omega[..., 0], atol=1e-5)


@pytest.mark.parametrize("change, fragment", [
    (lambda s: s.update({"model7.0.weight": np.zeros((4, 4, 3, 3), "float32")}), "unknown tensor.*model7.0.weight"),
    (lambda s: s.pop("model_out3.0.bias"), "missing tensor.*model_out3.0.bias"),
    (lambda s: s.update({"model2.0.weight": np.zeros((8, 4, 1, 1), "float32")}),
     r"model2.0.weight has shape \(8, 4, 1, 1\), the official code's is \(8, 4, 3, 3\)"),
])
def test_unknown_missing_or_misshapen_tensors_are_refused_by_name(small_state, tmp_path, change, fragment):
    state = dict(small_state)
    change(state)
    path = save(tmp_path / "bad.pth", state)
    with pytest.raises(CheckpointError, match=fragment) as error:
        load_official_weights(path, config=Gray2ColorConfig.official(**SMALL))
    assert "\n" not in str(error.value) and "bad.pth" in str(error.value)


def test_norm_buffers_and_a_dataparallel_prefix_are_accepted(small_state):
    state = {f"module.{name}": value for name, value in small_state.items()}
    state["module.model1.4.running_mean"] = np.zeros(4, "float32")        # an old PyTorch's instance norm buffers
    state["module.resblock0_2.conv_block.1.num_batches_tracked"] = np.zeros((), "int64")
    model = convert_state_dict(state, config=Gray2ColorConfig.official(**SMALL))
    np.testing.assert_array_equal(_value(model.gcfn.gate_layer.out.bias), small_state["conf_feature.fc2.0.bias"])
    state["module.model1.0.running_mean"] = np.zeros(4, "float32")        # not a norm position
    with pytest.raises(CheckpointError, match="unknown tensor.*model1.0.running_mean"):
        convert_state_dict(state, config=Gray2ColorConfig.official(**SMALL))


def test_only_the_official_layout_converts():
    with pytest.raises(CheckpointError, match="downsample"):
        official_weight_map(build_gray2colornet("paper", base_width=4, reference_size=16, gate_hidden=8,
                                                num_classes=5, downsample="stride"))


def test_the_converted_file_loads_through_the_normal_loader(small_state, tmp_path):
    checkpoint = save(tmp_path / "latest_net_G.pth", small_state, legacy=True)
    config = Gray2ColorConfig.official(**SMALL)
    weights, config_path = convert_official_checkpoint(checkpoint, tmp_path / "out" / "official.weights.h5",
                                                       config=config)
    assert config_path.name == "official.json"
    model = load_generator(weights)
    assert model.config == config and model.config.name == "official"
    rng = np.random.default_rng(4)
    target = rng.uniform(-1, 1, (1, 16, 24, 1)).astype("float32")
    reference = rng.uniform(-0.8, 0.8, (1, 16, 16, 3)).astype("float32")
    direct = load_official_weights(checkpoint, config=config)([target, reference])
    loaded = model([target, reference])
    assert sorted(loaded) == ["ab", "ab_half", "ab_quarter", "logits"]
    for key in loaded:
        np.testing.assert_allclose(_value(loaded[key]), _value(direct[key]), atol=1e-6)
    with pytest.raises(OutputExistsError, match="official.weights.h5"):
        convert_official_checkpoint(checkpoint, weights, config=config)
    # and `colorlab colorize` colours a photo with it, as with any colorlab weights
    samples = pathlib.Path(__file__).resolve().parent.parent / "data" / "samples"
    photo = tmp_path / "photo.png"
    assert main(["colorize", str(samples / "lake_1.jpg"), "-r", str(samples / "lake_2.jpg"), "-o", str(photo),
                 "--weights", str(weights)]) == 0
    with Image.open(photo) as image, Image.open(samples / "lake_1.jpg") as original:
        assert image.mode == "RGB" and image.size == original.size
