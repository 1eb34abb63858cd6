"""The encoding loop of one extraction: texts in chunks, images decoded in DataLoader workers; it times
itself and collects the images that could not be decoded."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from embedkit.data.images import iter_image_batches
from embedkit.encoders.base import Encoder
from embedkit.errors import InputError
from embedkit.faults import crash_point

WORKER_MEMORY = 512 << 20
"""What one image-decoding worker may hold, in bytes: a process that imported torch (~250 MB) plus the
batches it prefetches (4 of them; 256 images at 224 px are 154 MB in float32)."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: what a container or ``taskset`` gives it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available to new processes (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # pragma: no cover
        return None


def default_workers(cpus: int | None = None, memory: int | None = None) -> int:
    """Image decoding processes: one per CPU this process may use, as many as fit in half the available
    memory at :data:`WORKER_MEMORY` each, at least one (0 = decode in the main process, never the
    default). ``cpus`` / ``memory`` (bytes) default to this machine's."""
    cpus = available_cpus() if cpus is None else cpus
    memory = available_memory() if memory is None else memory
    fit = cpus if memory is None else memory // 2 // WORKER_MEMORY
    return max(1, min(cpus, fit))


def run_ahead(fn: Callable, items: Iterable, ahead: bool = True) -> Iterator:
    """``fn(item)`` for each item, in order; with ``ahead``, ``fn`` of the next item runs in a thread while
    the caller works on this one (one item ahead, so at most two results exist at a time)."""
    if not ahead:
        yield from map(fn, items)
        return
    it = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="embedkit-ahead") as pool:
        nxt = next(it, _END)
        pending = pool.submit(fn, nxt) if nxt is not _END else None
        while pending is not None:
            current = pending.result()
            nxt = next(it, _END)
            pending = pool.submit(fn, nxt) if nxt is not _END else None
            yield current


_END = object()


class EncodingLoop:
    """The encoding loop of one extraction: texts in chunks, images through a DataLoader; times itself."""

    def __init__(self, encoder: Encoder, batch_size: int, overlap: bool | None = None):
        self.encoder = encoder
        self.batch_size = batch_size
        self.overlap = overlap
        """Prepare (tokenize) the next chunk of texts in a thread while this one is encoded. Default: on a
        GPU (where the forward leaves the CPU free), not on a CPU (where the forward uses every core)."""
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
        enc = self.encoder
        emb = np.empty((len(texts), enc.dim), dtype=np.float32)
        step = self.batch_size * 8  # texts per encode call: one progress update every 8 batches
        chunks = [slice(c0, c0 + step) for c0 in range(0, len(texts), step)]
        overlap = str(enc.device).startswith("cuda") if self.overlap is None else self.overlap
        prepared = run_ahead(lambda c: enc.prepare(texts[c], self.batch_size, parts[c]), chunks, overlap)
        t0 = time.perf_counter()
        with contextlib.closing(prepared):
            for chunk, ready in zip(chunks, prepared, strict=True):
                emb[chunk] = enc.encode_prepared(ready)
                if bar is not None:
                    bar.update(min(chunk.stop, len(texts)) - chunk.start)
                crash_point("encode")
        self.seconds += time.perf_counter() - t0
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
