"""The encoder contract every registry entry meets."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedkit.fingerprint import Fingerprint

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx")


class Encoder(ABC):
    """A frozen model mapping texts to fixed-size vectors.

    ``encode`` returns float32 (n, dim) in the order of its input; ``fingerprint`` identifies the
    embedding space (model, weights, layer, pooling, normalisation, dim, storage dtype).
    """

    fingerprint: Fingerprint
    device: str = "cpu"
    compute_dtype: str = "float32"
    spec: str = ""
    """The ``--encoder`` value this encoder was created from (set by ``create_encoder``)."""

    @property
    def dim(self) -> int:
        return self.fingerprint.dim

    def load(self) -> None:  # noqa: B027 - a no-op for encoders without a model to load
        """Load the model now (otherwise the first ``encode`` does). Idempotent."""

    @abstractmethod
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``texts``, shape (len(texts), dim), float32."""


def hash_weight_files(model_dir: str | os.PathLike) -> str:
    """``sha256:<hex>`` over the weight files of a model directory (names and bytes, sorted by path)."""
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) under {root}")
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
    return "sha256:" + h.hexdigest()
