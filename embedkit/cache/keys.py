"""Content keys: a cache row is addressed by the SHA-256 of what was embedded.

Text keys hash the Unicode NFC-normalised string as UTF-8, so the same text typed with composed or
decomposed accents gets one row. Image keys hash the file's bytes.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterable

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
    """Hex SHA-256 of a file's bytes (for images)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
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

    Keys are reduced to their first 64 bits (uint64) and looked up with a sorted ``searchsorted``;
    every hit is then confirmed on the full key, so a prefix collision can never return a wrong row.
    """

    def __init__(self, keys: np.ndarray):
        keys = as_key_array(keys)
        self.keys = keys
        prefix = _prefix64(keys)
        self._order = np.argsort(prefix, kind="stable")
        self._sorted = prefix[self._order]
        self._unique_prefixes = bool(len(prefix) < 2 or np.all(np.diff(self._sorted) != 0))
        self._fallback: dict[bytes, int] | None = None
        if not self._unique_prefixes:  # astronomically rare with SHA-256; stay exact anyway
            self._fallback = {bytes(k): i for i, k in enumerate(keys.tolist())}

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
        qp = _prefix64(query)
        pos = np.searchsorted(self._sorted, qp)
        pos_clipped = np.minimum(pos, len(self._sorted) - 1)
        cand = self._order[pos_clipped]
        hit = (self._sorted[pos_clipped] == qp) & (self.keys[cand] == query)
        out[hit] = cand[hit]
        return out


def _prefix64(keys: np.ndarray) -> np.ndarray:
    """First 16 hex characters of each key as uint64, vectorised."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.uint64)
    head = np.frombuffer(np.ascontiguousarray(keys).tobytes(), dtype=np.uint8).reshape(len(keys), 64)[:, :16]
    # hex digit values: '0'-'9' -> 0-9, 'a'-'f' -> 10-15 (keys are lower-case hex)
    nibbles = np.where(head >= ord("a"), head - (ord("a") - 10), head - ord("0")).astype(np.uint64)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    return (nibbles << shifts).sum(axis=1, dtype=np.uint64)
