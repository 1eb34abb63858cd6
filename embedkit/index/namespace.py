"""An index over a cached namespace: nearest neighbours of cached embeddings, saved with FAISS's own format
plus a JSON sidecar, and refused when the cache has changed since it was built.

    INDEX/
      index.faiss   faiss.serialize_index bytes
      keys.npy      the content key of each indexed row, in index order (S64; no pickle)
      index.json    format, fingerprint, namespace, metric, kind, rows, and the namespace's shard checksums
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from embedkit.atomic import replacing_dir
from embedkit.cache.keys import KEY_DTYPE, as_key_array
from embedkit.cache.store import EmbeddingCache, Namespace
from embedkit.errors import CacheError, EmbedkitError
from embedkit.fingerprint import Fingerprint
from embedkit.index.search import VectorIndex

INDEX_FORMAT = "embedkit-index"


class NamespaceIndex:
    """Search a namespace's embeddings by vector or by the key of a cached item."""

    def __init__(
        self,
        index: VectorIndex,
        keys: np.ndarray,
        fingerprint: Fingerprint,
        namespace: str,
        shards: list[str],
    ):
        self.index, self.keys, self.fingerprint, self.namespace, self.shards = (
            index,
            keys,
            fingerprint,
            namespace,
            shards,
        )

    @classmethod
    def build(cls, ns: Namespace, metric: str = "cosine", kind: str = "auto", **opts) -> NamespaceIndex:
        keys, X = ns.load(dtype=np.float32)
        if not len(keys):
            raise EmbedkitError(f"namespace {ns.name} is empty: nothing to index")
        index = VectorIndex.build(X, metric=metric, kind=kind, **opts)
        return cls(index, keys, ns.fingerprint, ns.name, _shard_checksums(ns))

    def search(self, queries, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores (m, k), keys (m, k) as hex strings, "" where fewer than k)."""
        scores, ids = self.index.search(queries, k)
        keys = np.where(ids >= 0, self.keys[np.maximum(ids, 0)].astype(str), "")
        return scores, keys

    def search_keys(self, cache: EmbeddingCache, keys, k: int = 10):
        """Neighbours of items already in the cache, given by content key."""
        ns = cache.namespace(self.fingerprint)
        return self.search(ns.get(as_key_array(keys), dtype=np.float32), k)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        path = Path(path)
        with replacing_dir(path, overwrite) as tmp:
            (tmp / "index.faiss").write_bytes(self.index.to_bytes())
            np.save(tmp / "keys.npy", self.keys.astype(KEY_DTYPE), allow_pickle=False)
            meta = {
                "format": INDEX_FORMAT,
                "fingerprint": self.fingerprint.to_dict(),
                "namespace": self.namespace,
                "metric": self.index.metric,
                "kind": self.index.kind,
                "rows": len(self.keys),
                "shards": self.shards,
            }
            (tmp / "index.json").write_text(json.dumps(meta, indent=1) + "\n")
        return path

    @classmethod
    def load(
        cls, path: str | os.PathLike, cache: str | os.PathLike | EmbeddingCache | None = None
    ) -> NamespaceIndex:
        """Open a saved index; with ``cache``, refuse it if that cache's namespace changed since."""
        path = Path(path)
        try:
            meta = json.loads((path / "index.json").read_text())
        except (OSError, ValueError) as e:
            raise EmbedkitError(f"{path} is not an embedkit index ({e})") from None
        if meta.get("format") != INDEX_FORMAT:
            raise EmbedkitError(
                f"{path / 'index.json'}: format is {meta.get('format')!r}, expected {INDEX_FORMAT!r}"
            )
        fp = Fingerprint.from_dict(meta["fingerprint"])
        if cache is not None:
            cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
            now = _shard_checksums(cache.namespace(fp))
            if now != meta["shards"]:
                raise CacheError(
                    f"the cache {cache.root} changed since the index {path} was built ({len(meta['shards'])} "
                    f"shard(s) then, {len(now)} now, or different contents); rebuild it: embedkit index build "
                    f"--cache {cache.root} --encoder {meta['namespace']} --out {path} --overwrite"
                )
        keys = np.load(path / "keys.npy", allow_pickle=False)
        index = VectorIndex.from_bytes((path / "index.faiss").read_bytes(), meta["metric"], meta["kind"])
        if len(index) != len(keys):
            raise EmbedkitError(f"{path}: index holds {len(index)} vectors but keys.npy {len(keys)}")
        return cls(index, keys, fp, meta["namespace"], meta["shards"])


def _shard_checksums(ns: Namespace) -> list[str]:
    return [s.checksum for s in ns.shards]
