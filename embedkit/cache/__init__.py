"""Embedding cache: HDF5 shards addressed by content key, namespaced by encoder fingerprint.

Reading (``store``: :class:`EmbeddingCache`, :class:`Namespace`) and writing (``writer``:
:class:`CacheWriter`) are separate modules; names are imported on first use, so ``embedkit.cache.keys``
(what the data readers need) costs no HDF5 import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embedkit.cache.keys import KeyIndex, file_key, text_key, text_keys  # noqa: F401
    from embedkit.cache.shards import Shard, write_shard  # noqa: F401
    from embedkit.cache.store import EmbeddingCache, Namespace, Problem  # noqa: F401
    from embedkit.cache.writer import CacheWriter  # noqa: F401

_WHERE = {
    "KeyIndex": "keys",
    "file_key": "keys",
    "text_key": "keys",
    "text_keys": "keys",
    "Shard": "shards",
    "write_shard": "shards",
    "EmbeddingCache": "store",
    "Namespace": "store",
    "Problem": "store",
    "CacheWriter": "writer",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"embedkit.cache.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'embedkit.cache' has no attribute {name!r}")
