"""Embedding cache: HDF5 shards addressed by content key, namespaced by encoder fingerprint."""

from embedkit.cache.keys import KeyIndex, file_key, text_key, text_keys
from embedkit.cache.shards import Shard, write_shard
from embedkit.cache.store import CacheWriter, EmbeddingCache, Namespace, Problem

__all__ = [
    "CacheWriter",
    "EmbeddingCache",
    "KeyIndex",
    "Namespace",
    "Problem",
    "Shard",
    "file_key",
    "text_key",
    "text_keys",
    "write_shard",
]
