"""The cache manifest: which shards belong to which namespace. It is the single source of truth.

A shard file on disk that the manifest does not list (left by a crash between rename and manifest
update) is ignored by readers and reported by ``embedkit cache verify``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from embedkit.atomic import fsync_path, writing
from embedkit.cache.shards import ShardInfo
from embedkit.errors import CacheError
from embedkit.faults import crash_point
from embedkit.fingerprint import Fingerprint

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "embedkit-cache"
MANIFEST_SCHEMA_VERSION = 1
SHARD_FILE = re.compile(r"shard-[A-Za-z0-9_-]+\.h5")
"""What a shard's file name may be: a plain name in its namespace folder, never a path."""


@dataclass
class NamespaceEntry:
    fingerprint: Fingerprint
    shards: list[ShardInfo] = field(default_factory=list)
    spec: str = ""
    """The ``--encoder`` value last used to write this namespace (a registry name, path or Hub id), so that
    error messages can suggest a command that recreates exactly this namespace."""

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)


@dataclass
class Manifest:
    namespaces: dict[str, NamespaceEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | os.PathLike) -> Manifest:
        path = Path(root) / MANIFEST_NAME
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format is {raw.get('format')!r}, expected {MANIFEST_FORMAT!r}")
            if int(raw.get("schema_version", 0)) > MANIFEST_SCHEMA_VERSION:
                raise ValueError(f"schema version {raw['schema_version']} is newer than this embedkit")
            namespaces = {}
            for ns, entry in raw["namespaces"].items():
                fingerprint = Fingerprint.from_dict(entry["fingerprint"])
                if ns != fingerprint.namespace:  # also keeps every path inside the cache directory
                    raise ValueError(
                        f"namespace {ns!r} does not match its fingerprint ({fingerprint.namespace})"
                    )
                shards = [ShardInfo(**s) for s in entry["shards"]]
                for s in shards:
                    if not isinstance(s.file, str) or not SHARD_FILE.fullmatch(s.file):
                        raise ValueError(f"namespace {ns}: {s.file!r} is not a shard file name (shard-*.h5)")
                namespaces[ns] = NamespaceEntry(fingerprint, shards, spec=str(entry.get("spec", "")))
        except (ValueError, KeyError, TypeError) as e:
            raise CacheError(f"{path}: unreadable cache manifest ({e})") from e
        return cls(namespaces)

    def save(self, root: str | os.PathLike) -> None:
        """Atomic write: temporary file, fsync, rename, fsync of the directory."""
        root = Path(root)
        path = root / MANIFEST_NAME
        data = {
            "format": MANIFEST_FORMAT,
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "namespaces": {
                ns: {
                    "fingerprint": e.fingerprint.to_dict(),
                    "shards": [asdict(s) for s in e.shards],
                    **({"spec": e.spec} if e.spec else {}),
                }
                for ns, e in sorted(self.namespaces.items())
            },
        }
        tmp = root / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
        try:
            with writing(path), open(tmp, "w") as fh:
                json.dump(data, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            crash_point("manifest-tmp")
            os.replace(tmp, path)
            fsync_path(root)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
