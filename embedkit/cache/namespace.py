"""Read access to one namespace of the cache (the embeddings of one encoder fingerprint, across its
shards): key lookups, rows, the whole matrix as numpy or torch."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from embedkit.cache.keys import KEY_DTYPE, KeyIndex
from embedkit.cache.manifest import NamespaceEntry
from embedkit.cache.shards import Shard
from embedkit.errors import CorruptShardError, MissingKeysError

log = logging.getLogger(__name__)


class Namespace:
    """Read access to the embeddings of one fingerprint, across all its shards."""

    def __init__(
        self, root: Path, name: str, entry: NamespaceEntry, *, strict: bool = False, verify: bool = False
    ):
        self.root = root
        self.name = name
        self.fingerprint = entry.fingerprint
        self.spec = entry.spec
        self.shards: list[Shard] = []
        self.corrupt: list[CorruptShardError] = []
        for info in entry.shards:
            try:
                shard = Shard(root / name / info.file, expected=info, fingerprint=entry.fingerprint)
                if verify:
                    shard.verify()
                self.shards.append(shard)
            except CorruptShardError as e:
                if strict:
                    raise
                log.warning(
                    "%s; its rows are treated as missing (`embedkit cache repair` drops it so that the "
                    "next extract re-encodes them)",
                    e,
                )
                self.corrupt.append(e)
        self._offsets = np.cumsum([0] + [len(s) for s in self.shards])
        self._index: KeyIndex | None = None

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def dim(self) -> int:
        return self.fingerprint.dim

    @property
    def keys(self) -> np.ndarray:
        """All keys, in global row order (shard by shard). Shape (n,), S64."""
        return self.index.keys

    @property
    def index(self) -> KeyIndex:
        if self._index is None:
            parts = [s.read_keys() for s in self.shards]
            self._index = KeyIndex(np.concatenate(parts) if parts else np.zeros(0, KEY_DTYPE))
        return self._index

    def lookup(self, keys) -> np.ndarray:
        """Global row of each key, -1 where absent. Vectorised; shape (m,), int64."""
        return self.index.lookup(keys)

    def contains(self, keys) -> np.ndarray:
        return self.lookup(keys) >= 0

    def get_rows(self, rows: np.ndarray, dtype=None) -> np.ndarray:
        """Embeddings of global rows (any order, repeats allowed). Shape (m, d)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=dtype or self.fingerprint.dtype)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"row out of range [0, {len(self)})")
        shard_of = np.searchsorted(self._offsets, rows, side="right") - 1
        if len(self.shards) == 1 or (len(rows) and shard_of.min() == shard_of.max()):
            s = int(shard_of[0]) if len(rows) else 0
            if self.shards and out.dtype == self.shards[s].dtype:
                np.take(self.shards[s].embeddings, rows - self._offsets[s], axis=0, out=out)
            elif self.shards:
                out[:] = np.take(self.shards[s].embeddings, rows - self._offsets[s], axis=0)
            return out
        for s in np.unique(shard_of):
            sel = np.nonzero(shard_of == s)[0]
            out[sel] = np.take(self.shards[s].embeddings, rows[sel] - self._offsets[s], axis=0)
        return out

    def get(self, keys, dtype=None) -> np.ndarray:
        """Embeddings of the given keys. Shape (m, d). Raises :class:`MissingKeysError` if any is absent."""
        rows = self.lookup(keys)
        missing = np.nonzero(rows < 0)[0]
        if len(missing):
            raise MissingKeysError(
                f"{len(missing)} of {len(rows)} items are not in namespace {self.name} "
                f"({self.fingerprint.describe()})",
                missing_indices=missing,
            )
        return self.get_rows(rows, dtype=dtype)

    def iter_shards(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Lazily yield ``(keys (n_s,), embeddings (n_s, d))`` per shard, for data larger than memory."""
        for shard in self.shards:
            yield shard.read_keys(), shard.read_all()

    def load(self, dtype=None, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The whole namespace as ``(keys (n,), matrix (n, d))``, one contiguous array (``out`` if given:
        read straight into it)."""
        if out is None:
            out = np.empty((len(self), self.dim), dtype=dtype or self.fingerprint.dtype)
        elif out.shape != (len(self), self.dim):
            raise ValueError(f"out has shape {out.shape}; namespace {self.name} is {(len(self), self.dim)}")
        for s, shard in enumerate(self.shards):
            out[self._offsets[s] : self._offsets[s + 1]] = shard.embeddings
        return self.keys, out

    def load_torch(self, device: str = "cpu", dtype=None):
        """The whole namespace as a torch tensor on ``device`` (e.g. ``cuda``). Returns (keys, tensor).
        To a GPU the shards are read straight into page-locked host memory, which then goes over in one
        DMA transfer (no pageable staging copy); PyTorch keeps that buffer for reuse afterwards."""
        import torch

        from embedkit.device import resolve_device

        device = torch.device(resolve_device(device))  # a clear message where the device does not exist
        np_dtype = np.dtype(dtype or self.fingerprint.dtype)
        if device.type != "cuda":
            keys, mat = self.load(dtype=np_dtype)
            return keys, torch.from_numpy(mat).to(device)
        t_dtype = torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
        host = torch.empty((len(self), self.dim), dtype=t_dtype, pin_memory=True)
        keys, _ = self.load(out=host.numpy())
        return keys, host.to(device, non_blocking=True)
