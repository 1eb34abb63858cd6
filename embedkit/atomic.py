"""Outputs written all at once: a head, an index, a pair or score file or a report appears complete or not
at all, and replacing one never leaves the path without a whole version (old or new) behind it. A write
that fails for want of room (full disk, file-size limit, quota, read-only filesystem) raises
:class:`~embedkit.errors.OutputError` naming the file, and leaves nothing under its name."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import glob
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


def _about(e: OSError, path: Path) -> bool:
    """Whether ``e`` concerns the output at ``path``: no file named (a sync of an open file), the path, a
    folder above it, anything inside it, or one of its hidden temporaries beside it (a file the block
    reads, such as an input, is not)."""
    if e.filename is None:
        return True
    try:
        fn = Path(os.fsdecode(e.filename)).absolute()
        out = path.absolute()
    except (TypeError, ValueError):
        return False
    return (
        fn == out
        or fn in out.parents
        or out in fn.parents
        or (fn.parent == out.parent and fn.name.startswith(".") and out.name in fn.name)
    )


def _output_error(e: OSError, path: Path) -> OutputError | None:
    """The :class:`OutputError` for an ``OSError`` met writing the output at ``path``: any write that cannot
    succeed here (:data:`NO_ROOM`), and any other error about the output itself (permission, a folder that
    cannot be made, a name taken by a file); ``None`` for an error about something else (an input)."""
    if e.errno not in NO_ROOM and not _about(e, path):
        return None
    what = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EFBIG):
        what += " (disk full or a file-size limit?)"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        where = Path(os.fsdecode(e.filename)) if e.filename is not None else path.parent
        if where.parent == path.parent and where.name.startswith("."):  # a hidden temporary: the folder
            where = path.parent
        what += f" (in {where})" if where != path else ""
        what += "; choose an output in a folder you can write to"
    elif e.filename is not None and Path(os.fsdecode(e.filename)).absolute() != path.absolute():
        what += f" ({os.fsdecode(e.filename)})"
    return OutputError(str(path), what)


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` about the output at ``path`` inside the block (no room, read-only, permission,
    a folder that cannot be made) into an :class:`OutputError` naming ``path`` and the cause; errors about
    other files pass unchanged."""
    try:
        yield
    except OutputError:
        raise
    except OSError as e:
        err = _output_error(e, Path(path))
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
    with writing(path):
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


def _pending(path: Path) -> Path:
    """The hidden name a file of :func:`committing` is written under (same suffix, so the writer picks
    the same format)."""
    return path.with_name(f".pending-{os.getpid()}.{path.name}")


def _journal(last: Path) -> Path:
    return last.with_name(f".{last.name}.commit.json")


def _remove_stale(paths: list[Path]) -> None:
    """Remove what killed writes of ``paths`` left behind (hidden pending files of any process, a journal
    written only in part)."""
    for path in paths:
        name = glob.escape(path.name)
        left = [f".pending-*.{name}", f"..pending-*.{name}.*.tmp", f".{name}.commit.json.tmp"]
        for old in [p for pattern in left for p in path.parent.glob(pattern)]:
            with contextlib.suppress(OSError):
                old.unlink()


def finish_commit(last: str | os.PathLike) -> bool:
    """Finish a commit of :func:`committing` that a kill interrupted after its commit point: the files it
    names still under their pending names are renamed into place (or removed where the run wrote none), so
    the set of files is the new one, whole. Called before anything reads or replaces one of the files
    (``last`` is the commit's last file, the one its journal is named after). Returns whether there was
    one to finish."""
    import json

    journal = _journal(Path(last))
    if not journal.exists():
        return False
    with writing(journal):
        steps = json.loads(journal.read_text(encoding="utf-8"))
        for step in steps:
            final = journal.with_name(step["final"])
            if step["pending"] is None:
                final.unlink(missing_ok=True)
            elif (pending := journal.with_name(step["pending"])).exists():
                os.replace(pending, final)
                crash_point("files-renamed")
        fsync_path(journal.parent)
        journal.unlink()
        fsync_path(journal.parent)
    return True


def finish_commits_naming(path: str | os.PathLike) -> None:
    """Finish every interrupted commit in ``path``'s folder that includes ``path`` (what a reader of one
    file of a set calls first: it may not know the set's last file)."""
    import json

    path = Path(path)
    if not path.parent.is_dir():
        return
    for journal in path.parent.glob(".*.commit.json"):
        try:
            names = {s["final"] for s in json.loads(journal.read_text(encoding="utf-8"))}
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if path.name in names:
            finish_commit(journal.with_name(journal.name[1 : -len(".commit.json")]))


@contextlib.contextmanager
def committing(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Write several files that belong together (a users file and the scored file it goes with) so that they
    change together. The block writes each into the yielded hidden pending path (same suffix); a file it
    does not create is removed from its final place, so a stale companion never stays beside a new result.
    When the block ends without an exception, a small journal naming the renames is synced (the commit
    point), then the files are renamed into place in the order given, the last one last, and the journal
    goes. Killed before the commit point: the old files are untouched; after it: :func:`finish_commit`, run
    by the next writer or reader of the files, completes the renames. On an exception before the commit
    point the pending files are removed and nothing changed. Leftovers of killed runs are removed when one
    succeeds. All paths must be in one folder."""
    import json

    finals = [Path(p) for p in paths]
    if len({p.parent.resolve() for p in finals}) != 1:
        raise ValueError("committing: the files must be in one folder")
    last = finals[-1]
    journal = _journal(last)
    partial = journal.with_name(journal.name + ".tmp")
    with writing(last):
        last.parent.mkdir(parents=True, exist_ok=True)
        finish_commit(last)
    pending = [_pending(p) for p in finals]
    try:
        with writing(last):
            yield pending
            steps = [
                {"final": f.name, "pending": t.name if t.exists() else None}
                for f, t in zip(finals, pending, strict=True)
            ]
            for t in pending:
                if t.exists():
                    fsync_path(t)
            partial.write_text(json.dumps(steps), encoding="utf-8")
            fsync_path(partial)
            crash_point("files-written")
            os.replace(partial, journal)  # the commit point
            fsync_path(last.parent)
    except BaseException as e:
        for t in pending:
            t.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
        if isinstance(e, OutputError):  # name the file the user asked for, not its pending name
            for f, t in zip(finals, pending, strict=True):
                if e.path == str(t):
                    raise OutputError(str(f), e.problem) from e
        raise
    crash_point("files-committed")
    finish_commit(last)
    _remove_stale(finals)


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
    with writing(path):
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
        with writing(path):
            if path.exists() and path.is_dir():
                if _exchange(tmp, path):  # tmp now holds the old version
                    fsync_path(path.parent)
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
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
    _remove_stale_dirs(path)


def _remove_stale_dirs(path: Path) -> None:
    """Remove the hidden folders that killed writes of ``path`` left beside it: a temporary folder
    (``.NAME.XXXXXXXX``, mkdtemp's) or an old version swapped out and not yet deleted (``.NAME.old-PID``)."""
    for left in path.parent.glob(f".{glob.escape(path.name)}.*"):
        tail = left.name[len(path.name) + 2 :]
        if (
            left.is_dir()
            and not left.is_symlink()
            and ((len(tail) == 8 and tail.replace("_", "").isalnum()) or tail.startswith("old-"))
        ):
            shutil.rmtree(left, ignore_errors=True)
