"""Training under faults: a crash (kill -9) in the middle of a checkpoint, Ctrl-C, a second run on the same folder,
a full disk, damaged checkpoint files and logs. Each ends in one line and a status, or works, and nothing is lost
beyond the step that was running.

The ``tiny`` config (32 px), batch 1, eager, on the 6-photo tree of ``tests/places_tree.py``. The runs that must be
real processes (the kill, Ctrl-C, the second run) run ``colorlab train`` with a stand-in for the training step's
arithmetic (a 20 ms pause, constant losses; the step itself is tested in ``test_train.py``): everything else is
the real thing, and 30 steps take seconds. Two of them start together at the beginning of the module and are
collected by their tests, so they overlap with the in-process ones.
"""

import csv
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest
from places_tree import write_places_tree

from colorlab import train
from colorlab.cli import main
from colorlab.data import PairDataset
from colorlab.errors import BusyError, CheckpointError
from colorlab.locks import FolderLock

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--config", "tiny", "--batch-size", "1", "--eager", "--image-every", "0", "--log-every", "1"]

# `colorlab train` with a stand-in step; with KILL_AT set, it kills itself (SIGKILL) half-way through writing the
# checkpoint of that step (after optimizers.npz, before state.json): a crash at the worst moment, exactly there.
_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import numpy as np
    from colorlab.step import GanStep
    def stand_in(self, batch):
        time.sleep(0.02)
        return dict.fromkeys(("loss", "reconstruction", "histogram", "adversarial", "tv", "d_loss"), 1.0), None
    GanStep.run = stand_in
    savez = np.savez
    def dying_savez(path, **arrays):
        savez(path, **arrays)
        if os.path.basename(os.path.dirname(path)).endswith("step_%08d" % int(os.environ.get("KILL_AT", -1))):
            os.kill(os.getpid(), signal.SIGKILL)
    np.savez = dying_savez
    from colorlab.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **extra}


def _logged_steps(out: pathlib.Path) -> list[int]:
    if not (out / "metrics.csv").exists():
        return []
    with open(out / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle) if row.get("step", "").isdigit()]


def _leftovers(out: pathlib.Path) -> list[str]:
    return sorted(p.name for folder in (out, out / "checkpoints") if folder.is_dir()
                  for p in folder.iterdir() if p.name.startswith(".tmp-"))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_places_tree(tmp_path_factory.mktemp("places") / "root", (40, 48), (40, 48))


@pytest.fixture(scope="module")
def processes(tree, tmp_path_factory):
    """Starts the real processes at once: a run of 30 steps killed while checkpointing step 18, and a long run to
    interrupt with Ctrl-C (and to collide with)."""
    work = tmp_path_factory.mktemp("processes")
    common = ["train", "--data", str(tree), *TINY]
    commands = {
        "killed": [sys.executable, "-c", _SCRIPT, *common, "--steps", "30", "--checkpoint-every", "6",
                   "--out", str(work / "killed")],
        "interrupted": [sys.executable, "-c", _SCRIPT, *common, "--steps", "100000", "--checkpoint-every",
                        "100000", "--out", str(work / "interrupted")],
    }
    started = {name: subprocess.Popen(command, cwd=ROOT, env=_env(**({"KILL_AT": "18"} if name == "killed" else {})),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, command in commands.items()}
    started["work"] = work
    yield started
    for name in commands:
        if started[name].poll() is None:
            started[name].kill()
            started[name].communicate()


# ----------------------------------------------------------------------------------------------- real processes
def test_a_second_run_is_refused_and_ctrl_c_checkpoints_the_current_step(processes, tree, capsys):
    running = processes["interrupted"]
    out = processes["work"] / "interrupted"
    deadline = time.monotonic() + 300
    while len(_logged_steps(out)) < 3 and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running.poll() is None, running.communicate()[1][-3000:]
    # a second run on the same folder (in this process) is refused at once, naming the first
    assert main(["train", "--data", str(tree), *TINY, "--steps", "5", "--out", str(out), "--resume"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("colorlab: error: training run")
    assert f"in use by process {running.pid} on " in error[0]
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=300)
    assert running.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    step = int(last.split("interrupted at step ")[1].split(";")[0])
    checkpoint = out / "checkpoints" / f"step_{step:08d}"
    assert last == (f"colorlab: interrupted at step {step}; checkpoint {checkpoint} kept: run the same command with "
                    "--resume to continue")
    assert step >= 3 and train.list_checkpoints(out) == [checkpoint]   # at the step it finished, not a multiple
    assert _logged_steps(out) == list(range(1, step + 1))               # nothing lost, nothing logged twice
    # the same command with --resume continues from there (here: until one step more)
    assert main(["train", "--data", str(tree), *TINY, "--steps", str(step + 1), "--checkpoint-every", "1000",
                 "--out", str(out), "--resume"]) == 0
    assert f"resumed from step {step}" in capsys.readouterr().out
    assert [p.name for p in train.list_checkpoints(out)] == [checkpoint.name, f"step_{step + 1:08d}"]


def test_a_kill_during_a_checkpoint_then_the_same_command_with_resume_finishes_the_run(processes, tree, capsys):
    """Crash at step 18 of 30 (kill -9 while writing its checkpoint): --resume continues from step 12, removes
    the half-written folder and ends at step 30 (not 48), each step logged once."""
    killed = processes["killed"]
    killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL
    out = processes["work"] / "killed"
    assert [p.name for p in train.list_checkpoints(out)] == ["step_00000006", "step_00000012"]
    assert [name.split(".")[-1] for name in _leftovers(out)] == ["step_00000018"]   # the half-written one
    command = [sys.executable, "-c", _SCRIPT, "train", "--data", str(tree), *TINY, "--steps", "30",
               "--checkpoint-every", "6", "--out", str(out), "--resume"]
    result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed from step 12" in result.stdout and "step 30: loss" in result.stdout
    assert [p.name for p in train.list_checkpoints(out)] == ["step_00000024", "step_00000030"]
    assert _leftovers(out) == []
    assert _logged_steps(out) == list(range(1, 31))   # rows 13-18 of the killed run were dropped, then redone
    state = json.loads((out / "checkpoints" / "step_00000030" / "state.json").read_text())
    assert state["step"] == 30 and (state["epoch"], state["batch_index"]) == divmod(30, 6)   # 6 photos, batch 1
    assert main(command[3:]) == 0   # once more (in this process): the run is complete
    assert "already at step 30 (--steps 30): nothing to train" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------- in this process
def _trainer(out, **kwargs):
    return train.Trainer(train.TrainingRecipe("tiny", batch_size=1), out, compile=False, progress=False,
                         log_every=1, image_every=0, **kwargs)


@pytest.fixture(scope="module")
def dataset(tree):
    return PairDataset(tree, "train", "tiny", batch_size=1, drop_remainder=True)


@pytest.fixture(scope="module")
def two_checkpoints(dataset, tmp_path_factory):
    """A run with checkpoints at steps 1 and 2."""
    out = tmp_path_factory.mktemp("two_checkpoints")
    _trainer(out, checkpoint_every=1).fit(dataset, 2)
    return out


@pytest.fixture(scope="module")
def restorer(tmp_path_factory):
    """One trainer that restores every damaged copy (in its own folder, refilled by ``_copy_run``)."""
    return _trainer(tmp_path_factory.mktemp("restorer") / "run")


def _copy_run(source: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out, ignore=shutil.ignore_patterns(".lock"))
    return out


def _garble(path: pathlib.Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "empty": b"",
                      "garbage": bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8))}[how])


def _drop_key(path: pathlib.Path, key: str) -> None:
    state = json.loads(path.read_text())
    del state[key]
    path.write_text(json.dumps(state))


@pytest.mark.parametrize("name, damage, message", [
    ("optimizers.npz", lambda p: _garble(p, "truncated"), "optimizers.npz: does not load"),
    ("optimizers.npz", lambda p: _garble(p, "empty"), "optimizers.npz: does not load"),
    ("optimizers.npz", lambda p: np.savez(p, g_00000=np.zeros(1)), "optimizers.npz: g_00000 has shape"),
    ("optimizers.npz", lambda p: np.savez(p, other=np.zeros(1)), "optimizers.npz: g_00000 is missing"),
    ("state.json", lambda p: _drop_key(p, "batch_index"), "state.json: lacks batch_index"),
    ("state.json", lambda p: _garble(p, "garbage"), "state.json: unreadable"),
    ("state.json", lambda p: p.write_text('{"step": -1}'), "state.json: lacks epoch"),
    ("generator.weights.h5", lambda p: _garble(p, "truncated"), "the weights do not load"),
    ("discriminator.weights.h5", lambda p: _garble(p, "garbage"), "the weights do not load"),
    ("generator.weights.h5", lambda p: p.unlink(), "not a complete checkpoint (missing generator.weights.h5)"),
])
def test_a_damaged_checkpoint_falls_back_to_the_older_intact_one(two_checkpoints, restorer, name, damage, message):
    out = _copy_run(two_checkpoints, restorer.out_dir)
    damage(out / "checkpoints" / "step_00000002" / name)
    with pytest.warns(UserWarning) as caught:
        assert restorer.restore() == 1
    caught = [warning for warning in caught if warning.category is UserWarning]   # not a stray ResourceWarning
    assert len(caught) == 1
    warning = str(caught[0].message)
    assert message in warning and "step_00000002" in warning and warning.endswith(
        "resumed from the older step_00000001 instead")
    assert (restorer.epoch, restorer.batch_index) == (0, 1)
    assert _logged_steps(out) == [1]
    # every one damaged: one error naming each
    damage(out / "checkpoints" / "step_00000001" / name)
    with pytest.raises(CheckpointError, match="no intact checkpoint in .*step_00000002.*; .*step_00000001"):
        restorer.restore()


def test_the_restored_weights_are_the_older_checkpoints(two_checkpoints, restorer):
    out = _copy_run(two_checkpoints, restorer.out_dir)
    weights = {}
    for step in (1, 2):
        restorer.restore(out / "checkpoints" / f"step_{step:08d}")
        weights[step] = restorer.generator.get_weights() + restorer.discriminator.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(weights[1], weights[2]))
    (out / "checkpoints" / "step_00000002" / "optimizers.npz").write_bytes(b"")
    with pytest.warns(UserWarning, match="does not load"):
        assert restorer.restore() == 1
    for a, b in zip(weights[1], restorer.generator.get_weights() + restorer.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match="optimizers.npz: does not load"):   # one named: no fallback
        restorer.restore(out / "checkpoints" / "step_00000002")


def test_garbage_logs_are_one_warning_each_and_the_run_resumes(two_checkpoints, tree, tmp_path, capsys):
    out = _copy_run(two_checkpoints, tmp_path / "run")
    with open(out / "metrics.csv", "ab") as handle:
        handle.write(b"\x00\xff garbage, not, a row\nabc\n")
    with open(out / "metrics.jsonl", "a") as handle:
        handle.write('{"step": \n[1, 2]\n')
    assert main(["train", "--data", str(tree), *TINY, "--steps", "2", "--out", str(out), "--resume"]) == 0
    captured = capsys.readouterr()
    assert "resumed from step 2" in captured.out
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 2 and all(line.startswith("colorlab: warning: ") for line in warnings)
    assert "metrics.csv: 2 unreadable row(s) dropped" in warnings[0]
    assert "metrics.jsonl: 2 unreadable line(s) dropped" in warnings[1]
    assert _logged_steps(out) == [1, 2]
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


@pytest.fixture(scope="module")
def writer(dataset, tmp_path_factory):
    """A trainer that checkpoints every step, one step into its run."""
    trainer = _trainer(tmp_path_factory.mktemp("writer") / "run", checkpoint_every=1)
    trainer.fit(dataset, 1)
    return trainer


@pytest.mark.parametrize("fault", ["full disk", "write error", "permission"])
def test_a_failed_checkpoint_write_is_one_error_and_keeps_the_previous_one(writer, dataset, monkeypatch, fault):
    trainer, out = writer, writer.out_dir
    before = trainer.step
    hdf5_writes = []
    real_save_weights = type(trainer.generator).save_weights

    def counted(model, path, *args, **kwargs):
        hdf5_writes.append(path)
        return real_save_weights(model, path, *args, **kwargs)

    monkeypatch.setattr(type(trainer.generator), "save_weights", counted)
    if fault == "full disk":   # the space check meets it, before HDF5 writes a byte
        def no_space(descriptor, offset, length):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
        monkeypatch.setattr(shutil, "disk_usage", lambda path: types.SimpleNamespace(total=10**6, free=10))
        reason = "No space left on device"
    elif fault == "write error":   # after the check: the disk fails
        def broken(path, **arrays):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        monkeypatch.setattr(np, "savez", broken)
        reason = os.strerror(errno.EIO)
    else:
        def denied(self, *args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        monkeypatch.setattr(pathlib.Path, "write_text", denied)
        reason = os.strerror(errno.EACCES)
    with pytest.raises(CheckpointError) as caught:
        trainer.fit(dataset, before + 1)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(out / "checkpoints" / f"step_{before + 1:08d}"))
    assert f"could not be written ({reason}" in message and message.endswith(f"step_{before:08d} is kept")
    assert (len(hdf5_writes) == 0) == (fault == "full disk")
    monkeypatch.undo()
    assert train.list_checkpoints(out)[-1].name == f"step_{before:08d}"
    assert _leftovers(out) == []
    FolderLock(out).acquire().release()   # the run folder's lock was let go on the way out
    assert trainer.restore() == before
    trainer.fit(dataset, before + 1)   # the disk is back: the run goes on
    assert train.list_checkpoints(out)[-1].name == f"step_{before + 1:08d}"


def test_the_run_folder_is_locked_while_a_trainer_works_in_it(dataset, tmp_path):
    out = tmp_path / "run"
    trainer = _trainer(out, checkpoint_every=1)
    with FolderLock(out, what="training run"):   # another holder (a separate open file: flock refuses it too)
        for call in (lambda: trainer.fit(dataset, 1), trainer.save_checkpoint):
            with pytest.raises(BusyError, match=f"training run '{out}' is in use by process {os.getpid()} on "):
                call()
    assert train.list_checkpoints(out) == []
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / ".tmp-0123abcd.step_00000009").mkdir()   # left by a killed run
    (out / ".tmp-89abcdef.metrics.csv").write_text("half")
    with trainer.lock():
        assert _leftovers(out) == []   # taking the lock cleans up
        trainer.fit(dataset, 1)         # re-entrant
        with pytest.raises(BusyError):
            FolderLock(out).acquire()
    FolderLock(out).acquire().release()   # released afterwards
