"""One HDF5 shard: a contiguous (n, d) embedding matrix, a key per row, and self-describing attributes.

Layout (readable with plain h5py, see docs/cache-format.md)::

    /embeddings   (n, d) float16 or float32, contiguous, uncompressed
    /keys         (n,)   S64: hex SHA-256 content key of each row
    attrs: format, schema_version, fingerprint (JSON), namespace, rows, dim, dtype,
           content_sha256, created_at, embedkit_version, plus writer extras (compute device...)

Writes are atomic (temporary file, fsync, rename); reads memory-map the contiguous dataset directly, so
random row access costs what a ``.npy`` memmap costs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from embedkit._version import __version__
from embedkit.atomic import fsync_path, writing
from embedkit.cache.keys import KEY_DTYPE, as_key_array
from embedkit.errors import CorruptShardError
from embedkit.faults import crash_point
from embedkit.fingerprint import Fingerprint

SHARD_FORMAT = "embedkit-shard"
SHARD_SCHEMA_VERSION = 1
REQUIRED_ATTRS = ("format", "schema_version", "fingerprint", "rows", "dim", "dtype", "content_sha256")
_HASH_CHUNK_ROWS = 65536


def content_sha256(keys: np.ndarray, embeddings) -> str:
    """SHA-256 over the key bytes then the embedding bytes (C order), hashed in row chunks."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(keys).tobytes())
    for start in range(0, embeddings.shape[0], _HASH_CHUNK_ROWS):
        h.update(np.ascontiguousarray(embeddings[start : start + _HASH_CHUNK_ROWS]).tobytes())
    return h.hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ShardInfo:
    """What the manifest records of a shard."""

    file: str
    rows: int
    content_sha256: str
    created_at: str


def write_shard(
    path: str | os.PathLike,
    keys,
    embeddings: np.ndarray,
    fingerprint: Fingerprint,
    extra_attrs: dict | None = None,
) -> ShardInfo:
    """Write a shard atomically: temporary file, flush, fsync, rename, fsync of the directory.

    ``embeddings`` (n, d) is cast to the fingerprint's storage dtype. Raises ``ValueError`` on a shape
    mismatch, non-finite values, or values that overflow float16.
    """
    path = Path(path)
    keys = as_key_array(keys)
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] != keys.shape[0] or emb.shape[1] != fingerprint.dim:
        raise ValueError(
            f"embeddings of shape {emb.shape} do not match {keys.shape[0]} keys x {fingerprint.dim} dims"
        )
    if emb.shape[0] == 0:
        raise ValueError("refusing to write an empty shard")
    if not np.all(np.isfinite(emb)):
        raise ValueError("embeddings contain NaN or inf; nothing was written")
    with np.errstate(over="ignore"):
        stored = emb.astype(fingerprint.dtype, copy=False)
    if not np.all(np.isfinite(stored)):
        raise ValueError("embeddings overflow float16 (|x| > 65504); extract with --dtype float32")
    checksum = content_sha256(keys, stored)
    created = utc_now()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # HDF5 writes through a Python file object: a failed write (a full disk, a file-size limit) is then
        # an OSError here, where HDF5's own driver would leave its state broken and the process segfaults
        with writing(path), open(tmp, "w+b") as fh, h5py.File(fh, "w") as f:
            f.create_dataset("embeddings", data=stored)  # contiguous, uncompressed: memory-mappable
            f.flush()
            crash_point("shard-data")
            f.create_dataset("keys", data=keys, dtype=KEY_DTYPE)
            attrs = {
                "format": SHARD_FORMAT,
                "schema_version": SHARD_SCHEMA_VERSION,
                "fingerprint": fingerprint.to_json(),
                "namespace": fingerprint.namespace,
                "rows": int(stored.shape[0]),
                "dim": int(stored.shape[1]),
                "dtype": fingerprint.dtype,
                "content_sha256": checksum,
                "created_at": created,
                "embedkit_version": __version__,
            }
            attrs.update({f"fp_{k}": v for k, v in fingerprint.to_dict().items()})
            attrs.update(extra_attrs or {})
            for k, v in attrs.items():
                f.attrs[k] = v
            f.flush()
        fsync_path(tmp)
        crash_point("shard-written")
        os.replace(tmp, path)
        fsync_path(path.parent)
        crash_point("shard-renamed")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ShardInfo(file=path.name, rows=int(stored.shape[0]), content_sha256=checksum, created_at=created)


class Shard:
    """Read access to one shard file, validated on open (cheap checks; ``verify()`` does the checksum).

    Raises :class:`CorruptShardError` naming the file when it cannot be opened, lacks attributes or
    datasets, is truncated, or disagrees with what the manifest expects.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        expected: ShardInfo | None = None,
        fingerprint: Fingerprint | None = None,
    ):
        self.path = Path(path)
        self.expected = expected
        try:
            self._open(fingerprint)
        except CorruptShardError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise CorruptShardError(self.path, f"cannot be read ({type(e).__name__}: {e})") from e

    def _open(self, fingerprint: Fingerprint | None) -> None:
        if not self.path.exists():
            raise CorruptShardError(self.path, "file is missing")
        with h5py.File(self.path, "r") as f:
            missing = [a for a in REQUIRED_ATTRS if a not in f.attrs]
            if missing:
                raise CorruptShardError(self.path, f"missing attributes {missing}")
            if f.attrs["format"] != SHARD_FORMAT:
                raise CorruptShardError(
                    self.path, f"format is {f.attrs['format']!r}, expected {SHARD_FORMAT!r}"
                )
            if int(f.attrs["schema_version"]) > SHARD_SCHEMA_VERSION:
                raise CorruptShardError(
                    self.path,
                    f"schema version {int(f.attrs['schema_version'])} is newer "
                    f"than this embedkit understands ({SHARD_SCHEMA_VERSION}); upgrade embedkit",
                )
            for name in ("embeddings", "keys"):
                if name not in f:
                    raise CorruptShardError(self.path, f"missing dataset /{name}")
                # Data must live in this file: an external link, external raw storage or a virtual
                # dataset would make a reader open other files (a booby-trapped shard could point at any)
                link = f.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    raise CorruptShardError(
                        self.path, f"/{name} is a {type(link).__name__}, not data in this file"
                    )
                if f[name].external or f[name].is_virtual:
                    raise CorruptShardError(self.path, f"/{name} stores its data in other files; refused")
            self.fingerprint = Fingerprint.from_json(f.attrs["fingerprint"])
            self.rows = int(f.attrs["rows"])
            self.dim = int(f.attrs["dim"])
            self.checksum = str(f.attrs["content_sha256"])
            self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            ds = f["embeddings"]
            if ds.shape != (self.rows, self.dim):
                raise CorruptShardError(
                    self.path, f"/embeddings has shape {ds.shape}, attributes say ({self.rows}, {self.dim})"
                )
            if f["keys"].shape != (self.rows,):
                raise CorruptShardError(
                    self.path, f"/keys has shape {f['keys'].shape}, expected ({self.rows},)"
                )
            if ds.dtype != np.dtype(self.fingerprint.dtype) or self.dim != self.fingerprint.dim:
                raise CorruptShardError(
                    self.path,
                    f"/embeddings is {ds.dtype} x {self.dim}, fingerprint says "
                    f"{self.fingerprint.dtype} x {self.fingerprint.dim}",
                )
            self.dtype = ds.dtype
            self._offset = ds.id.get_offset() if ds.chunks is None and ds.compression is None else None
        if self._offset is not None:
            need = self._offset + self.rows * self.dim * self.dtype.itemsize
            size = self.path.stat().st_size
            if size < need:
                raise CorruptShardError(self.path, f"truncated: {size} bytes, data needs {need}")
        if fingerprint is not None and self.fingerprint != fingerprint:
            raise CorruptShardError(self.path, "fingerprint differs from its namespace in the manifest")
        if self.expected is not None:
            if self.rows != self.expected.rows:
                raise CorruptShardError(
                    self.path, f"has {self.rows} rows, manifest says {self.expected.rows}"
                )
            if self.checksum != self.expected.content_sha256:
                raise CorruptShardError(self.path, "checksum attribute differs from the manifest's")
        self._mm: np.ndarray | None = None

    def __len__(self) -> int:
        return self.rows

    @property
    def embeddings(self) -> np.ndarray:
        """The (n, d) matrix, memory-mapped when the dataset is contiguous (reads happen on indexing)."""
        if self._mm is None:
            if self._offset is not None:
                self._mm = np.memmap(
                    self.path, dtype=self.dtype, mode="r", offset=self._offset, shape=(self.rows, self.dim)
                )
            else:  # chunked or compressed (not written by embedkit): read through h5py
                with h5py.File(self.path, "r") as f:
                    self._mm = f["embeddings"][()]
        return self._mm

    def read_keys(self) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return f["keys"][()].astype(KEY_DTYPE, copy=False)

    def read_all(self) -> np.ndarray:
        return np.array(self.embeddings)

    def verify(self) -> None:
        """Recompute the content checksum; raise :class:`CorruptShardError` on a mismatch."""
        try:
            actual = content_sha256(self.read_keys(), self.embeddings)
        except (OSError, ValueError) as e:
            raise CorruptShardError(self.path, f"cannot be read ({e})") from e
        if actual != self.checksum:
            raise CorruptShardError(
                self.path,
                f"bad checksum: content hashes to {actual[:16]}..., recorded {self.checksum[:16]}...",
            )
