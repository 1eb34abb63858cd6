"""Single-node extraction: encode what the cache lacks (texts and images), window by window, and write it
as shards. ``embedkit extract`` reaches it through :func:`embedkit.extract.files.extract_files`, which
reads and checks the input files first and runs :func:`extract` here or
:func:`embedkit.extract.ray.extract_ray` on a cluster."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from embedkit.cache.store import EmbeddingCache
from embedkit.data.items import Items, put_back
from embedkit.data.readers import write_jsonl
from embedkit.encoders.base import Encoder
from embedkit.errors import InputError
from embedkit.extract.inputs import check_modalities
from embedkit.extract.loop import EncodingLoop, default_workers
from embedkit.extract.plan import WindowPlan
from embedkit.fingerprint import Fingerprint

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 100_000
DEFAULT_BATCH_SIZE = 64


@dataclass
class ExtractResult:
    fingerprint: Fingerprint
    items: int
    """Unique items (texts and images) asked for."""
    cached_before: int
    """Of those, how many the cache already held (not recomputed)."""
    encoded: int
    shards_written: int
    seconds: float
    encode_seconds: float
    quarantined: list[Path] = field(default_factory=list)
    images: int = 0
    """Of ``items``, how many were images."""
    truncated: int = 0
    """Texts cut to the encoder's maximum length (LLM encoders)."""
    max_length: int | None = None
    """That maximum length, in tokens (encoders that truncate)."""
    bad_images: list[InputError] = field(default_factory=list)
    """Unreadable images skipped with ``skip_bad`` (nothing of them is cached)."""
    texts: int = 0
    """Of ``items``, how many were texts."""
    records: int = 0
    """Records read from the inputs (rows, and images of folders)."""
    occurrences: int = 0
    """Items in those records before de-duplication (a prompt of ten pairs counts ten times)."""
    bad_rows: list[InputError] = field(default_factory=list)
    """Bad records skipped with ``skip_bad``."""

    @property
    def namespace(self) -> str:
        return self.fingerprint.namespace

    @property
    def items_per_second(self) -> float:
        return self.encoded / self.encode_seconds if self.encode_seconds > 0 else float("nan")


def extract(
    items: Items | list[str] | Iterable[Items],
    cache: EmbeddingCache | str | os.PathLike,
    encoder: Encoder,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: bool = True,
    workers: int | None = None,
    skip_bad: bool = False,
    wait_lock: float = 0.0,
) -> ExtractResult:
    """Embed the items the cache lacks under ``encoder.fingerprint`` and append them as shards.

    ``items``: an :class:`Items`, a list of texts, or an iterator of :class:`Items` windows (see
    :func:`embedkit.data.items.iter_item_windows`: memory then holds one window, however large the
    input). Texts are sorted by length (longest first, within a window) so batches pad little. Images
    are decoded and preprocessed in ``workers`` DataLoader processes (default: one per CPU, memory
    permitting, see :func:`default_workers`) while the model runs; an unreadable image raises :class:`InputError` naming it before the shard it
    belongs to is written (with ``skip_bad`` it is reported in the result and the rest is cached). Each
    shard is durable when written, so an interrupted run loses at most one shard of work and a re-run
    resumes; items already cached are never recomputed, and the namespace holds each item exactly once.
    One writer at a time: another extraction into the same cache is refused with
    :class:`CacheLockedError` (after waiting up to ``wait_lock`` seconds for it to finish).
    """
    if batch_size < 1 or shard_size < 1:
        raise ValueError("batch_size and shard_size must be positive")
    windows = window_stream(items, encoder)
    cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    fp = encoder.fingerprint
    start = time.perf_counter()
    truncated_before = encoder.truncated
    run = EncodingLoop(encoder, batch_size)
    result = ExtractResult(fp, 0, 0, 0, 0, 0.0, 0.0)
    with (
        cache.writer(fp, spec=encoder.spec, wait=wait_lock) as writer,
        tqdm(
            total=0,
            unit="item",
            desc=f"encoding ({fp.encoder})",
            disable=not progress,
            dynamic_ncols=True,
        ) as bar,
    ):
        plan = WindowPlan(writer, result)
        while (window := next(windows, None)) is not None:
            _extract_window(window, plan, run, bar, shard_size, workers, skip_bad)
            del window  # before the next window is read: memory holds one at a time
        result.quarantined = writer.quarantined
        result.shards_written = writer.shards_written
    result.seconds = time.perf_counter() - start
    result.encode_seconds = run.seconds
    result.truncated = encoder.truncated - truncated_before
    result.max_length = getattr(encoder, "max_length", None)
    result.bad_images = run.bad
    result.encoded -= len(run.bad)
    return result


def window_stream(items: Items | list[str] | Iterable[Items], encoder: Encoder) -> Iterator[Items]:
    """The windows of what :func:`extract` (or ``extract_ray``) takes, as one iterator: an
    :class:`Items`, a list of texts, or an iterator of windows. The first window's modalities are checked
    here, before the cache folder is even created; it is let go of once consumed."""
    if isinstance(items, Items):
        windows: Iterable[Items] = [items]
    elif isinstance(items, list) and all(isinstance(t, str) for t in items):
        windows = [Items()]
        for t in items:
            windows[0].add(t)
    else:
        windows = items
    windows = iter(windows)
    first = next(windows, Items())
    check_modalities(first, encoder)
    return put_back(first, windows)


def _extract_window(items: Items, plan: WindowPlan, run: EncodingLoop, bar, shard_size, workers, skip_bad):
    """Encode and write what one window of items adds to the cache; count it into the result."""
    encoder, writer = run.encoder, plan.writer
    check_modalities(items, encoder)
    keys, image_keys, todo, todo_img = plan(items)
    if not len(todo) and not len(todo_img):
        return
    encoder.load()  # before the bar moves, so its rate is the encoding rate (a no-op once loaded)
    bar.total += len(todo) + len(todo_img)
    bar.refresh()
    for s0 in range(0, len(todo), shard_size):
        shard_idx = todo[s0 : s0 + shard_size]
        emb = run.texts([items.texts[i] for i in shard_idx], [items.parts[i] for i in shard_idx], bar)
        writer.add(keys[shard_idx], emb, extra_attrs=run.attrs("text"))
    if len(todo_img):
        workers = default_workers() if workers is None else workers
        for s0 in range(0, len(todo_img), shard_size):
            shard_idx = todo_img[s0 : s0 + shard_size]
            good, emb = run.images([items.images[i] for i in shard_idx], workers, skip_bad, bar)
            if len(good):
                writer.add(image_keys[shard_idx[good]], emb, extra_attrs=run.attrs("image"))
            failed = np.ones(len(shard_idx), dtype=bool)
            failed[good] = False
            plan.elsewhere.add(image_keys[shard_idx[failed]])  # reported once, not retried per window
    plan.result.encoded += len(todo) + len(todo_img)


def write_bad_rows_report(bad: list[InputError], path: str | os.PathLike) -> Path:
    """One JSON object per skipped row (file, line, field, error), written atomically."""
    rows = ({"file": e.file, "line": e.line, "field": e.field, "error": e.reason} for e in bad)
    write_jsonl(path, rows)
    return Path(path)
