"""One process at a time on a folder: an advisory lock held for the life of a job.

A training run folder or a video job's partial folder must have a single writer: two processes appending to one
``metrics.csv``, or encoding into one ``OUT.partial``, corrupt each other's work without an error. A job takes
:class:`FolderLock` on its folder before it writes anything there; a second job on the same folder is refused at
once with a :class:`~colorlab.errors.BusyError` naming the holder (process id, host, start time).

The lock is ``fcntl.flock`` (``msvcrt.locking`` on Windows) on a small file ``.lock`` inside the folder. The
operating system releases it when the process ends in any way, ``kill -9`` included, so a crash never leaves a
folder locked; the file itself stays behind, harmless, and only says who held the lock last. Standard library only.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import socket

from colorlab.errors import BusyError

__all__ = ["FolderLock", "LOCK_NAME"]

#: The lock file's name inside a locked folder.
LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt


def _try_lock(descriptor: int) -> bool:
    """Takes an exclusive, non-blocking lock on an open file; False if another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


class FolderLock:
    """An exclusive lock on a folder for as long as the job runs; a context manager.

    Usage::

        with FolderLock(run_dir, what="training run"):
            ...   # this process is the only colorlab job writing into run_dir

    Args:
        folder: the folder to lock; created (with its parents) if it does not exist.
        what: what the folder is, for the error message ("training run", "video job").

    Raises:
        BusyError: on ``acquire`` / ``with``: another process holds the lock; the message names it.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder"):
        self.folder = pathlib.Path(folder)
        self.what = what
        self._descriptor: int | None = None

    @property
    def path(self) -> pathlib.Path:
        """The lock file, ``folder/.lock``."""
        return self.folder / LOCK_NAME

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._descriptor is not None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as written in the lock file; "" if unknown."""
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def acquire(self) -> "FolderLock":
        """Takes the lock, or raises :class:`BusyError` at once (never waits). Returns ``self``."""
        if self.held:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(descriptor):
            os.close(descriptor)
            holder = self.holder() or "another process"
            raise BusyError(f"{self.what} {os.fspath(self.folder)!r} is in use by {holder}; wait for it to end "
                            "or choose another folder")
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        stamp = f"process {os.getpid()} on {socket.gethostname()} since {started}\n".encode()
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, stamp, 0)
        self._descriptor = descriptor
        return self

    def release(self) -> None:
        """Lets the lock go (closing the file releases it); safe to call twice."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"FolderLock({os.fspath(self.folder)!r}, what={self.what!r}, held={self.held})"
