"""The cache's single-writer lock."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from embedkit.cache.shards import utc_now
from embedkit.errors import CacheError, CacheLockedError

LOCK_NAME = ".lock"


class CacheLock:
    """Exclusive lock on a cache directory: ``flock`` on ``.lock``, which the kernel releases when the
    holder dies, so the lock of a killed process is taken over by the next writer with no clean-up.
    The holder writes its pid, host and start time into the file so that a refusal can say who holds it.
    ``wait``: seconds to wait for the lock before refusing (0: refuse at once).
    """

    def __init__(self, root: Path, wait: float = 0.0):
        self.root = root
        self.wait = wait
        self.fh = None

    def __enter__(self):
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.root / LOCK_NAME, "a+")
        except OSError as e:
            where = os.fsdecode(e.filename) if e.filename is not None else str(self.root)
            raise CacheError(
                f"cannot write to the cache {self.root}: {e.strerror or e} ({where}); a cache must be in a "
                "folder this user can write to (reading one needs no lock)"
            ) from e
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    self.fh.close()
                    waited = f" (waited {self.wait:g}s)" if self.wait else ""
                    raise CacheLockedError(
                        f"cache {self.root} is being written by another process{holder}{waited}; wait for it "
                        "to finish, or pass --wait-lock SECONDS to queue behind it. Readers are not "
                        "affected: they only ever see complete shards"
                    ) from None
                time.sleep(0.2)
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()}) + "\n"
        )
        self.fh.flush()
        return self

    def _holder(self) -> str:
        try:
            self.fh.seek(0)
            info = json.loads(self.fh.read() or "{}")
            return f" (pid {info['pid']} on {info['host']}, since {info['since']})"
        except (ValueError, KeyError, TypeError):
            return ""

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def live_writer(root: Path) -> str | None:
    """Who holds the lock of the cache at ``root`` right now, as ``pid N on HOST, since T`` (or ``a live
    process`` where the file does not say), or None when no process holds it. Asks the kernel
    (``/proc/locks``) without taking the lock, so a writer starting at the same moment is never refused;
    where that file does not exist, whether the pid recorded in the lock file is alive on this host."""
    path = Path(root) / LOCK_NAME
    try:
        st = path.stat()
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return None
    info = info if isinstance(info, dict) else {}
    told = (
        f"pid {info.get('pid')} on {info.get('host')}, since {info.get('since')}" if info.get("pid") else ""
    )
    try:
        with open("/proc/locks") as fh:
            locks = fh.read().splitlines()
    except OSError:
        locks = None
    if locks is not None:
        inode = f":{st.st_ino} "
        for line in locks:
            parts = line.split()
            if len(parts) > 5 and parts[1] == "FLOCK" and (parts[5] + " ").endswith(inode):
                major, minor = parts[5].split(":")[:2]
                if (int(major, 16), int(minor, 16)) == (os.major(st.st_dev), os.minor(st.st_dev)):
                    return told or f"pid {parts[4]}"
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or info.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass
    return told or "a live process"
