"""Writing files and folders atomically, with ordinary permissions: the one way colorlab puts anything on disk.

Every file colorlab writes whole (images, run and config files, exported weights, checkpoints, CSV and Markdown
reports, packed corpora, video segments and jobs, dataset subsets) goes through this module, so they all behave the
same (logs that only grow, such as ``metrics.csv`` or TensorBoard events, are appended to in place):

* **Atomic.** The content is written to a hidden temporary in the same folder, flushed to disk (``os.fsync``) and
  then moved into place, and the folder itself is flushed after the move (POSIX), so a reader, or a machine that
  lost power, sees the old file or the complete new one, never half a file; a failure at any point (an error,
  Ctrl-C) leaves no temporary behind. A process killed outright (``kill -9``) can leave one: whoever owns the
  folder removes it with :func:`remove_temporaries`.
* **Ordinary permissions.** Temporaries are created with ``os.open(..., 0o666)`` and ``os.mkdir(..., 0o777)``, so
  the umask decides, as for any new file: ``0644`` files and ``0755`` folders under the usual umask ``022``.
  (``tempfile.mkstemp`` would give ``0600`` and ``tempfile.mkdtemp`` ``0700``, and the move into place keeps them:
  a run folder shared with a group, or served to a notebook, could not be read.)
* **No clobbering on request.** With ``overwrite=False`` the move is a hard link, which fails if the file exists,
  so a file that appears while we write is never replaced (:class:`~colorlab.errors.OutputExistsError`).

A temporary is named ``.tmp-XXXXXXXX.NAME`` (random hex): hidden, and ending in the final name, so writers that
look at the suffix (Keras' ``.weights.h5``, NumPy's ``.npz``) accept it. Standard library only.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import secrets
import shutil
from typing import Callable

from colorlab.errors import OutputExistsError

__all__ = ["write_atomic", "write_bytes", "write_text", "write_json", "write_folder", "create_temporary",
           "move_into_place", "remove_temporaries", "check_space"]

_ATTEMPTS = 100   # random names tried before giving up (each clash is a 1 in 2**32 chance)
_TEMPORARY_PREFIX = ".tmp-"


def _temporary_name(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(f"{_TEMPORARY_PREFIX}{secrets.token_hex(4)}.{path.name}")


def remove_temporaries(folder: str | os.PathLike) -> list[pathlib.Path]:
    """Removes the temporaries (files and folders ``.tmp-*``) that a killed writer left directly in ``folder``.

    Call it only while no other process writes there (e.g. holding the folder's
    :class:`~colorlab.locks.FolderLock`): a live writer's temporary looks the same. A missing folder is fine.

    Returns:
        The paths removed.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(_TEMPORARY_PREFIX):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def check_space(folder: str | os.PathLike, size: int) -> None:
    """Raises ``OSError(ENOSPC)`` (or ``EDQUOT``) unless ``size`` bytes can be written in ``folder`` now.

    For writers that must not meet a full disk half-way: HDF5 (Keras' ``.weights.h5``) leaves its library in a
    broken state after a failed write, and the process then dies at exit with a segmentation fault. The space is
    allocated for real (``os.posix_fallocate`` on a hidden file, removed at once), so quotas and reserved blocks
    count; where the file system cannot allocate ahead (or off POSIX), the free space ``shutil.disk_usage``
    reports is compared instead. Another process may still fill the disk right after the check.
    """
    folder = pathlib.Path(folder)
    size = max(int(size), 1)

    def full(code: int) -> OSError:
        free = shutil.disk_usage(folder).free
        return OSError(code, f"{os.strerror(code)} ({size / 2**20:.1f} MiB needed, {free / 2**20:.1f} MiB free)",
                       os.fspath(folder))

    if hasattr(os, "posix_fallocate"):
        probe = create_temporary(folder / "space")
        try:
            descriptor = os.open(probe, os.O_WRONLY)
            try:
                os.posix_fallocate(descriptor, 0, size)
                return
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS):
                    raise full(error.errno) from None
            finally:
                os.close(descriptor)
        finally:
            os.unlink(probe)
    if shutil.disk_usage(folder).free < size:
        raise full(errno.ENOSPC)


def create_temporary(path: str | os.PathLike) -> pathlib.Path:
    """Creates a new, empty temporary file beside ``path`` (same folder) and returns its path.

    Made with ``os.open(..., O_CREAT | O_EXCL, 0o666)``, so the umask gives it ordinary permissions. For writers
    that keep a file open across calls (a video encoder); others use :func:`write_atomic`. Pair it with
    :func:`move_into_place`, and remove the temporary yourself if the write fails.

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    path = pathlib.Path(path)
    for _ in range(_ATTEMPTS):
        temporary = _temporary_name(path)
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {os.fspath(path)!r}")  # pragma: no cover


def _fsync(path: pathlib.Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(path: pathlib.Path) -> None:
    """Flushes a folder's entries (a rename into it) to disk; POSIX only (Windows cannot open a folder), and where
    the file system can (some network and FUSE ones answer EINVAL)."""
    if os.name != "posix":  # pragma: no cover - Windows
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
    finally:
        os.close(descriptor)


def _exists_error(path: pathlib.Path) -> OutputExistsError:
    return OutputExistsError(f"cannot write {os.fspath(path)!r}: it exists already (pass overwrite=True / "
                             "--overwrite to replace it)")


def move_into_place(temporary: str | os.PathLike, path: str | os.PathLike, *, overwrite: bool = True) -> None:
    """Flushes a finished temporary file to disk and moves it to ``path`` (same folder: atomic).

    Args:
        temporary: a file from :func:`create_temporary`, completely written and closed.
        path: the final name.
        overwrite: replace an existing ``path`` (``os.replace``); without it, a hard link that fails if ``path``
            exists (where the file system has no hard links: a check, then ``os.replace``).

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False; the temporary is left for the caller.
    """
    temporary, path = pathlib.Path(temporary), pathlib.Path(path)
    _fsync(temporary)
    if overwrite:
        os.replace(temporary, path)
    else:
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise _exists_error(path) from None
        except OSError:  # no hard links here (some network or FAT file systems): check, then replace
            if os.path.lexists(path):
                raise _exists_error(path) from None
            os.replace(temporary, path)
        else:
            os.unlink(temporary)
    _fsync_folder(path.parent)


def write_atomic(path: str | os.PathLike, write: Callable[[pathlib.Path], object], *,
                 overwrite: bool = True) -> pathlib.Path:
    """Writes a file atomically: ``write(temporary)`` fills a temporary beside ``path``, which is then moved there.

    Args:
        path: the file to write; its folder must exist.
        write: called once with the temporary's path (an empty file that exists already); it writes the whole
            content there, by name (``np.savez``, ``model.save_weights``, ``image.save``, ``open(..., "wb")``).
        overwrite: replace an existing file; without it an existing file is never touched.

    Returns:
        ``pathlib.Path(path)``.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
        Whatever ``write`` raises; the temporary is removed on every way out (``KeyboardInterrupt`` included).
    """
    path = pathlib.Path(path)
    temporary = create_temporary(path)
    try:
        write(temporary)
        move_into_place(temporary, path, overwrite=overwrite)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    return path


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> pathlib.Path:
    """Writes ``data`` to ``path`` atomically (:func:`write_atomic`)."""
    return write_atomic(path, lambda temporary: temporary.write_bytes(data), overwrite=overwrite)


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> pathlib.Path:
    """Writes ``text`` to ``path`` atomically as UTF-8, exactly as given (no newline translation)."""
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_json(path: str | os.PathLike, data, *, indent: int | None = 1, sort_keys: bool = False,
               overwrite: bool = True) -> pathlib.Path:
    """Writes ``data`` as JSON (UTF-8, ``json.dumps(data, indent, sort_keys)`` and a final newline) atomically."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n", overwrite=overwrite)


def write_folder(path: str | os.PathLike, write: Callable[[pathlib.Path], object], *,
                 overwrite: bool = True) -> pathlib.Path:
    """Writes a folder atomically: ``write(temporary)`` fills a temporary folder beside ``path``, which is then
    renamed to ``path`` (every file in it, and the folder, flushed to disk first; the parent folder after the
    rename). For checkpoints: a folder of files that only make sense together.

    Args:
        path: the folder to write; its parent must exist.
        write: called once with the temporary folder's path (empty, created with ``os.mkdir(..., 0o777)``).
        overwrite: replace an existing folder at ``path`` (removed just before the rename).

    Returns:
        ``pathlib.Path(path)``.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
        Whatever ``write`` raises; the temporary folder is removed on every way out.
    """
    path = pathlib.Path(path)
    if os.path.lexists(path) and not overwrite:
        raise _exists_error(path)
    for _ in range(_ATTEMPTS):
        temporary = _temporary_name(path)
        try:
            os.mkdir(temporary, 0o777)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise FileExistsError(f"could not create a temporary folder beside {os.fspath(path)!r}")
    try:
        write(temporary)
        for folder, _, names in os.walk(temporary):
            for name in names:
                _fsync(pathlib.Path(folder, name))
            _fsync_folder(pathlib.Path(folder))
        if os.path.isdir(path) and not os.path.islink(path):
            if not overwrite:
                raise _exists_error(path)
            shutil.rmtree(path)
        os.replace(temporary, path)   # fails (without replacing) if something else appeared at path meanwhile
        _fsync_folder(path.parent)
    finally:
        if os.path.lexists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
    return path
