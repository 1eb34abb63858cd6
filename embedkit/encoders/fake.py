"""A deterministic fake encoder for tests and dry runs: a vector depends only on the content.

No model is loaded, so it is instant; vectors are standard normal draws seeded by the SHA-256 of the text,
or of an image's pixels downscaled to 16 x 16 (decoded in the same DataLoader workers as real image
encoders), so equal inputs give equal vectors and different ones (almost surely) different vectors.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence

import numpy as np

from embedkit.encoders.base import Encoder
from embedkit.fingerprint import Fingerprint


def fake_pixels(img):
    """PIL RGB image -> (3, 16, 16) uint8 tensor (module level: it is pickled into DataLoader workers)."""
    import torch

    small = np.asarray(img.resize((16, 16)), dtype=np.uint8)
    return torch.from_numpy(small.transpose(2, 0, 1).copy())


def _seeded(seed_bytes: bytes, dim: int) -> np.ndarray:
    return np.random.default_rng(
        int.from_bytes(hashlib.sha256(seed_bytes).digest()[:8], "little")
    ).standard_normal(dim)


class FakeEncoder(Encoder):
    modalities = ("text", "image")

    def __init__(self, dim: int = 32, dtype: str = "float16", normalize: bool = False, **_ignored):
        self.normalize = normalize
        self.fingerprint = Fingerprint(
            encoder="fake",
            model="embedkit-fake",
            weights="none",
            layer="pooled",
            pooling="hash",
            normalized=normalize,
            dim=dim,
            dtype=dtype,
        )

    def encode(self, texts: Sequence[str], batch_size: int = 32, parts=None) -> np.ndarray:
        rows = [_seeded_text(t, self.dim) for t in texts]
        return self._finish(np.array(rows, dtype=np.float32).reshape(len(texts), self.dim))

    def image_transform(self):
        return fake_pixels

    def encode_pixels(self, pixels) -> np.ndarray:
        rows = [_seeded(b"image:" + p.numpy().tobytes(), self.dim) for p in pixels]
        return self._finish(np.array(rows, dtype=np.float32).reshape(len(pixels), self.dim))

    def _finish(self, out: np.ndarray) -> np.ndarray:
        if self.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def _seeded_text(text: str, dim: int) -> np.ndarray:
    # the seed is the first 8 bytes of the text key's hash, as in every earlier version: namespaces of the
    # fake encoder keep their vectors
    seed = hashlib.sha256(unicodedata.normalize("NFC", text).encode()).digest()[:8]
    return np.random.default_rng(int.from_bytes(seed, "little")).standard_normal(dim)


def create(spec: str, **opts) -> FakeEncoder:
    """``fake``: 32-d, or $EMBEDKIT_FAKE_DIM; only the storage options apply."""
    import os

    return FakeEncoder(
        dim=int(os.environ.get("EMBEDKIT_FAKE_DIM", 32)),
        **{k: v for k, v in opts.items() if k in ("dtype", "normalize")},
    )
