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

    Keys are reduced to their first 64 bits (uint64; SHA-256 bits are uniform, so they hash themselves)
    and placed in an open-addressing table with linear probing at load factor <= 1/2: a lookup touches one
    or two slots instead of the ~20 of a binary search, built and probed with numpy for all keys at once.
    Every hit is then confirmed on the full key, so a prefix collision can never return a wrong row; if
    two stored keys share a prefix (astronomically rare) a plain dict takes over.
    """

    def __init__(self, keys: np.ndarray):
        keys = as_key_array(keys)
        self.keys = keys
        prefix = _prefix64(keys)
        n = len(prefix)
        self._fallback: dict[bytes, int] | None = None
        size = 1 << max(4, (2 * n - 1).bit_length())  # a power of two >= 2n
        self._mask = np.uint64(size - 1)
        self._rows = np.full(size, -1, dtype=np.int64 if n >= 2**31 else np.int32)
        self._prefix = np.zeros(size, dtype=np.uint64)
        pending = np.arange(n, dtype=np.int64)
        probe = 0
        overflow: dict[int, int] = {}  # prefix -> row of the keys placed SHORT_PROBES or more slots from home
        while pending.size:  # round r places every pending key whose r-th probe slot is free
            slot = (prefix[pending] + np.uint64(probe)) & self._mask
            free = self._rows[slot] < 0
            cand, cslot = pending[free], slot[free]
            won_slots, first = np.unique(cslot, return_index=True)  # one key per free slot
            won = cand[first]
            self._rows[won_slots] = won
            self._prefix[won_slots] = prefix[won]
            if probe >= SHORT_PROBES:
                overflow.update(zip(prefix[won].tolist(), won.tolist(), strict=True))
            placed = np.zeros(n, dtype=bool)
            placed[won] = True
            pending = pending[~placed[pending]]
            probe += 1
        self._overflow = overflow
        if n >= 2 and len(np.unique(prefix)) != n:  # shared 64-bit prefixes: stay exact with a dict
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
        active = np.arange(len(query), dtype=np.int64)
        for probe in range(SHORT_PROBES):  # vectorised over all queries; most end in the first slot
            if not active.size:
                break
            slot = (qp[active] + np.uint64(probe)) & self._mask
            rows = self._rows[slot]
            found = (rows >= 0) & (self._prefix[slot] == qp[active])
            out[active[found]] = rows[found]
            active = active[(rows >= 0) & ~found]  # an empty slot ends the probe: absent
        if active.size and self._overflow:  # the few keys placed far from home
            get = self._overflow.get
            out[active] = [get(p, -1) for p in qp[active].tolist()]
        hit = np.nonzero(out >= 0)[0]
        wrong = hit[self.keys[out[hit]] != query[hit]]  # same 64-bit prefix, different key
        out[wrong] = -1
        return out


SHORT_PROBES = 4
"""Probe rounds a lookup runs vectorised; keys placed further from their home slot are also in a dict."""

_HEX = np.zeros(256, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def _prefix64(keys: np.ndarray) -> np.ndarray:
    """First 16 hex characters of each key as uint64, vectorised (keys are lower-case hex)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.uint64)
    head = np.frombuffer(np.ascontiguousarray(keys).tobytes(), dtype=np.uint8).reshape(len(keys), 64)[:, :16]
    nib = _HEX[head]
    packed = (nib[:, 0::2] << 4) | nib[:, 1::2]  # (n, 8) bytes, most significant first
    return np.ascontiguousarray(packed).view(">u8").ravel().astype(np.uint64)
