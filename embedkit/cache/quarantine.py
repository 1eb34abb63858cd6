"""Quarantine: where damaged shards go (``CACHE/quarantine/``) when they leave the manifest, never deleted."""

from __future__ import annotations

import shutil
from pathlib import Path

QUARANTINE_DIR = "quarantine"


def move_to_quarantine(root: Path, namespace: str, path: Path) -> Path:
    """Move a shard file to ``quarantine/<namespace>__<file>`` (never over an earlier one); a file that
    is already gone is only named. Returns the destination."""
    qdir = root / QUARANTINE_DIR
    qdir.mkdir(exist_ok=True)
    dest = qdir / f"{namespace}__{path.name}"
    n = 1
    while dest.exists():
        dest = qdir / f"{namespace}__{path.name}.{n}"
        n += 1
    if path.exists():
        shutil.move(str(path), dest)
    return dest
