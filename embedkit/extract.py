"""Extraction: encode what the cache lacks (texts and images), write it as shards. The library side of
``embedkit extract``."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from embedkit.cache.store import EmbeddingCache, GrowingKeySet
from embedkit.data.images import iter_image_batches
from embedkit.data.readers import write_jsonl
from embedkit.data.texts import Items, put_back
from embedkit.encoders.base import Encoder
from embedkit.errors import EmbedkitError, InputError
from embedkit.faults import crash_point
from embedkit.fingerprint import Fingerprint

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 100_000
DEFAULT_BATCH_SIZE = 64
STREAM_WINDOW = 100_000
"""Unique items `embedkit extract` reads before encoding them: what bounds its memory on large inputs."""


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
    :func:`embedkit.data.texts.iter_item_windows`: memory then holds one window, however large the
    input). Texts are sorted by length (longest first, within a window) so batches pad little. Images
    are decoded and preprocessed in ``workers`` DataLoader processes (default: up to 4, one per CPU)
    while the model runs; an unreadable image raises :class:`InputError` naming it before the shard it
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
    run = _Run(encoder, batch_size)
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


def _extract_window(items: Items, plan: WindowPlan, run: _Run, bar, shard_size, workers, skip_bad):
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


class WindowPlan:
    """What one extraction has seen so far, so that each window is planned against the cache and the
    windows before it: an item cached before the run, or handed on in an earlier window, is neither
    encoded nor counted again. 16 bytes per such key (see :class:`GrowingKeySet`)."""

    def __init__(self, writer, result: ExtractResult):
        self.writer = writer
        self.result = result
        self.counted = GrowingKeySet()  # keys cached before the run that an earlier window counted
        self.elsewhere = GrowingKeySet()  # keys not in ``writer`` that an earlier window handed on:
        # queued for Ray workers, or images that failed to decode under ``skip_bad``

    def __call__(self, items: Items):
        """``(keys, image_keys, todo, todo_img)`` of one window: the rows of ``items.texts`` (longest
        first, so batches pad little) and of ``items.images`` that neither the cache nor an earlier
        window holds. Counts the window into the result."""
        r = self.result
        keys, image_keys = items.key_array(), items.image_key_array()
        todo_of, new = [], []
        for k in (keys, image_keys):
            before = self.writer.cached_before(k)
            again = before & self.counted.contains(k)  # counted by an earlier window
            held = before | self.writer.written(k) | self.elsewhere.contains(k)
            again |= held & ~before  # written or handed on by an earlier window
            first_seen = before & ~again
            self.counted.add(k[first_seen])
            r.cached_before += int(first_seen.sum())
            new.append(len(k) - int(again.sum()))
            todo_of.append(np.nonzero(~held)[0])
        lengths = np.fromiter(
            (len(items.texts[i]) for i in todo_of[0]), dtype=np.int64, count=len(todo_of[0])
        )
        todo = todo_of[0][np.argsort(-lengths, kind="stable")]
        r.texts += new[0]
        r.images += new[1]
        r.items += new[0] + new[1]
        r.records += items.records
        r.occurrences += items.occurrences
        r.bad_rows += items.bad
        return keys, image_keys, todo, todo_of[1]


def check_modalities(items: Items, encoder: Encoder) -> None:
    """Refuse images for a text-only encoder (``items`` may be a check-only window: it counts images)."""
    n = len(items.images) or items.images_seen
    if n and "image" not in encoder.modalities:
        raise EmbedkitError(
            f"{n} of the inputs are images, and --encoder {encoder.spec or encoder.fingerprint.encoder} "
            "embeds texts only; use an image encoder: clip-h14 or open_clip:ARCH:PRETRAINED"
        )


def default_workers() -> int:
    """Image decoding processes: one per CPU, at most 4 (0 = decode in the main process)."""
    return min(4, os.cpu_count() or 1)


class _Run:
    """The encoding loop of one extraction: texts in chunks, images through a DataLoader; times itself."""

    def __init__(self, encoder: Encoder, batch_size: int):
        self.encoder = encoder
        self.batch_size = batch_size
        self.seconds = 0.0
        self.bad: list[InputError] = []

    def attrs(self, modality: str) -> dict:
        return {
            "compute_device": str(self.encoder.device),
            "compute_dtype": self.encoder.compute_dtype,
            "batch_size": self.batch_size,
            "modality": modality,
        }

    def texts(self, texts: list[str], parts: list[tuple], bar=None) -> np.ndarray:
        emb = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        step = self.batch_size * 8  # texts per encode call: one progress update every 8 batches
        for c0 in range(0, len(texts), step):
            chunk = slice(c0, c0 + step)
            t0 = time.perf_counter()
            emb[chunk] = self.encoder.encode(texts[chunk], batch_size=self.batch_size, parts=parts[chunk])
            self.seconds += time.perf_counter() - t0
            if bar is not None:
                bar.update(len(texts[chunk]))
            crash_point("encode")
        return emb

    def images(
        self, paths: list[Path], workers: int, skip_bad: bool, bar=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``paths`` that were embedded, their embeddings)."""
        enc = self.encoder
        emb = np.empty((len(paths), enc.dim), dtype=np.float32)
        ok = np.zeros(len(paths), dtype=bool)
        t0 = time.perf_counter()
        batches = iter_image_batches(
            paths,
            enc.image_transform(),
            self.batch_size,
            workers=workers,
            size_hint=enc.image_size,
            pin_memory=str(enc.device).startswith("cuda"),
        )
        with contextlib.closing(batches):  # an error below shuts the decoding workers down at once
            for idx, good, pixels, errors in batches:
                for i, err in errors:
                    e = InputError(f"cannot embed this image: {err}", file=str(paths[i]))
                    if not skip_bad:
                        raise e
                    self.bad.append(e)
                if pixels is not None:
                    emb[good] = enc.encode_pixels(pixels)
                    ok[good] = True
                if bar is not None:
                    bar.update(len(idx))
        self.seconds += time.perf_counter() - t0
        return np.nonzero(ok)[0], emb[ok]


def write_bad_rows_report(bad: list[InputError], path: str | os.PathLike) -> Path:
    """One JSON object per skipped row (file, line, field, error), written atomically."""
    rows = ({"file": e.file, "line": e.line, "field": e.field, "error": e.reason} for e in bad)
    write_jsonl(path, rows)
    return Path(path)
