"""Crash points, for proving crash safety: ``EMBEDKIT_CRASH_AT=POINT:N`` kills the process with SIGKILL
the N-th time it reaches ``POINT`` (N defaults to 1); with ``EMBEDKIT_CRASH_ONCE=PATH`` only the first
process to get there dies. Unset, a crash point costs one dictionary lookup.

The points, in the order an extraction passes them:

    encode          after a chunk of a shard is encoded (the shard is not written yet)
    shard-data      mid-write of a shard's temporary file (embeddings written, keys and attributes not)
    shard-written   the temporary shard file is complete and synced, not yet renamed
    shard-renamed   the shard has its final name, the manifest does not list it yet
    manifest-tmp    the new manifest is written to its temporary file, not yet renamed over the old one
    manifest-saved  the manifest lists the new shard
    ray-shard       a Ray worker has written a shard and not yet handed it to the driver

and, for every output written with ``embedkit.atomic`` (heads, indexes, pair and score files, reports):

    dir-written     the new folder is complete under its temporary name, the old one still in place
    file-rows       a row of an output file (JSONL, or a batch of Parquet rows) went to its temporary file
    file-written    the new file is complete and synced under its temporary name, not yet renamed
    files-written   the files of a set (``score``'s scored file and users file) are complete under their
                    pending names, the journal that commits them is not yet in place
    files-committed the journal is in place (the commit point), no file renamed yet
    files-renamed   one file of a committed set has its final name (N-th: after the N-th rename)

The crash-safety tests (tests/cache/test_crash_safety.py) kill extractions at every point and check
that a resumed run ends with exactly what an uninterrupted one would have; tests/test_atomic.py kills
``fit-head``, ``score``, ``index build``, ``convert`` and ``build`` at the output points and checks that
the previous result, if any, is intact and nothing half-written is left where a reader would take it.
"""

from __future__ import annotations

import os
import signal

ENV = "EMBEDKIT_CRASH_AT"
ONCE_ENV = "EMBEDKIT_CRASH_ONCE"
"""If set to a path: crash only in the one process that creates that file first (a restarted Ray worker
starts counting from zero again and would otherwise die forever)."""
POINTS = (
    "encode",
    "shard-data",
    "shard-written",
    "shard-renamed",
    "manifest-tmp",
    "manifest-saved",
    "ray-shard",
)
"""The points an extraction passes."""
OUTPUT_POINTS = (
    "dir-written",
    "file-rows",
    "file-written",
    "files-written",
    "files-committed",
    "files-renamed",
)
"""The points the writers of ``embedkit.atomic`` pass."""
_passed: dict[str, int] = {}


def armed(name: str) -> bool:
    """Whether ``EMBEDKIT_CRASH_AT`` names this point: a loop over rows asks once, then calls
    :func:`crash_point` per row only when it is."""
    return os.environ.get(ENV, "").partition(":")[0] == name


def crash_point(name: str) -> None:
    """SIGKILL this process if ``EMBEDKIT_CRASH_AT`` names this point and this is its N-th pass."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, n = spec.partition(":")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == int(n or 1):
        once = os.environ.get(ONCE_ENV)
        if once:
            try:
                os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)
