"""Content keys: a cache row is addressed by the SHA-256 of what was embedded.

Text keys hash the Unicode NFC-normalised string as UTF-8, so the same text typed with composed or
decomposed accents gets one row. Image keys hash the file's bytes.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np

KEY_DTYPE = np.dtype("S64")
"""Keys are stored as 64 hex characters (ASCII bytes), readable with plain h5py."""


def text_key(text: str) -> str:
    """Hex SHA-256 of the NFC-normalised, UTF-8 encoded text."""
    return hashlib.sha256(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()


def text_keys(texts: Iterable[str]) -> np.ndarray:
    """Keys of many texts, as an ``S64`` array of shape (n,)."""
    return np.array([text_key(t) for t in texts], dtype=KEY_DTYPE)


def file_key(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (images, input files); of a folder (a Hugging Face dataset saved with
    ``save_to_disk``), of its files' relative names and bytes in sorted order."""
    h = hashlib.sha256()
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for f in files:
        if root.is_dir():
            h.update(f.relative_to(root).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(chunk_size):
                h.update(chunk)
    return h.hexdigest()


def as_key_array(keys) -> np.ndarray:
    """Accept hex strings or bytes; return an ``S64`` array (n,)."""
    arr = np.asarray(keys)
    if arr.dtype == KEY_DTYPE:
        return arr
    if arr.dtype.kind == "U":
        return np.char.lower(arr).astype(KEY_DTYPE)
    if arr.dtype.kind == "S":
        return np.char.lower(arr).astype(KEY_DTYPE)
    if arr.size == 0:
        return np.zeros(0, dtype=KEY_DTYPE)
    raise TypeError(f"keys must be hex strings, got dtype {arr.dtype}")


class KeyIndex:
    """Vectorised lookup of hex keys to row numbers, for millions of keys.

    Each key is hashed to 128 bits over all of its bytes (two odd-multiplier sums of its eight 64-bit
    words, each through the splitmix64 finaliser). The index is a table of (hash1, hash2, row) sorted by
    hash1, plus a bucket table on the top bits of hash1 that sends each query straight to its one or two
    candidates: no binary search, about two cache misses per key. A hit needs both hashes to match, so a key
    that is absent could only be taken for a stored one by a 128-bit hash collision (odds below 2^-88
    for a million keys queried against a million stored, far rarer than a memory error). Should two
    stored keys share both hashes, or a key be stored twice, the index falls back to an exact dictionary.
    """

    def __init__(self, keys: np.ndarray):
        keys = as_key_array(keys)
        self.keys = keys
        n = len(keys)
        h1, h2 = _hash128(keys)
        order = np.argsort(h1)
        self._table = np.empty((n, 3), dtype=np.uint64)  # one row per key: adjacent in memory
        self._table[:, 0] = h1[order]
        self._table[:, 1] = h2[order]
        self._table[:, 2] = order
        self._fallback: dict[bytes, int] | None = None
        if n > 1:
            same = self._table[1:, 0] == self._table[:-1, 0]
            if np.any(same & (self._table[1:, 1] == self._table[:-1, 1])):
                self._fallback = {bytes(k): i for i, k in enumerate(keys.tolist())}
        bits = max(1, int(np.ceil(np.log2(max(n, 2)))))  # about one key per bucket
        self._shift = np.uint64(64 - bits)
        counts = np.bincount((self._table[:, 0] >> self._shift).astype(np.intp), minlength=1 << bits)
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.intp)

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, query) -> np.ndarray:
        """Row number of each query key, -1 where absent. Shape (m,), int64."""
        query = as_key_array(query)
        if self._fallback is not None:
            return np.array([self._fallback.get(bytes(k), -1) for k in query.tolist()], dtype=np.int64)
        out = np.full(len(query), -1, dtype=np.int64)
        if len(self.keys) == 0 or len(query) == 0:
            return out
        q1, q2 = _hash128(query)
        bucket = (q1 >> self._shift).astype(np.intp)
        pos, end = np.take(self._starts, bucket), np.take(self._starts, bucket + 1)
        todo = np.arange(len(query))
        last = len(self._table) - 1
        while len(todo):  # one step per position in the bucket; a bucket holds ~1 key, rarely > 4
            live = pos < end
            todo, pos, end = todo[live], pos[live], end[live]
            cand = np.take(self._table, np.minimum(pos, last), axis=0)  # much faster than table[pos]
            match = (cand[:, 0] == q1[todo]) & (cand[:, 1] == q2[todo])
            out[todo[match]] = cand[match, 2].astype(np.int64)
            todo, pos, end = todo[~match], pos[~match] + 1, end[~match]
        return out


_MULTIPLIERS = np.random.default_rng(20261124).integers(0, 2**63, (8, 2), dtype=np.uint64) * np.uint64(
    2
) + np.uint64(1)
"""Odd (hence invertible mod 2^64) multipliers of a key's eight 64-bit words, one column per hash."""


def _hash128(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each 64-byte key over all its bytes, vectorised. Keys that differ in one
    word only (such as sequential ids) never collide: each step is a bijection of that word."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
    words = np.ascontiguousarray(keys, dtype=KEY_DTYPE).view(np.uint64).reshape(len(keys), 8)
    with np.errstate(over="ignore"):
        x = words @ _MULTIPLIERS  # (n, 2), wraps modulo 2^64
        x ^= x >> np.uint64(30)  # splitmix64 finaliser: a bijection that spreads every bit
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return np.ascontiguousarray(x[:, 0]), np.ascontiguousarray(x[:, 1])


class GrowingKeySet:
    """Membership in a set of keys that grows shard by shard, in 16 bytes per key: sorted runs of the
    keys' 128-bit hashes (as :class:`KeyIndex` uses them), merged so that each run is at least twice
    the next (log-structured), so adding n keys costs O(n log n) in all and a lookup searches at most
    log2(n) runs, whatever the shard size."""

    def __init__(self):
        self.runs: list[np.ndarray] = []  # each (n, 2) uint64, sorted by the first column

    def add(self, keys: np.ndarray) -> None:
        run = np.stack(_hash128(as_key_array(keys)), axis=1)
        while self.runs and len(self.runs[-1]) <= 2 * len(run):
            run = np.concatenate([self.runs.pop(), run])
        self.runs.append(run[np.argsort(run[:, 0], kind="stable")])

    def contains(self, keys) -> np.ndarray:
        keys = as_key_array(keys)
        held = np.zeros(len(keys), dtype=bool)
        if not self.runs or not len(keys):
            return held
        h1, h2 = _hash128(keys)
        for run in self.runs:
            pos = np.searchsorted(run[:, 0], h1)
            todo = np.arange(len(keys))
            while len(todo):  # equal first hashes sit side by side: step through them
                p = pos[todo]
                live = p < len(run)
                todo, p = todo[live], p[live]
                same = run[p, 0] == h1[todo]
                todo, p = todo[same], p[same]
                held[todo[run[p, 1] == h2[todo]]] = True
                todo = todo[run[p, 1] != h2[todo]]
                pos[todo] += 1
        return held
