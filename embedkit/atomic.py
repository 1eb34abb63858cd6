"""Outputs written all at once: a head, an index, a pair or score file or a report appears complete or not
at all, and replacing one never leaves the path without a whole version (old or new) behind it. A write
that fails for want of room (full disk, file-size limit, quota, read-only filesystem) raises
:class:`~embedkit.errors.OutputError` naming the file, and leaves nothing under its name."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from embedkit.errors import EmbedkitError, OutputError
from embedkit.faults import crash_point

NO_ROOM = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}
"""The errnos of a write that cannot succeed here, whatever is retried: no space, file too large, quota, a
read-only filesystem."""

_RENAME_EXCHANGE = 2  # renameat2 flag (Linux >= 3.15): swap two paths in one step
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    return False  # EINVAL / ENOSYS (filesystem or kernel without it): fall back


def fsync_path(path: str | os.PathLike) -> None:
    """fsync a file or a directory by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _no_room(e: OSError, path: Path) -> OutputError | None:
    if e.errno not in NO_ROOM:
        return None
    hint = " (disk full or a file-size limit?)" if e.errno in (errno.ENOSPC, errno.EFBIG) else ""
    return OutputError(str(path), f"{e.strerror or e}{hint}")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` of a write that cannot succeed (:data:`NO_ROOM`) inside the block into an
    :class:`OutputError` naming ``path``; other errors pass unchanged."""
    try:
        yield
    except OSError as e:
        err = _no_room(e, Path(path))
        if err is None:
            raise
        raise err from e


@contextlib.contextmanager
def replacing_file(path: str | os.PathLike) -> Iterator[Path]:
    """Write a file into the yielded temporary path (a hidden sibling, ``.NAME.PID.tmp``); when the block
    ends without an exception it is synced and renamed over ``path`` in one step. On an exception the
    temporary file is removed and ``path`` is as it was; after a kill only the hidden temporary is left,
    which no reader opens. (Whether an existing ``path`` may be replaced is the caller's to check.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with writing(path):
            yield tmp
            fsync_path(tmp)
            crash_point("file-written")
            os.replace(tmp, path)
            fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``Path.write_text`` (UTF-8), atomically: the old file or the new one, never half of either."""
    with replacing_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def check_free(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to replace an existing non-empty folder (or a file) unless ``overwrite``."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise EmbedkitError(
            f"{path} already exists and is not empty; choose another --out or pass --overwrite"
        )


@contextlib.contextmanager
def replacing_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Write a folder's files into the yielded temporary folder (beside ``path``, hidden); when the block
    ends without an exception it takes ``path``'s place in one rename (an existing folder is swapped out
    atomically where the system allows, then deleted). On an exception, or a kill, ``path`` is as it was
    and the temporary folder is removed (a killed process's is a hidden ``.NAME.*`` folder)."""
    path = Path(path)
    check_free(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would leave the finished folder private
    try:
        with writing(path):
            yield tmp
            for f in tmp.rglob("*"):  # the files' contents reach the disk before the name does
                if f.is_file():
                    fsync_path(f)
            fsync_path(tmp)
        crash_point("dir-written")
        if path.exists() and path.is_dir():
            if _exchange(tmp, path):  # tmp now holds the old version
                fsync_path(path.parent)
                shutil.rmtree(tmp, ignore_errors=True)
                return
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if path.exists():  # a file where the folder goes (overwrite was given)
                path.unlink()
            os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
