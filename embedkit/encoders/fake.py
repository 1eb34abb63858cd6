"""A deterministic fake encoder for tests and dry runs: a text's vector depends only on its content.

No model is loaded, so it is instant; vectors are standard normal draws seeded by the text's
SHA-256, so equal texts give equal vectors and different texts (almost surely) different ones.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence

import numpy as np

from embedkit.encoders.base import Encoder
from embedkit.fingerprint import Fingerprint


class FakeEncoder(Encoder):
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

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = hashlib.sha256(unicodedata.normalize("NFC", t).encode()).digest()[:8]
            out[i] = np.random.default_rng(int.from_bytes(seed, "little")).standard_normal(self.dim)
        if self.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out
