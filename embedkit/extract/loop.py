"""The encoding loop of one extraction: texts in chunks, images decoded in DataLoader workers; it times
itself and collects the images that could not be decoded."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np

from embedkit.data.images import iter_image_batches
from embedkit.encoders.base import Encoder
from embedkit.errors import InputError
from embedkit.faults import crash_point


def default_workers() -> int:
    """Image decoding processes: one per CPU, at most 4 (0 = decode in the main process)."""
    return min(4, os.cpu_count() or 1)


class EncodingLoop:
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
