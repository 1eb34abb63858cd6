"""The embedding cache: a directory of HDF5 shards grouped into namespaces by encoder fingerprint.

    cache/
      manifest.json                 which shards make up each namespace (source of truth)
      <namespace>/shard-000000.h5   one shard (see shards.py)
      quarantine/                   corrupt shards moved aside by ``verify --quarantine``
      .lock                         held by the single writer

Typical use::

    cache = EmbeddingCache("cache/")
    ns = cache.namespace(encoder="minilm")          # or cache.namespace(fingerprint)
    X = ns.get(text_keys(["a text", "another"]))    # (2, d), raises MissingKeysError if absent
    keys, M = ns.load(dtype=np.float32)             # everything, one contiguous matrix
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedkit.cache.lock import CacheLock, live_writer
from embedkit.cache.manifest import MANIFEST_NAME, Manifest
from embedkit.cache.namespace import Namespace
from embedkit.cache.quarantine import QUARANTINE_DIR, move_to_quarantine
from embedkit.cache.shards import Shard
from embedkit.errors import (
    CacheError,
    CorruptShardError,
    NamespaceNotFoundError,
)
from embedkit.fingerprint import Fingerprint
from embedkit.hints import extract_command

if TYPE_CHECKING:
    from embedkit.cache.writer import CacheWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One finding of :meth:`EmbeddingCache.verify`."""

    namespace: str
    path: str
    problem: str
    severity: str  # "error" (rows unusable), "warning" (stray file, nothing lost) or "note" (a live writer)


@dataclass
class RepairResult:
    """What :meth:`EmbeddingCache.repair` did."""

    dropped: list[tuple[Problem, Path]]
    """The shards dropped from the manifest: what was wrong, and where the file went in quarantine/
    (a missing file is only dropped)."""
    quarantined: list[Path]
    """Damaged shards that interrupted runs left unrecorded, moved to quarantine/."""
    adopted: list[Path]
    """Complete unrecorded shards of interrupted runs, checked and listed."""
    remaining: list[Problem]
    """What is still wrong afterwards (e.g. an item stored twice), for a person to look at."""


class EmbeddingCache:
    """A cache directory. Cheap to construct; reads the manifest on demand."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    # --- reading -------------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        if self.root.exists() and not self.root.is_dir():
            raise CacheError(f"{self.root} is not a directory")
        self.check_root()
        return Manifest.load(self.root)

    def check_root(self) -> None:
        """Refuse a folder that is something else embedkit writes (a head, an index, one namespace of a
        cache), naming what it is: treating it as a cache would write a manifest and shards into it."""
        root = self.root
        if not root.is_dir() or (root / MANIFEST_NAME).exists():
            return
        for name, fmt, what in (
            ("config.json", "embedkit-head", "a saved head"),
            ("index.json", "embedkit-index", "a saved FAISS index"),
        ):
            try:
                if fmt in (root / name).read_text(errors="replace")[:2000]:
                    raise CacheError(
                        f"{root} is {what}, not an embedding cache; pass the --cache the head was trained with "
                        "(its README.md and config.json name the namespace and the files)"
                    )
            except OSError:
                pass
        if any(root.glob("shard-*.h5")):
            parent = root.parent
            where = f"; the cache is its parent folder {parent}" if (parent / MANIFEST_NAME).exists() else ""
            raise CacheError(
                f"{root} is one namespace folder of a cache (it holds shards but no {MANIFEST_NAME}), not a "
                f"cache{where}: pass the cache folder itself"
            )

    def fingerprints(self) -> list[Fingerprint]:
        return [e.fingerprint for e in self.manifest().namespaces.values()]

    def has(self, fingerprint: Fingerprint) -> bool:
        return fingerprint.namespace in self.manifest().namespaces

    def namespace(
        self,
        fingerprint: Fingerprint | None = None,
        *,
        encoder: str | None = None,
        strict: bool = False,
        verify: bool = False,
    ) -> Namespace:
        """Open a namespace by exact fingerprint, or by encoder name when that is unambiguous.

        Raises :class:`NamespaceNotFoundError` (listing what the cache holds) when nothing matches: an
        embedding that was never extracted is an error, never a silent recompute. Opening checks each
        shard's structure, size and fingerprint; ``verify`` also recomputes every checksum (reads all
        the data once: what training and index building do, so that flipped bytes are caught). A
        corrupt shard is skipped with a warning naming it (its rows count as missing), or with
        ``strict`` raises :class:`CorruptShardError`.
        """
        manifest = self.manifest()
        if fingerprint is None and encoder is None:
            raise ValueError("give a fingerprint or an encoder name")
        if fingerprint is not None:
            entry = manifest.namespaces.get(fingerprint.namespace)
            if entry is not None:
                return Namespace(self.root, fingerprint.namespace, entry, strict=strict, verify=verify)
            raise NamespaceNotFoundError(
                self._lacks(manifest, f"embeddings for {fingerprint.describe()}"),
                "Run `" + extract_command(["INPUT..."], self.root, fingerprint) + "` first",
            )
        matches = [
            (ns, e)
            for ns, e in manifest.namespaces.items()
            if encoder in (e.fingerprint.encoder, ns, e.fingerprint.model, e.spec)
        ]
        if not matches:
            raise NamespaceNotFoundError(
                self._lacks(manifest, f"embeddings from encoder {encoder!r}"),
                "Run `" + extract_command(["INPUT..."], self.root, encoder=encoder) + "` first",
            )
        if len(matches) > 1:
            raise NamespaceNotFoundError(
                f"cache {self.root} holds {len(matches)} namespaces for encoder {encoder!r}; name one "
                "by its namespace id: " + "; ".join(f"{ns} = {e.fingerprint.describe()}" for ns, e in matches)
            )
        ns, entry = matches[0]
        return Namespace(self.root, ns, entry, strict=strict, verify=verify)

    def _lacks(self, manifest: Manifest, what: str) -> str:
        """What is missing, and what the cache holds instead."""
        if not self.root.exists():
            return f"cache directory {self.root} does not exist (nothing was extracted into it yet)"
        if not manifest.namespaces:
            return f"cache {self.root} holds no embeddings at all (no {what})"
        return f"cache {self.root} holds no {what}. It holds: " + "; ".join(
            f"{ns} = {e.fingerprint.describe()}" for ns, e in manifest.namespaces.items()
        )

    # --- writing -------------------------------------------------------------------------------------
    def writer(self, fingerprint: Fingerprint, spec: str = "", *, wait: float = 0.0) -> CacheWriter:
        """Exclusive writer for one namespace (a context manager holding the cache lock). ``spec``: the
        ``--encoder`` value that created the encoder, recorded in the manifest for hints. ``wait``:
        seconds to wait for another writer to finish before refusing with :class:`CacheLockedError`."""
        from embedkit.cache.writer import CacheWriter

        return CacheWriter(self, fingerprint, spec=spec, wait=wait)

    # --- checking ------------------------------------------------------------------------------------
    def verify(self, *, checksums: bool = True) -> list[Problem]:
        """Check every shard of every namespace; return the problems found (empty when all is well)."""
        manifest = self.manifest()
        problems: list[Problem] = []
        listed: set[Path] = set()
        for ns, entry in manifest.namespaces.items():
            seen_keys: list[np.ndarray] = []
            for info in entry.shards:
                path = self.root / ns / info.file
                listed.add(path.resolve())
                try:
                    shard = Shard(path, expected=info, fingerprint=entry.fingerprint)
                    if checksums:
                        shard.verify()
                    seen_keys.append(shard.read_keys())
                except CorruptShardError as e:
                    problems.append(Problem(ns, str(path), e.problem, "error"))
            if seen_keys:
                allk = np.concatenate(seen_keys)
                n_dup = len(allk) - len(np.unique(allk))
                if n_dup:
                    problems.append(
                        Problem(ns, str(self.root / ns), f"{n_dup} keys stored more than once", "error")
                    )
        strays = sorted(self.root.glob("*/*.h5")) + sorted(self.root.glob("*/.*.tmp"))
        writer = live_writer(self.root)
        in_flight = 0
        for path in strays + sorted(self.root.glob(f".{MANIFEST_NAME}.*.tmp")):
            if path.parent.name == QUARANTINE_DIR or path.resolve() in listed:
                continue
            if writer is not None:  # a live extract's shards and temporaries: its work, not a leftover
                in_flight += 1
                continue
            what = (
                "unfinished temporary file (left by an interrupted write; ignored by readers, deleted by "
                "the next extract)"
                if path.name.endswith(".tmp")
                else "shard not in the manifest (left by an interrupted run; ignored by readers, checked "
                "and adopted by the next extract)"
            )
            problems.append(Problem(path.parent.name, str(path), what, "warning"))
        if writer is not None:
            problems.append(
                Problem(
                    "",
                    str(self.root),
                    f"an extract is writing this cache now ({writer}): its {in_flight} file(s) not yet in "
                    "the manifest were not checked; run verify again when it has finished",
                    "note",
                )
            )
        return problems

    def repair(self) -> RepairResult:
        """Make the cache whole again, keeping every good row: shards that fail :meth:`verify` (damaged,
        truncated, missing, from another encoder) leave the manifest and go to ``quarantine/``, so that
        the next extract re-encodes exactly their items; temporaries of interrupted writes are deleted
        and complete shards they left unrecorded are checked and adopted. Holds the writer lock."""
        with CacheLock(self.root):
            found = self.verify(checksums=True)
            damaged = [p for p in found if p.severity == "error" and p.path.endswith(".h5")]
            dropped = [(p, dest) for p in damaged for dest in self._quarantine_locked([p.path])]
        from embedkit.cache.writer import CacheWriter

        adopted: list[Path] = []
        moved: list[Path] = []
        for entry in self.manifest().namespaces.values():
            with CacheWriter(self, entry.fingerprint, spec=entry.spec) as w:  # cleans and adopts on entry
                adopted += w.adopted
                moved += w.quarantined
        return RepairResult(dropped, moved, adopted, self.verify(checksums=False))

    def quarantine(self, paths: list[str]) -> list[Path]:
        """Move corrupt shards out of the manifest into ``quarantine/``; the next extract re-encodes them."""
        with CacheLock(self.root):
            return self._quarantine_locked(paths)

    def _quarantine_locked(self, paths: list[str]) -> list[Path]:
        manifest = self.manifest()
        moved = []
        targets = {Path(p).resolve() for p in paths}
        for ns, entry in manifest.namespaces.items():
            keep = []
            for info in entry.shards:
                path = (self.root / ns / info.file).resolve()
                if path in targets:
                    dest = move_to_quarantine(self.root, ns, path)
                    moved.append(dest)
                else:
                    keep.append(info)
            entry.shards = keep
        manifest.namespaces = {ns: e for ns, e in manifest.namespaces.items() if e.shards}
        manifest.save(self.root)
        return moved
