"""Tests for colorlab.packed: packing a Places365-layout folder into one .npz, and PackedPairDataset, whose batches
must equal PairDataset's on the folder it was packed from.

Every test works on a tiny fake Places365 folder (square 24 x 24 JPEGs, 3 classes) in a temporary directory.
"""

import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest
from places_tree import VAL_LABELS, write_places_tree

from colorlab import io, packed
from colorlab.data import PairDataset, Places365Folder
from colorlab.errors import ConfigError, DatasetError, OutputExistsError

SIDE = 24


def _write_tree(root: pathlib.Path, sizes=None) -> pathlib.Path:
    """``sizes`` optionally gives (height, width) per train image (default: all SIDE x SIDE)."""
    return write_places_tree(root, train_sizes=sizes or (SIDE, SIDE), val_size=(SIDE, SIDE))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _write_tree(tmp_path_factory.mktemp("places") / "root")


@pytest.fixture(scope="module")
def packed_file(tree, tmp_path_factory):
    return packed.pack_corpus(tree, tmp_path_factory.mktemp("packed") / "corpus.npz", progress=False)


# ---------------------------------------------------------------------------------------------- the file

def test_pack_round_trip_of_images_labels_paths_and_classes(tree, packed_file):
    folder = Places365Folder(tree)
    corpus = packed.PackedCorpus(packed_file)
    assert corpus.splits == ("train", "val") and corpus.size == SIDE
    assert corpus.categories == ["alley", "beach", "canyon"]
    assert corpus.category_paths == ["/a/alley", "/b/beach", "/c/canyon"]
    assert corpus.format_version == packed.FORMAT_VERSION
    for split in ("train", "val"):
        items = folder.split(split)
        assert corpus.paths(split) == [p.relative_to(tree).as_posix() for p, _ in items]
        assert corpus.labels(split).tolist() == [label for _, label in items]
        images = corpus.images(split)
        assert isinstance(images, np.memmap) and images.shape == (len(items), SIDE, SIDE, 3)
        for k, (path, _) in enumerate(items):  # exactly the decoder's 8-bit values
            np.testing.assert_array_equal(images[k].astype(np.float32) / 255.0, io.load_image(path))
    assert corpus.paths("train")[0] == "data_256/a/alley/00000001.jpg"
    assert corpus.split("val") == [(pathlib.PurePosixPath("val_256/Places365_val_00000001.jpg"), 1),
                                   (pathlib.PurePosixPath("val_256/Places365_val_00000002.jpg"), 0)]
    # a plain, uncompressed .npz that NumPy reads without pickles; mmap=False gives the same photos in memory
    with zipfile.ZipFile(packed_file) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    with np.load(packed_file, allow_pickle=False) as npz:
        assert str(npz["format"]) == packed.FORMAT
        np.testing.assert_array_equal(npz["train_images"], corpus.images("train"))
        np.testing.assert_array_equal(npz["val_labels"], VAL_LABELS)
    in_memory = packed.PackedCorpus(packed_file, mmap=False)
    assert not isinstance(in_memory.images("train"), np.memmap)
    np.testing.assert_array_equal(in_memory.images("train"), corpus.images("train"))
    assert packed.is_packed(packed_file) and not packed.is_packed(tree)
    assert [p.name for p in packed_file.parent.iterdir()] == ["corpus.npz"]  # no temporary file left


def test_pack_one_split_with_size_and_mixed_sizes(tmp_path):
    mixed = _write_tree(tmp_path / "mixed", sizes=[(24, 24)] * 5 + [(20, 30)])
    with pytest.raises(DatasetError, match=r"not all square and of one size .*20.*size=S"):
        packed.pack_corpus(mixed, tmp_path / "mixed.npz", progress=False)
    assert not (tmp_path / "mixed.npz").exists()
    out = packed.pack_corpus(mixed, tmp_path / "mixed.npz", splits="train", size=16, progress=False)
    corpus = packed.PackedCorpus(out)
    assert corpus.splits == ("train",) and corpus.images("train").shape == (6, 16, 16, 3)
    from colorlab.data import resize_and_crop

    expected = np.round(resize_and_crop(io.load_image(Places365Folder(mixed).split("train")[5][0]), 16) * 255)
    np.testing.assert_array_equal(corpus.images("train")[5], expected.astype(np.uint8))
    with pytest.raises(DatasetError, match=r"no 'val' split in this packed corpus \(it has train\)"):
        corpus.images("val")
    with pytest.raises(DatasetError, match="no 'val' split"):
        packed.PackedPairDataset(out, "val", 16)


def test_pack_errors(tree, packed_file, tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        packed.pack_corpus(tmp_path / "missing", tmp_path / "x.npz", progress=False)
    before = packed_file.stat().st_mtime_ns, packed_file.read_bytes()[:64]
    with pytest.raises(OutputExistsError, match="exists already"):
        packed.pack_corpus(tree, packed_file, progress=False)
    assert (packed_file.stat().st_mtime_ns, packed_file.read_bytes()[:64]) == before
    with pytest.raises(ConfigError, match=r"must end in \.npz"):
        packed.pack_corpus(tree, tmp_path / "corpus.zip", progress=False)
    with pytest.raises(ConfigError, match="does not exist"):
        packed.pack_corpus(tree, tmp_path / "nowhere" / "c.npz", progress=False)
    with pytest.raises(ConfigError, match="split must be one of"):
        packed.pack_corpus(tree, tmp_path / "c.npz", splits=("testing",), progress=False)
    with pytest.raises(DatasetError, match=r"places365_test\.txt: list file not found"):   # a split it lacks
        packed.pack_corpus(tree, tmp_path / "c.npz", splits=("test",), progress=False)
    with pytest.raises(ConfigError, match="size must be an integer >= 8"):
        packed.pack_corpus(tree, tmp_path / "c.npz", size=4, progress=False)
    # overwrite=True replaces the file (here with the train split only)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(b"old")
    packed.pack_corpus(tree, copy, splits=["train"], overwrite=True, threads=2, progress=False)
    assert packed.PackedCorpus(copy).splits == ("train",)


def test_bad_files_are_dataset_errors(tmp_path, packed_file):
    text = tmp_path / "notes.npz"
    text.write_text("not a zip")
    with pytest.raises(DatasetError, match="not an .npz/zip file"):
        packed.PackedCorpus(text)
    with pytest.raises(DatasetError, match="no such packed corpus file"):
        packed.PackedCorpus(tmp_path / "missing.npz")
    with pytest.raises(DatasetError, match="it is a folder"):
        packed.PackedCorpus(tmp_path)
    plain = tmp_path / "plain.npz"
    np.savez(plain, images=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match="without a 'format' member"):
        packed.PackedCorpus(plain)
    with np.load(packed_file) as npz:
        members = {key: npz[key] for key in npz.files}
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**members, "format_version": np.array(packed.FORMAT_VERSION + 1)})
    with pytest.raises(DatasetError, match="newer colorlab"):
        packed.PackedCorpus(newer)
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{**members, "train_labels": members["train_labels"][:-1]})
    with pytest.raises(DatasetError, match="split 'train' is inconsistent"):
        packed.PackedCorpus(broken)
    # np.savez_compressed members cannot be memory-mapped: they are read into memory instead
    squeezed = tmp_path / "squeezed.npz"
    np.savez_compressed(squeezed, **members)
    np.testing.assert_array_equal(packed.PackedCorpus(squeezed).images("val"), members["val_images"])


# ------------------------------------------------------------------------------------------------ dataset

@pytest.mark.parametrize("options", [{}, {"threads": 2}, {"cache_bytes": 0}])
def test_batches_equal_pair_dataset_on_the_folder(tree, packed_file, options):
    for seed, sizes, ratio in [(0, (16, 8), 0.5), (7, 32, 0.7)]:
        args = dict(batch_size=4, mode_ratio=ratio, seed=seed)
        folder = PairDataset(tree, "train", sizes, **args)
        fast = packed.PackedPairDataset(packed_file, "train", sizes, **args, **options)
        assert len(fast) == len(folder) == 2 and fast.items[0][1] == folder.items[0][1]
        for epoch in (0, 1, 2):
            assert fast.pairs(epoch) == folder.pairs(epoch)
            for index in range(len(folder)):
                for repeat in range(2):  # the second time from the cache (unless cache_bytes=0)
                    got, want = fast.batch(index, epoch), folder.batch(index, epoch)
                    for part in (0, 1):
                        assert got[part].keys() == want[part].keys()
                        for key in want[part]:
                            assert got[part][key].shape == want[part][key].shape
                            assert got[part][key].dtype == want[part][key].dtype
                            np.testing.assert_array_equal(got[part][key], want[part][key])  # bit for bit
        assert (len(fast._cache) > 0) == (options.get("cache_bytes", 1) != 0)


def test_worker_processes_give_the_same_batches(tree, packed_file):
    args = dict(batch_size=4, mode_ratio=0.5, seed=5)
    folder = PairDataset(tree, "train", (16, 8), **args)
    with packed.PackedPairDataset(packed_file, "train", (16, 8), processes=2, **args) as fast:
        assert type(fast).__name__ == "PackedPairDataset" and isinstance(fast, PairDataset)
        for epoch in (0, 1):
            for index in range(len(folder)):
                got, want = fast.batch(index, epoch), folder.batch(index, epoch)
                for part in (0, 1):
                    for key in want[part]:
                        np.testing.assert_array_equal(got[part][key], want[part][key])


def test_val_split_unshuffled_limit_and_cache_budget(tree, packed_file):
    folder = PairDataset(tree, "val", 16, batch_size=2, shuffle=False)
    fast = packed.PackedPairDataset(packed_file, "val", 16, batch_size=2, shuffle=False)
    assert fast[0][1]["label"].tolist() == VAL_LABELS
    np.testing.assert_array_equal(fast[0][1]["target_ab"], folder[0][1]["target_ab"])
    one = 16 * 16 * 3 * 4  # bytes of one cached Lab image at 16 px
    small = packed.PackedPairDataset(packed_file, "train", 16, batch_size=3, limit=5, cache_bytes=2 * one)
    assert len(small.items) == 5 and len(small) == 2
    reference = PairDataset(tree, "train", 16, batch_size=3, limit=5)
    for index in range(2):
        np.testing.assert_array_equal(small[index][0]["reference_lab"], reference[index][0]["reference_lab"])
    assert len(small._cache) == 2 and small._cached_bytes == 2 * one
    for bad, match in [({"threads": 0}, "threads"), ({"cache_bytes": -1}, "cache_bytes"),
                       ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(ConfigError, match=match):
            packed.PackedPairDataset(packed_file, "train", 16, **bad)
    with pytest.raises(IndexError):
        fast.batch(1)


def test_is_a_keras_py_dataset_with_epochs_and_pickling(packed_file):
    import keras

    dataset = packed.PackedPairDataset(packed_file, "train", (16, 8), batch_size=4, seed=3, threads=2)
    assert isinstance(dataset, keras.utils.PyDataset) and type(dataset).__name__ == "PackedPairDataset"
    first = dataset[0]
    assert first[0]["target_l"].shape == (4, 16, 16, 1) and first[0]["reference_lab"].shape == (4, 8, 8, 3)
    assert first[1]["target_ab"].shape == (4, 16, 16, 2) and first[1]["label"].dtype == np.int32
    dataset.on_epoch_end()
    assert dataset.epoch == 1 and not np.array_equal(dataset[0][0]["reference_lab"], first[0]["reference_lab"])
    dataset.set_epoch(0)
    clone = pickle.loads(pickle.dumps(dataset))  # reopens the file (a memmap is not copied into the pickle)
    assert len(pickle.dumps(dataset)) < 50_000 and clone._cache == {}
    for key in first[0]:
        np.testing.assert_array_equal(clone[0][0][key], first[0][key])


def test_trains_two_steps_of_the_tiny_config(packed_file, tmp_path):
    from colorlab import train

    dataset = packed.PackedPairDataset(packed_file, "train", "tiny", batch_size=2, drop_remainder=True)
    trainer = train.Trainer(train.TrainingRecipe("tiny", batch_size=2), tmp_path / "run", log_every=1,
                            image_every=0, checkpoint_every=100, compile=False, progress=False)
    before = [np.array(w) for w in trainer.generator.get_weights()]
    rows = trainer.fit(dataset, 2)
    assert trainer.step == 2 and (trainer.epoch, trainer.batch_index) == (0, 2)
    assert all(np.isfinite(row["loss"]) and np.isfinite(row["d_loss"]) for row in rows)
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainer.generator.get_weights()))


def test_same_batches_on_jax(tree, packed_file):
    from jaxrun import last_json, run_on_jax

    script = ("import json, sys, numpy as np, keras\n"
              "from colorlab.data import PairDataset\n"
              "from colorlab.packed import PackedPairDataset\n"
              "fast = PackedPairDataset(sys.argv[1], 'train', 16, batch_size=4, seed=2, threads=2)\n"
              "slow = PairDataset(sys.argv[2], 'train', 16, batch_size=4, seed=2)\n"
              "gaps = [float(np.max(np.abs(fast.batch(k, e)[0][key] - slow.batch(k, e)[0][key])))\n"
              "        for e in (0, 1) for k in range(len(slow)) for key in ('target_l', 'reference_lab')]\n"
              "print(json.dumps({'backend': keras.backend.backend(), 'gap': max(gaps),\n"
              "                  'py': isinstance(fast, keras.utils.PyDataset)}))\n")
    result = last_json(run_on_jax(script, packed_file, tree))
    assert result["backend"] == "jax" and result["py"] and result["gap"] == 0.0


def test_pack_command_line(tree, tmp_path, capsys):
    import argparse

    from colorlab.cli import pack

    parser = argparse.ArgumentParser(prog="colorlab")
    pack.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli.npz"
    args = parser.parse_args(["pack", str(tree), str(out), "--splits", "val", "--threads", "1"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.startswith(f"packed val 2 photos of {SIDE}x{SIDE} into {out}")
    with pytest.raises(OutputExistsError):
        args.func(args)
    assert os.path.getsize(out) > 2 * SIDE * SIDE * 3
