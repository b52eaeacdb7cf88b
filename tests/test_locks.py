"""FolderLock: one process at a time on a folder, released when the holder dies."""

import os
import subprocess
import sys
import textwrap

import pytest

from colorlab.errors import BusyError, ColorlabError
from colorlab.locks import LOCK_NAME, FolderLock

HOLD = textwrap.dedent("""
    import sys, time
    from colorlab.locks import FolderLock
    lock = FolderLock(sys.argv[1], what="training run").acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def _holder(folder):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_lock_creates_the_folder_and_names_its_holder(tmp_path):
    folder = tmp_path / "run" / "deep"
    with FolderLock(folder) as lock:
        assert lock.held and (folder / LOCK_NAME).is_file()
        assert f"process {os.getpid()} on " in lock.holder()
    assert not lock.held


def test_a_second_process_is_refused_at_once_with_the_holder_named(tmp_path):
    process = _holder(tmp_path)
    try:
        with pytest.raises(BusyError, match=rf"training run .* is in use by process {process.pid} on "):
            FolderLock(tmp_path, what="training run").acquire()
        assert issubclass(BusyError, ColorlabError)
    finally:
        process.kill()
        process.wait()


def test_the_lock_is_free_again_after_the_holder_is_killed(tmp_path):
    process = _holder(tmp_path)
    process.kill()
    process.wait()
    with FolderLock(tmp_path) as lock:   # kill -9 released it; the stale file does not block
        assert lock.held


def test_release_is_idempotent_and_reacquire_works(tmp_path):
    lock = FolderLock(tmp_path)
    lock.acquire()
    lock.release()
    lock.release()
    assert not lock.held
    with FolderLock(tmp_path):
        pass
