"""Output folders written all at once: a head, an index or a converted data set appears complete or not at
all, and replacing one never leaves the path without a whole version (old or new) behind it."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from embedkit.errors import EmbedkitError
from embedkit.faults import crash_point

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


def check_free(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to replace an existing non-empty folder (or a file) unless ``overwrite``."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise EmbedkitError(f"{path} already exists and is not empty; choose another --out or pass --overwrite")


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
    try:
        yield tmp
        crash_point("dir-written")
        if path.exists() and path.is_dir():
            if _exchange(tmp, path):  # tmp now holds the old version
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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a small text file (a report, a table) atomically: a temporary file beside it renamed into
    place, so a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
