"""colorlab.files: atomic writes with ordinary permissions, no clobbering, nothing left behind, data on disk; and
the files a training run writes through it (run.json, the exported generator, checkpoint folders)."""

import json
import os

import numpy as np
import pytest

from colorlab import files
from colorlab.errors import OutputExistsError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask_022():
    """Runs a test under umask 022 (the usual one: new files 0644, new folders 0755)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path) -> int:
    return os.stat(path).st_mode & 0o777


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------------------- files
def test_write_text_bytes_and_json(tmp_path):
    assert files.write_text(tmp_path / "a.txt", "one\r\ntwo ü\n") == tmp_path / "a.txt"
    assert (tmp_path / "a.txt").read_bytes() == "one\r\ntwo ü\n".encode()      # exactly as given, UTF-8
    files.write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    files.write_json(tmp_path / "c.json", {"b": 1, "a": [2]}, sort_keys=True)
    assert (tmp_path / "c.json").read_text() == '{\n "a": [\n  2\n ],\n "b": 1\n}\n'
    files.write_text(tmp_path / "a.txt", "new")                                # overwrite is the default
    assert (tmp_path / "a.txt").read_text() == "new"
    assert _names(tmp_path) == ["a.txt", "b.bin", "c.json"]


def test_write_atomic_hands_a_temporary_that_keeps_the_suffix(tmp_path):
    seen = []

    def write(temporary):
        seen.append(temporary)
        assert temporary.parent == tmp_path and temporary.exists() and temporary.name.startswith(".")
        np.savez(temporary, x=np.arange(3))   # np.savez would append .npz to a name without it

    files.write_atomic(tmp_path / "state.npz", write)
    assert seen[0].name.endswith(".state.npz")
    with np.load(tmp_path / "state.npz") as data:
        np.testing.assert_array_equal(data["x"], [0, 1, 2])
    assert _names(tmp_path) == ["state.npz"]


@posix_only
def test_files_and_folders_get_ordinary_permissions(tmp_path, umask_022):
    assert _mode(files.write_text(tmp_path / "a.txt", "x")) == 0o644
    assert _mode(files.write_atomic(tmp_path / "b.png", lambda t: t.write_bytes(b"png"))) == 0o644

    def fill(folder):
        (folder / "inner.txt").write_text("x")
        (folder / "sub").mkdir()

    folder = files.write_folder(tmp_path / "checkpoint", fill)
    assert _mode(folder) == 0o755 and _mode(folder / "inner.txt") == 0o644 and _mode(folder / "sub") == 0o755
    temporary = files.create_temporary(tmp_path / "segment.nut")
    assert _mode(temporary) == 0o644
    files.move_into_place(temporary, tmp_path / "segment.nut")
    assert _mode(tmp_path / "segment.nut") == 0o644 and _names(tmp_path) == ["a.txt", "b.png", "checkpoint",
                                                                             "segment.nut"]


def test_no_clobber(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("precious")
    with pytest.raises(OutputExistsError, match="keep.txt"):
        files.write_text(path, "new", overwrite=False)
    assert path.read_text() == "precious" and _names(tmp_path) == ["keep.txt"]
    files.write_text(tmp_path / "fresh.txt", "new", overwrite=False)           # a new file is fine
    assert (tmp_path / "fresh.txt").read_text() == "new"

    folder = tmp_path / "step_1"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="step_1"):
        files.write_folder(folder, lambda t: (t / "new.txt").write_text("new"), overwrite=False)
    assert _names(folder) == ["old.txt"]
    files.write_folder(folder, lambda t: (t / "new.txt").write_text("new"))    # overwrite replaces it whole
    assert _names(folder) == ["new.txt"]
    assert _names(tmp_path) == ["fresh.txt", "keep.txt", "step_1"]


def test_no_clobber_when_the_file_appears_while_writing(tmp_path):
    path = tmp_path / "race.txt"

    def write(temporary):
        temporary.write_text("ours")
        path.write_text("theirs")   # someone else creates the file meanwhile

    with pytest.raises(OutputExistsError):
        files.write_atomic(path, write, overwrite=False)
    assert path.read_text() == "theirs" and _names(tmp_path) == ["race.txt"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failure_leaves_no_temporary_and_the_old_file_intact(tmp_path, error):
    path = tmp_path / "old.txt"
    path.write_text("old")

    def write(temporary):
        temporary.write_text("half a fi")
        raise error

    with pytest.raises(type(error)):
        files.write_atomic(path, write)
    assert path.read_text() == "old" and _names(tmp_path) == ["old.txt"]

    def fill(folder):
        (folder / "weights.h5").write_text("half")
        raise error

    with pytest.raises(type(error)):
        files.write_folder(tmp_path / "checkpoint", fill)
    assert _names(tmp_path) == ["old.txt"]


def test_a_failed_move_leaves_no_temporary(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise PermissionError("no")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        files.write_text(tmp_path / "a.txt", "x")
    assert _names(tmp_path) == []


def test_data_is_flushed_to_disk_before_the_move(tmp_path, monkeypatch):
    synced = []   # for each os.fsync call: whether the final name existed already
    real_fsync = os.fsync

    def fsync(fd):
        synced.append((tmp_path / "a.txt").exists() or (tmp_path / "ck").exists())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    files.write_text(tmp_path / "a.txt", "x")
    expected = [False, True] if os.name == "posix" else [False]   # the file, then (POSIX) its folder after the move
    assert synced == expected
    (tmp_path / "a.txt").unlink()
    files.write_folder(tmp_path / "ck", lambda t: [(t / name).write_text(name) for name in ("g.h5", "s.json")])
    # every file in the folder and (POSIX) the folder itself before the rename, then its parent after it
    expected += [False, False, False, True] if os.name == "posix" else [False, False]
    assert synced == expected


def test_remove_temporaries_takes_only_what_a_killed_writer_left(tmp_path):
    (tmp_path / ".tmp-0a1b2c3d.step_00000002").mkdir()
    (tmp_path / ".tmp-0a1b2c3d.step_00000002" / "g.h5").write_text("half")
    (tmp_path / ".tmp-12345678.metrics.csv").write_text("half")
    (tmp_path / "step_00000001").mkdir()
    (tmp_path / "metrics.csv").write_text("kept")
    (tmp_path / ".lock").write_text("kept")
    removed = files.remove_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == [".tmp-0a1b2c3d.step_00000002", ".tmp-12345678.metrics.csv"]
    assert _names(tmp_path) == [".lock", "metrics.csv", "step_00000001"]
    assert files.remove_temporaries(tmp_path / "missing") == []


def test_check_space_allocates_for_real_and_leaves_nothing(tmp_path):
    import errno

    files.check_space(tmp_path, 2**20)   # 1 MiB: there
    with pytest.raises(OSError) as caught:
        files.check_space(tmp_path, 2**60)   # an exbibyte: no disk has it
    assert caught.value.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    assert caught.value.filename == str(tmp_path) and "MiB needed" in caught.value.strerror
    assert _names(tmp_path) == []   # the probe is gone either way


# ------------------------------------------------------------------------------------------- a training run
@posix_only
def test_a_training_run_writes_ordinary_permissions(tmp_path, umask_022):
    """run.json, the checkpoint folder and its files, the exported generator and its config: 0644 / 0755."""
    from places_tree import write_places_tree

    from colorlab.cli import main

    data = write_places_tree(tmp_path / "places", (40, 48), (40, 48))
    out = tmp_path / "run"
    assert main(["train", "--config", "tiny", "--data", str(data), "--out", str(out), "--steps", "1",
                 "--batch-size", "2", "--eager", "--checkpoint-every", "1", "--log-every", "1",
                 "--image-every", "0"]) == 0
    assert json.loads((out / "run.json").read_text())["batch_size"] == 2
    checkpoint = out / "checkpoints" / "step_00000001"
    written = [out / "run.json", out / "generator.weights.h5", out / "generator.json", *checkpoint.iterdir()]
    assert len(written) == 7
    assert {path.name: _mode(path) for path in written} == {path.name: 0o644 for path in written}
    assert _mode(out) == 0o755 and _mode(out / "checkpoints") == 0o755 and _mode(checkpoint) == 0o755
    assert [p.name for p in out.rglob(".*")] == [".lock"]   # the run's lock (colorlab.locks); no temporaries left
    assert _mode(out / ".lock") == 0o644
