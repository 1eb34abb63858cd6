"""Writing the cache: the one writer of a namespace appends durable shards, adopts complete shards that
interrupted runs left unrecorded, and records shards that Ray workers wrote (see docs/cache-format.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedkit.cache.keys import KEY_DTYPE, GrowingKeySet, KeyIndex, as_key_array
from embedkit.cache.lock import CacheLock
from embedkit.cache.manifest import MANIFEST_NAME, NamespaceEntry
from embedkit.cache.namespace import Namespace
from embedkit.cache.quarantine import move_to_quarantine
from embedkit.cache.shards import Shard, ShardInfo, write_shard
from embedkit.errors import CacheError, CorruptShardError
from embedkit.faults import crash_point
from embedkit.fingerprint import Fingerprint

if TYPE_CHECKING:  # the store creates writers (EmbeddingCache.writer); a writer only needs its methods
    from embedkit.cache.store import EmbeddingCache

log = logging.getLogger(__name__)


class CacheWriter:
    """Appends shards to one namespace. Each ``add`` is durable on return; a crash loses at most the
    shard being written. Corrupt shards found on entry are quarantined so their rows get re-encoded.
    """

    def __init__(self, cache: EmbeddingCache, fingerprint: Fingerprint, spec: str = "", wait: float = 0.0):
        self.cache = cache
        self.fingerprint = fingerprint
        self.spec = spec
        self.dir = cache.root / fingerprint.namespace
        self._lock = CacheLock(cache.root, wait=wait)
        self.shards_written = 0
        self.quarantined: list[Path] = []
        self.adopted: list[Path] = []

    def __enter__(self) -> CacheWriter:
        self.cache.check_root()  # before the lock file: never write into a head or a namespace folder
        self._lock.__enter__()
        try:
            self.dir.mkdir(exist_ok=True)
            entry = self.cache.manifest().namespaces.get(self.fingerprint.namespace)
            ns = Namespace(self.cache.root, self.fingerprint.namespace, entry) if entry else None
            if ns is not None and ns.corrupt:  # opened once: its index covers the good shards only
                for e in ns.corrupt:
                    log.warning("%s; moving it to quarantine/ and re-encoding its rows", e)
                self.quarantined = self.cache._quarantine_locked([e.path for e in ns.corrupt])
            self._existing = ns.index if ns is not None else KeyIndex(np.zeros(0, KEY_DTYPE))
            self._added = GrowingKeySet()  # keys this writer wrote
            self._adopted = GrowingKeySet()  # keys of shards it adopted
            self.tidy()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def tidy(self) -> None:
        """Clear what interrupted writers left in this namespace: delete temporary files (never recorded,
        never read) and adopt complete unrecorded shards (see :meth:`_adopt_orphans`). Runs on entry,
        and after a Ray run has committed what its workers reported."""
        for tmp in list(self.dir.glob(".*.tmp")) + list(self.cache.root.glob(f".{MANIFEST_NAME}.*.tmp")):
            tmp.unlink(missing_ok=True)
        self._adopt_orphans()

    def _adopt_orphans(self) -> None:
        """List the complete shards an interrupted run wrote but never recorded (a crash between rename
        and manifest update, or a Ray run whose driver died before its one manifest commit), after
        checking each in full. A damaged one goes to quarantine/, one repeating items already held (a
        retried Ray task) is deleted."""
        manifest = self.cache.manifest()
        entry = manifest.namespaces.get(self.fingerprint.namespace)
        listed = {s.file for s in entry.shards} if entry else set()
        orphans = sorted(p for p in self.dir.glob("shard-*.h5") if p.name not in listed)
        n_adopted = len(self.adopted)
        for path in orphans:
            try:
                shard = Shard(path, fingerprint=self.fingerprint)
                shard.verify()
                keys = shard.read_keys()
            except CorruptShardError as e:
                log.warning("%s; it was left by an interrupted run: moved to quarantine/", e)
                self.quarantined.append(move_to_quarantine(self.cache.root, self.fingerprint.namespace, path))
                continue
            if len(np.unique(keys)) != len(keys) or self.contains(keys).any():
                log.info("deleting %s: an interrupted run's copy of items the cache already holds", path)
                path.unlink()
                continue
            entry = manifest.namespaces.setdefault(
                self.fingerprint.namespace, NamespaceEntry(self.fingerprint, spec=self.spec)
            )
            entry.shards.append(
                ShardInfo(path.name, shard.rows, shard.checksum, str(shard.attrs.get("created_at", "")))
            )
            self._adopted.add(keys)
            self.adopted.append(path)
        if len(self.adopted) > n_adopted:
            manifest.save(self.cache.root)
            log.info("adopted %d complete shard(s) left by an interrupted run", len(self.adopted) - n_adopted)

    def __exit__(self, *exc):
        self._lock.__exit__(*exc)

    def cached_before(self, keys) -> np.ndarray:
        """Which keys the namespace held before this writer wrote anything (adopted shards included).
        (m,) bool."""
        keys = as_key_array(keys)
        return (self._existing.lookup(keys) >= 0) | self._adopted.contains(keys)

    def written(self, keys) -> np.ndarray:
        """Which keys this writer has added (or committed for Ray workers). (m,) bool."""
        return self._added.contains(as_key_array(keys))

    def contains(self, keys) -> np.ndarray:
        """Which keys the namespace holds (cached before this writer or added by it). (m,) bool."""
        keys = as_key_array(keys)
        return self.cached_before(keys) | self.written(keys)

    def commit(self, infos: list[ShardInfo]) -> list[ShardInfo]:
        """Record shards that other processes wrote into this namespace's folder (Ray workers), in one
        manifest update. Each is opened and checked against its info and the fingerprint; a shard
        repeating items already held, or held by an earlier shard of ``infos`` (the copy of a retried
        task), is deleted instead. Reads one shard's keys at a time, so memory does not grow with the
        run. Returns what was recorded."""
        if not infos:
            return []
        manifest = self.cache.manifest()
        entry = manifest.namespaces.setdefault(self.fingerprint.namespace, NamespaceEntry(self.fingerprint))
        entry.spec = self.spec or entry.spec
        recorded = []
        for info in infos:
            keys = Shard(self.dir / info.file, expected=info, fingerprint=self.fingerprint).read_keys()
            if len(np.unique(keys)) != len(keys) or self.contains(keys).any():
                log.info("deleting %s: a second copy of items already cached (a retried task)", info.file)
                (self.dir / info.file).unlink()
                continue
            entry.shards.append(info)
            self._added.add(keys)
            recorded.append(info)
        if recorded:
            manifest.save(self.cache.root)
            crash_point("manifest-saved")
            self.shards_written += len(recorded)
        return recorded

    def add(self, keys, embeddings: np.ndarray, extra_attrs: dict | None = None) -> ShardInfo:
        """Write one shard and record it in the manifest. Keys must be new to the namespace."""
        keys = as_key_array(keys)
        if len(np.unique(keys)) != len(keys):
            raise CacheError("duplicate keys within one shard")
        if self.contains(keys).any():
            raise CacheError(
                f"keys already cached in namespace {self.fingerprint.namespace}; "
                "a namespace holds each item once"
            )
        manifest = self.cache.manifest()
        entry = manifest.namespaces.setdefault(self.fingerprint.namespace, NamespaceEntry(self.fingerprint))
        entry.spec = self.spec or entry.spec
        taken = {s.file for s in entry.shards} | {p.name for p in self.dir.glob("shard-*.h5")}
        seq = len(entry.shards)
        while f"shard-{seq:06d}.h5" in taken:
            seq += 1
        info = write_shard(self.dir / f"shard-{seq:06d}.h5", keys, embeddings, self.fingerprint, extra_attrs)
        entry.shards.append(info)
        manifest.save(self.cache.root)
        crash_point("manifest-saved")
        self._added.add(keys)
        self.shards_written += 1
        return info
