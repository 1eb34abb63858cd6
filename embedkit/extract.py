"""Extraction: encode what the cache lacks, write it as shards. The library side of ``embedkit extract``."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from embedkit.cache.store import EmbeddingCache
from embedkit.data.readers import write_jsonl
from embedkit.data.texts import TextItems
from embedkit.encoders.base import Encoder
from embedkit.errors import InputError
from embedkit.fingerprint import Fingerprint

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 100_000
DEFAULT_BATCH_SIZE = 64


@dataclass
class ExtractResult:
    fingerprint: Fingerprint
    items: int
    """Unique texts asked for."""
    cached_before: int
    """Of those, how many the cache already held (not recomputed)."""
    encoded: int
    shards_written: int
    seconds: float
    encode_seconds: float
    quarantined: list[Path] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.fingerprint.namespace

    @property
    def items_per_second(self) -> float:
        return self.encoded / self.encode_seconds if self.encode_seconds > 0 else float("nan")


def extract(
    items: TextItems | list[str],
    cache: EmbeddingCache | str | os.PathLike,
    encoder: Encoder,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: bool = True,
) -> ExtractResult:
    """Embed the texts the cache lacks under ``encoder.fingerprint`` and append them as shards.

    Texts are sorted by length (longest first) so batches pad little. Each shard is durable when
    written, so an interrupted run loses at most one shard of work and a re-run resumes; texts already
    cached are never recomputed, and the namespace holds each text exactly once.
    """
    if batch_size < 1 or shard_size < 1:
        raise ValueError("batch_size and shard_size must be positive")
    if not isinstance(items, TextItems):
        texts = items
        items = TextItems()
        for t in texts:
            items.add(t)
    cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    fp = encoder.fingerprint
    start = time.perf_counter()
    keys = items.key_array()
    encode_seconds = 0.0
    with cache.writer(fp, spec=encoder.spec) as writer:
        missing = np.nonzero(~writer.contains(keys))[0]
        lengths = np.fromiter((len(items.texts[i]) for i in missing), dtype=np.int64, count=len(missing))
        todo = missing[np.argsort(-lengths, kind="stable")]
        if len(todo):
            encoder.load()  # before the progress bar starts, so its rate is the encoding rate
        step = batch_size * 8  # texts per encode call: one progress update every 8 batches
        with tqdm(
            total=len(todo),
            unit="text",
            desc=f"encoding ({fp.encoder})",
            disable=not progress or not len(todo),
            dynamic_ncols=True,
        ) as bar:
            for s0 in range(0, len(todo), shard_size):
                shard_idx = todo[s0 : s0 + shard_size]
                emb = np.empty((len(shard_idx), fp.dim), dtype=np.float32)
                for c0 in range(0, len(shard_idx), step):
                    chunk = shard_idx[c0 : c0 + step]
                    t0 = time.perf_counter()
                    emb[c0 : c0 + len(chunk)] = encoder.encode(
                        [items.texts[i] for i in chunk], batch_size=batch_size
                    )
                    encode_seconds += time.perf_counter() - t0
                    bar.update(len(chunk))
                writer.add(
                    keys[shard_idx],
                    emb,
                    extra_attrs={
                        "compute_device": str(encoder.device),
                        "compute_dtype": encoder.compute_dtype,
                        "batch_size": batch_size,
                    },
                )
        quarantined = writer.quarantined
        shards = writer.shards_written
    return ExtractResult(
        fingerprint=fp,
        items=len(keys),
        cached_before=len(keys) - len(todo),
        encoded=len(todo),
        shards_written=shards,
        seconds=time.perf_counter() - start,
        encode_seconds=encode_seconds,
        quarantined=quarantined,
    )


def write_bad_rows_report(bad: list[InputError], path: str | os.PathLike) -> Path:
    """One JSON object per skipped row (file, line, field, error), written atomically."""
    rows = ({"file": e.file, "line": e.line, "field": e.field, "error": e.reason} for e in bad)
    write_jsonl(path, rows)
    return Path(path)
