"""Encoder fingerprints: what produced a set of embeddings. A fingerprint is a cache namespace.

Shared by the encoders (which produce one), the cache (which files embeddings under one) and the heads
(which refuse embeddings from another), so that none of those packages has to import the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass

STORAGE_DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class Fingerprint:
    """Identity of an embedding space.

    Two sets of embeddings are comparable exactly when their fingerprints are equal.
    """

    encoder: str
    """Registry name the encoder was created with (``minilm``, ``mpnet``, ``st``, ``fake``...)."""
    model: str
    """Model identifier: Hub name or the directory name of a local model."""
    weights: str
    """Revision or ``sha256:<hex>`` of the weight files."""
    layer: str
    """Which representation: ``pooled`` (sentence embedding before any normalisation) or ``hidden:<i>``."""
    pooling: str
    """Pooling over tokens (``mean``, ``cls``, ``last``...)."""
    normalized: bool
    """Whether rows were L2-normalised before storage."""
    dim: int
    dtype: str
    """Storage dtype: ``float16`` or ``float32``."""
    options: str = ""
    """Other settings that change the vectors, canonical ``key=value;key=value`` (e.g. an LLM's chat
    template and maximum length). Left out of the JSON when empty, so older namespaces keep their ids."""

    def __post_init__(self):
        if self.dtype not in STORAGE_DTYPES:
            raise ValueError(f"dtype must be one of {STORAGE_DTYPES}, got {self.dtype!r}")
        if int(self.dim) <= 0:
            raise ValueError(f"dim must be positive, got {self.dim!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not d["options"]:
            del d["options"]
        return d

    def option(self, name: str, default: str | None = None) -> str | None:
        """One entry of ``options`` by name (its value as given, unescaped)."""
        from urllib.parse import unquote

        parts = dict(part.split("=", 1) for part in self.options.split(";") if part)
        return unquote(parts[name]) if name in parts else default

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> Fingerprint:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(d) - {"options"}
        if missing:
            raise ValueError(f"fingerprint lacks {sorted(missing)}")
        return cls(**{k: d[k] for k in names if k in d})

    @classmethod
    def from_json(cls, s: str) -> Fingerprint:
        return cls.from_dict(json.loads(s))

    @property
    def namespace(self) -> str:
        """Directory-safe, stable id: ``<encoder>-<first 12 hex of sha256(fingerprint json)>``."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.encoder)[:32]
        return f"{slug}-{hashlib.sha256(self.to_json().encode()).hexdigest()[:12]}"

    def describe(self) -> str:
        norm = "normalized" if self.normalized else "unnormalized"
        opts = f", {self.options}" if self.options else ""
        return (
            f"{self.encoder} ({self.model}, {self.layer}/{self.pooling}, {norm}, {self.dim}-d {self.dtype}"
            f"{opts})"
        )


def format_options(**opts) -> str:
    """Canonical ``options`` string: sorted ``key=value`` pairs, None values left out. In a value, ``%``,
    ``;``, ``=`` and control characters are percent-escaped (a prompt may hold any text); values without
    them, like every option before prompts, are written as they are."""
    return ";".join(f"{k}={_escape(str(v))}" for k, v in sorted(opts.items()) if v is not None)


def _escape(value: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in "%;=" or ord(c) < 32 or ord(c) == 127 else c for c in value)
