"""Tests for colorlab.data: the Places365-layout reader, pairs, augmentation, examples, PyDataset, tf.data, TFDS.

Every test works on a tiny fake Places365 folder generated in a temporary directory (never the built corpus).
"""

import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
from places_tree import VAL_LABELS, DyingFolder, KerasFreeFolder, photo, write_places_tree
from skimage.color import rgb2lab

from colorlab import cie, data
from colorlab.errors import ColorlabError, ConfigError, ImageLoadError


def _write_tree(root: pathlib.Path) -> pathlib.Path:
    return write_places_tree(root, train_sizes=(24, 32), val_size=(32, 32))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _write_tree(tmp_path_factory.mktemp("places") / "root")


def _copy_tree(tree, tmp_path):
    import shutil

    return pathlib.Path(shutil.copytree(tree, tmp_path / "copy"))


# ---------------------------------------------------------------------------------------------- the folder

def test_folder_reads_categories_and_splits(tree):
    folder = data.Places365Folder(tree)
    assert folder.categories == ["alley", "beach", "canyon"]
    assert folder.category_paths == ["/a/alley", "/b/beach", "/c/canyon"]
    train = folder.split("train")
    assert [label for _, label in train] == [0, 0, 0, 1, 1, 2]
    assert train[0][0] == tree / "data_256" / "a" / "alley" / "00000001.jpg"
    assert all(path.is_file() for path, _ in train)
    val = folder.split("val")
    assert val == [(tree / "val_256" / "Places365_val_00000001.jpg", 1),
                   (tree / "val_256" / "Places365_val_00000002.jpg", 0)]
    assert folder.split("validation") == val


def test_a_labelled_test_split_is_read_and_an_unlabelled_one_is_refused(tree, tmp_path):
    root = _copy_tree(tree, tmp_path)
    with pytest.raises(data.DatasetError, match=r"places365_test\.txt: list file not found .*needs a labelled list"):
        data.Places365Folder(root).split("test")
    (root / "test_256").mkdir()
    (root / "places365_test.txt").write_text("Places365_test_00000001.jpg 2\n")
    assert data.Places365Folder(root).split("test") == [(root / "test_256" / "Places365_test_00000001.jpg", 2)]
    (root / "places365_test.txt").write_text("Places365_test_00000001.jpg\n")      # Places365's own: no labels
    with pytest.raises(data.DatasetError, match=r"line 1: expected 'NAME INDEX'.*Places365's own test labels"):
        data.Places365Folder(root).split("test")


def test_folder_errors_name_the_file_and_line(tree, tmp_path):
    with pytest.raises(data.DatasetError, match="not a folder"):
        data.Places365Folder(tmp_path / "missing")
    root = _copy_tree(tree, tmp_path)
    with pytest.raises(ConfigError, match="split must be one of"):
        data.Places365Folder(root).split("testing")

    train_list = root / "places365_train_standard.txt"
    good = train_list.read_text()
    train_list.write_text(good.replace(" 1\n", "\n", 1))          # line 4 loses its label
    with pytest.raises(data.DatasetError, match=r"places365_train_standard\.txt, line 4: expected 'NAME INDEX'"):
        data.Places365Folder(root).split("train")
    train_list.write_text(good.replace(" 2\n", " 7\n"))            # line 6: label 7 of 3 categories
    with pytest.raises(data.DatasetError, match=r"line 6: label 7 is out of range \[0, 3\)"):
        data.Places365Folder(root).split("train")
    train_list.unlink()
    with pytest.raises(data.DatasetError, match=r"places365_train_standard\.txt: list file not found"):
        data.Places365Folder(root).split("train")

    categories = root / "categories_places365.txt"
    categories.write_text("/a/alley 0\n/b/beach 2\n")
    with pytest.raises(data.DatasetError, match=r"categories_places365\.txt, line 2: category index 2, expected 1"):
        data.Places365Folder(root)
    categories.unlink()
    with pytest.raises(ColorlabError, match=r"categories_places365\.txt: list file not found"):
        data.Places365Folder(root)


# ---------------------------------------------------------------------------------------------------- pairs

def _items(labels):
    return [(f"img{i}.jpg", int(label)) for i, label in enumerate(labels)]


def test_make_pairs_is_deterministic_and_seed_dependent():
    items = _items(np.repeat(np.arange(10), 10))
    first = data.make_pairs(items, mode_ratio=0.5, seed=3)
    assert first == data.make_pairs(items, mode_ratio=0.5, seed=3)
    assert first != data.make_pairs(items, mode_ratio=0.5, seed=4)
    assert [t for t, _, _ in first] == list(range(100))


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.75, 1.0])
def test_make_pairs_ratio_over_1000_pairs(ratio):
    items = _items(np.random.default_rng(0).integers(0, 20, size=1000))
    pairs = data.make_pairs(items, mode_ratio=ratio, seed=1)
    fraction = np.mean([mode == "other" for _, _, mode in pairs])
    assert abs(fraction - ratio) <= 0.02


def test_other_pairs_are_same_class_different_image_and_singletons_fall_back():
    labels = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3]                       # class 2 has a single image
    items = _items(labels)
    pairs = data.make_pairs(items, mode_ratio=1.0, seed=0)
    for target, reference, mode in pairs:
        if labels[target] == 2:
            assert (mode, reference) == ("same", target)
        else:
            assert mode == "other"
            assert reference != target and labels[reference] == labels[target]
    # the references of "other" pairs are spread over the class-mates, not always the same one
    references = {r for _, r, _ in data.make_pairs(_items([0] * 4 + [1] * 4), mode_ratio=1.0, seed=0)}
    assert len(references) > 2
    for target, reference, mode in data.make_pairs(items, mode_ratio=0.0, seed=0):
        assert (reference, mode) == (target, "same")
    with pytest.raises(ConfigError, match="mode_ratio"):
        data.make_pairs(items, mode_ratio=1.5)


# ------------------------------------------------------------------------------------------- augmentation

def test_augment_reference_is_deterministic_and_changes_geometry():
    image = photo(np.random.default_rng(5), 24, 32).astype(np.float32) / 255
    one = data.augment_reference(image, np.random.default_rng(7))
    again = data.augment_reference(image, np.random.default_rng(7))
    other = data.augment_reference(image, np.random.default_rng(8))
    assert one.shape == image.shape and one.dtype == np.float32
    np.testing.assert_array_equal(one, again)
    assert not np.allclose(one, other, atol=0.05)
    assert 0.0 <= one.min() and one.max() <= 1.0
    for seed in range(5):  # never the input, and never just a mirror of it
        out = data.augment_reference(image, np.random.default_rng(seed))
        assert np.abs(out - image).mean() > 0.03
        assert np.abs(out - image[:, ::-1]).mean() > 0.03


def test_augment_reference_keeps_colours_and_adds_no_border():
    # a constant image stays exactly constant: the warped window never leaves the image (no padding, no black)
    flat = np.full((20, 28, 3), (0.8, 0.3, 0.1), np.float32)
    np.testing.assert_allclose(data.augment_reference(flat, np.random.default_rng(0)), flat, atol=1e-6)
    # uint8 input works and gives floats in [0, 1]
    out = data.augment_reference(np.full((16, 16, 3), 255, np.uint8), np.random.default_rng(0))
    np.testing.assert_allclose(out, 1.0, atol=1e-6)
    with pytest.raises(ConfigError, match="Generator"):
        data.augment_reference(flat, 0)


# ----------------------------------------------------------------------------------------------- examples

def test_prepare_example_matches_skimage_lab():
    rng = np.random.default_rng(2)
    target = photo(rng, 16, 16).astype(np.float32) / 255
    reference = photo(rng, 8, 8).astype(np.float32) / 255
    example = data.prepare_example(target, reference, 16, 8)
    assert example["target_l"].shape == (16, 16, 1) and example["target_ab"].shape == (16, 16, 2)
    assert example["reference_lab"].shape == (8, 8, 3)
    assert all(value.dtype == np.float32 for value in example.values())
    assert -1.0 <= example["target_l"].min() and example["target_l"].max() <= 1.0
    lab = rgb2lab(target.astype(np.float64))
    np.testing.assert_allclose(example["target_l"][..., 0], lab[..., 0] / 50 - 1, atol=2e-5)  # L exactly kept
    np.testing.assert_allclose(example["target_ab"], lab[..., 1:] / 110, atol=2e-4)
    ref_lab = rgb2lab(reference.astype(np.float64))
    np.testing.assert_allclose(example["reference_lab"][..., 0], ref_lab[..., 0] / 50 - 1, atol=2e-5)
    np.testing.assert_allclose(example["reference_lab"][..., 1:], ref_lab[..., 1:] / 110, atol=2e-4)


def test_prepare_example_resizes_short_side_and_crops_the_centre():
    # three vertical stripes, red | green | blue, 30 x 90: the centre square is the green stripe
    stripes = np.zeros((30, 90, 3), np.float32)
    stripes[:, :30, 0] = stripes[:, 30:60, 1] = stripes[:, 60:, 2] = 1.0
    crop = data.resize_and_crop(stripes, 10)
    assert crop.shape == (10, 10, 3)
    np.testing.assert_allclose(crop[:, 2:8], np.broadcast_to([0.0, 1.0, 0.0], (10, 6, 3)), atol=0.02)
    example = data.prepare_example(stripes, stripes, 10)
    lab = rgb2lab(crop.astype(np.float64))
    np.testing.assert_allclose(example["target_l"][..., 0], lab[..., 0] / 50 - 1, atol=2e-5)
    assert -1.0 <= example["target_l"].min() and example["target_l"].max() <= 1.0
    with pytest.raises(ConfigError, match="size must be an integer >= 8"):
        data.prepare_example(stripes, stripes, 4)


def test_normalised_lab_agrees_with_colorlab_color_and_is_per_pixel():
    from keras import ops

    from colorlab import color
    from colorlab.cie import rgb_to_lab_np

    rgb = np.random.default_rng(4).random((3, 16, 16, 3), dtype=np.float32)
    rgb[0, 0, :4] = [[0, 0, 0], [1, 1, 1], [0.04045, 0.02, 0.5], [0.5, 0.5, 0.5]]  # black, white, the knee, gray
    lab = cie.normalised_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == np.float32
    keras_lab = ops.convert_to_numpy(color.normalize_lab(color.rgb_to_lab(rgb)))
    np.testing.assert_allclose(lab, keras_lab, rtol=0, atol=2e-6)
    exact = rgb_to_lab_np(rgb) / [color.L_SCALE, color.AB_SCALE, color.AB_SCALE] - [1.0, 0.0, 0.0]
    np.testing.assert_allclose(lab, exact, rtol=0, atol=1e-6)
    # a pixel's value does not depend on the array around it: one image, a batch, a strided view
    for k in range(3):
        np.testing.assert_array_equal(cie.normalised_lab(rgb[k]), lab[k])
    np.testing.assert_array_equal(cie.normalised_lab(rgb[:, ::3, 1::2]), lab[:, ::3, 1::2])
    with pytest.raises(ConfigError, match="floats"):
        cie.normalised_lab((rgb * 255).astype(np.uint8))
    with pytest.raises(ConfigError, match=r"\(\.\.\., 3\)"):
        cie.normalised_lab(rgb[..., :2])


# ------------------------------------------------------------------------------------------------ dataset

def test_pair_dataset_batches_shapes_and_determinism(tree):
    import keras

    dataset = data.PairDataset(tree, "train", (16, 8), batch_size=4, mode_ratio=0.5, seed=11)
    assert isinstance(dataset, keras.utils.PyDataset)
    assert len(dataset) == 2                                         # 6 images: 4 + 2
    inputs, targets = dataset[0]
    assert set(inputs) == {"target_l", "reference_lab"} and set(targets) == {"target_ab", "label"}
    assert inputs["target_l"].shape == (4, 16, 16, 1) and inputs["reference_lab"].shape == (4, 8, 8, 3)
    assert targets["target_ab"].shape == (4, 16, 16, 2) and targets["label"].shape == (4,)
    assert targets["label"].dtype == np.int32 and inputs["target_l"].dtype == np.float32
    assert dataset[1][0]["target_l"].shape == (2, 16, 16, 1)
    assert -1.0 <= inputs["target_l"].min() and inputs["target_l"].max() <= 1.0
    # the labels are the targets' labels, in the epoch's order
    order = [t for t, _, _ in dataset.pairs()]
    assert targets["label"].tolist() == [dataset.items[t][1] for t in order[:4]]
    assert sorted(order) == list(range(6))

    twin = data.PairDataset(tree, "train", (16, 8), batch_size=4, mode_ratio=0.5, seed=11)
    for key in inputs:
        np.testing.assert_array_equal(twin[0][0][key], inputs[key])
    np.testing.assert_array_equal(twin[0][1]["target_ab"], targets["target_ab"])

    epoch0 = dataset.pairs()
    dataset.on_epoch_end()
    assert dataset.epoch == 1 and dataset.pairs() != epoch0
    assert not np.array_equal(dataset[0][0]["reference_lab"], inputs["reference_lab"])
    dataset.set_epoch(0)
    np.testing.assert_array_equal(dataset[0][0]["reference_lab"], inputs["reference_lab"])


def test_pair_dataset_config_names_and_bad_arguments(tree):
    from colorlab.models.config import get_config

    tiny = get_config("tiny")
    dataset = data.PairDataset(tree, "val", "tiny", batch_size=2, shuffle=False)
    assert (dataset.size, dataset.reference_size) == (tiny.image_size, tiny.reference_size)
    inputs, targets = dataset[0]
    assert inputs["target_l"].shape == (2, tiny.image_size, tiny.image_size, 1)
    assert targets["label"].tolist() == VAL_LABELS
    with pytest.raises(ConfigError, match="batch_size"):
        data.PairDataset(tree, "train", 16, batch_size=0)
    with pytest.raises(ConfigError, match="config_or_size"):
        data.PairDataset(tree, "train", 16.5, batch_size=2)
    with pytest.raises(IndexError):
        dataset[5]


def test_same_mode_references_are_augmented_targets(tree):
    dataset = data.PairDataset(tree, "train", 16, batch_size=6, mode_ratio=0.0, seed=0, shuffle=False)
    inputs, targets = dataset[0]
    assert all(mode == "same" for _, _, mode in dataset.pairs())
    # the reference is the target photo, but moved: its L differs from the target's pixel by pixel
    difference = np.abs(inputs["reference_lab"][..., :1] - inputs["target_l"]).mean(axis=(1, 2, 3))
    assert np.all(difference > 0.02)


def test_tf_dataset_gives_the_same_first_batch(tree):
    import tensorflow as tf

    dataset = data.PairDataset(tree, "train", (16, 8), batch_size=4, mode_ratio=0.5, seed=5)
    tf_dataset = dataset.as_tf_dataset()
    assert isinstance(tf_dataset, tf.data.Dataset)
    batches = list(tf_dataset)
    assert len(batches) == len(dataset)
    inputs, targets = dataset[0]
    tf_inputs, tf_targets = batches[0]
    for key in inputs:
        np.testing.assert_array_equal(tf_inputs[key].numpy(), inputs[key])
    for key in targets:
        np.testing.assert_array_equal(tf_targets[key].numpy(), targets[key])


# -------------------------------------------------------------------------------------- worker processes

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds worker processes in /proc")


def _data_workers(parent: int) -> list[int]:
    """Pids of the running data worker processes whose parent is ``parent`` (read from /proc)."""
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                state, ppid = handle.read().rsplit(")", 1)[1].split()[:2]
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(ppid) == parent and state != "Z" and b"colorlab.data" in command:
            pids.append(int(entry))
    return pids


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _assert_same_batch(got, want):
    for part in (0, 1):
        assert list(got[part]) == list(want[part])
        for key in want[part]:
            assert got[part][key].dtype == want[part][key].dtype
            np.testing.assert_array_equal(got[part][key], want[part][key])


def test_worker_processes_give_the_single_thread_batches_bit_for_bit(tree):
    args = dict(batch_size=4, mode_ratio=0.5, seed=3)
    plain = data.PairDataset(tree, "train", (16, 8), **args)
    # KerasFreeFolder fails any batch prepared in a process that has imported Keras, TensorFlow or JAX
    with data.PairDataset(KerasFreeFolder(tree), "train", (16, 8), processes=2, threads=2, **args) as pooled:
        assert "processes 2" in repr(pooled)
        # in order across epochs (as Trainer.fit and model.fit read), then jumps back and forth
        positions = [(e, k) for e in range(3) for k in range(len(plain))] + [(0, 1), (2, 0), (0, 0)]
        for epoch, index in positions:
            _assert_same_batch(pooled.batch(index, epoch), plain.batch(index, epoch))
        pooled.set_epoch(1)
        _assert_same_batch(pooled[1], plain.batch(1, 1))


def test_worker_count_is_validated(tree):
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="processes must be an integer >= 0"):
            data.PairDataset(tree, "train", 16, processes=bad)
    with pytest.raises(ConfigError, match="threads must be an integer >= 1"):
        data.PairDataset(tree, "train", 16, threads=0)
    with pytest.raises(ConfigError, match="cache_bytes must be an integer >= 0"):
        data.PairDataset(tree, "train", 16, cache_bytes=-1)
    with pytest.raises(ConfigError, match="use_multiprocessing"):
        data.PairDataset(tree, "train", 16, processes=2, use_multiprocessing=True)


@needs_proc
def test_worker_errors_reach_the_caller_and_a_dead_worker_is_one_clear_error(tree, tmp_path):
    root = _copy_tree(tree, tmp_path)
    for jpeg in (root / "data_256").rglob("*.jpg"):
        jpeg.unlink()
    with data.PairDataset(root, "train", 16, batch_size=2, processes=1) as dataset:
        for index in (0, 1):  # raised with its own type; the worker lives on
            with pytest.raises(ImageLoadError):
                dataset.batch(index)
        assert len(_data_workers(os.getpid())) == 1
    assert not _data_workers(os.getpid())
    dataset = data.PairDataset(DyingFolder(tree), "train", 16, batch_size=2, processes=2)
    with pytest.raises(data.DatasetError, match=r"data worker process \d+ exited \(code 3\) while preparing"):
        dataset.batch(0)
    assert not _data_workers(os.getpid())


_READER = """
import sys

from colorlab.data import PairDataset

dataset = PairDataset(sys.argv[1], "train", 16, batch_size=2, processes=2)
dataset.batch(0)
print("ready", flush=True)
sys.stdin.readline()  # the test has found the workers
while sys.argv[2] == "loop":
    for index in range(len(dataset)):
        dataset.batch(index)
"""


@needs_proc
def test_workers_end_with_the_program_and_on_ctrl_c(tree, tmp_path):
    import time

    script = tmp_path / "reader.py"  # a script run as a file, without an `if __name__ == "__main__"` guard
    script.write_text(_READER)
    environment = {**os.environ, "KERAS_BACKEND": "numpy"}  # PairDataset imports Keras; the lightest backend
    for how in ("end", "loop"):
        child = subprocess.Popen([sys.executable, str(script), str(tree), how], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                 env=environment)
        assert child.stdout.readline() == "ready\n"
        pids = _data_workers(child.pid)
        assert len(pids) == 2
        child.stdin.write("go\n")
        child.stdin.flush()
        if how == "loop":
            time.sleep(1)
            os.killpg(child.pid, signal.SIGINT)  # Ctrl-C: the terminal's whole foreground process group gets it
        _, err = child.communicate(timeout=60)
        if how == "end":  # the program ends without close(): the workers end with it, silently
            assert child.returncode == 0 and "Traceback" not in err, err
        else:  # one KeyboardInterrupt, the main process's; the workers are stopped
            assert child.returncode != 0 and err.count("Traceback") == 1 and "KeyboardInterrupt" in err, err
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in pids)


# ---------------------------------------------------------------------------------------------------- TFDS

def test_places365_tfds_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        dataset = data.places365_tfds("val")
        examples = list(dataset)
    assert len(examples) == 3
    for example in examples:
        assert example["image"].shape == (256, 256, 3) and example["image"].dtype.name == "uint8"
        assert 0 <= int(example["label"]) < 365
        assert example["filename"].dtype.name == "string"


def test_places365_tfds_missing_data_is_one_clear_line(tmp_path):
    with pytest.raises(data.DatasetError) as info:
        data.places365_tfds("train", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message and "download=True" in message and "build_corpus.py" in message
