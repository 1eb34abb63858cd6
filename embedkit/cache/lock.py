"""The cache's single-writer lock."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from embedkit.cache.shards import utc_now
from embedkit.errors import CacheLockedError

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
        self.root.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.root / LOCK_NAME, "a+")
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
