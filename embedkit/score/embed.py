"""Vectors of a head's inputs: the cache first, the head's encoder for what the cache lacks."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from embedkit.cache.keys import as_key_array, file_key, text_keys
from embedkit.cache.store import EmbeddingCache
from embedkit.errors import EmbedkitError, InputError, MissingKeysError, NamespaceNotFoundError
from embedkit.heads.base import RewardHead
from embedkit.heads.pair_data import PairData
from embedkit.hints import extract_command


class Embedder:
    """Vectors of a head's inputs: from the cache by content key; what the cache lacks is encoded with the
    head's encoder when ``allow_encode`` (kept in memory), else a :class:`MissingKeysError` names it."""

    def __init__(
        self,
        head: RewardHead,
        cache: str | os.PathLike | EmbeddingCache | None = None,
        allow_encode: bool = True,
        device: str | None = None,
    ):
        self.head = head
        self.fingerprint = head.fingerprint_
        self.cache = (
            None if cache is None else cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
        )
        if self.cache is not None:  # a head or an index folder given as the cache: say so now
            self.cache.check_root()
        self.allow_encode = allow_encode
        self.device = device
        self.spec = (
            head.data_setup_.encoder_spec if head.data_setup_ and head.data_setup_.encoder_spec else ""
        )
        self._ns = None
        self._encoder = None

    @property
    def namespace(self):
        if self._ns is None and self.cache is not None:
            try:
                self._ns = self.cache.namespace(self.fingerprint)
            except NamespaceNotFoundError:
                if not self.allow_encode:
                    raise
                self._ns = False
        return self._ns or None

    def open(self) -> None:
        """Open the cache's namespace of the head's vectors now, so that a cache without it (or no cache
        at all, when nothing may be encoded) is an error before any work starts."""
        _ = self.namespace

    def encoder(self):
        """The head's encoder (same fingerprint), created on first need."""
        if self._encoder is None:
            from embedkit.encoders.spec import EncoderSpec

            fp = self.fingerprint
            spec = EncoderSpec.of(fp, self.spec, device=self.device or "auto")  # its storage, family options
            try:
                enc = spec.create()
            except Exception as e:
                raise EmbedkitError(
                    f"some inputs are not in the cache and the head's encoder ({spec.spec}) is not available here "
                    f"to embed them: {e}"
                ) from None
            if enc.fingerprint != fp:
                raise EmbedkitError(
                    f"the encoder {spec.spec} here gives {enc.fingerprint.describe()}, the head was trained on "
                    f"{fp.describe()}; extract the inputs where that encoder is"
                )
            self._encoder = enc
        return self._encoder

    def rows(
        self, values: Sequence[str], images: bool = False, hint_inputs: Sequence[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """(X (u, D) float32 of the distinct inputs, index (n,) of each input's row in X): a text or image
        that repeats (a prompt with many candidates) is looked up and fed through a head once."""
        first: dict[str, int] = {}  # distinct values first (hashing costs more than a dict lookup)
        inv = np.fromiter(
            (first.setdefault(v, len(first)) for v in values), dtype=np.int64, count=len(values)
        )
        distinct = list(first)
        keys = as_key_array([file_key(v) for v in distinct]) if images else text_keys(distinct)
        uniq, pos, kinv = np.unique(
            keys, return_index=True, return_inverse=True
        )  # equal keys, other spelling
        X = self._vectors(uniq, [distinct[i] for i in pos], images, hint_inputs)
        return X, kinv.reshape(-1).astype(np.int64)[inv]

    def vectors(
        self, values: Sequence[str], images: bool = False, hint_inputs: Sequence[str] = ()
    ) -> np.ndarray:
        """(n, D) float32 for texts (or, with ``images``, image paths), in order."""
        X, idx = self.rows(values, images, hint_inputs)
        return X[idx]

    def _vectors(self, keys: np.ndarray, values: list[str], images: bool, hint_inputs) -> np.ndarray:
        out = np.empty((len(values), self.fingerprint.dim), dtype=np.float32)
        ns = self.namespace
        rows = ns.lookup(keys) if ns is not None else np.full(len(keys), -1)
        have = rows >= 0
        if have.any():
            out[have] = ns.get_rows(rows[have], dtype=np.float32)
        missing = np.nonzero(~have)[0]
        if len(missing):
            if not self.allow_encode:
                cmd = extract_command(
                    hint_inputs or ["INPUT..."],
                    self.cache.root if self.cache else "CACHE",
                    self.fingerprint,
                    spec=self.spec,
                    responses=self.head.data_setup_.responses if self.head.data_setup_ else "in-context",
                )
                examples = "; ".join(repr(values[i][:60]) for i in missing[:3])
                raise MissingKeysError(
                    f"{len(missing)} of {len(values)} inputs are not in the cache under "
                    f"{self.fingerprint.describe()} (e.g. {examples}). Extract them first: {cmd} "
                    "(or let embedkit embed them: --extract-missing)",
                    missing_indices=missing,
                )
            out[missing] = self._encode([values[i] for i in missing], images)
        return out

    def _encode(self, values: list[str], images: bool) -> np.ndarray:
        enc = self.encoder()
        if not images:
            return enc.encode(values)
        from embedkit.data.images import iter_image_batches

        out = np.empty((len(values), enc.dim), dtype=np.float32)
        for _, good, pixels, errors in iter_image_batches(values, enc.image_transform(), 32, workers=0):
            if errors:
                raise InputError(f"cannot embed this image: {errors[0][1]}", file=values[errors[0][0]])
            out[good] = enc.encode_pixels(pixels)
        return out


def head_responses(head: RewardHead) -> str:
    """How the head's training responses were embedded (in-context, alone, images), so that scoring
    embeds new ones the same way."""
    return head.data_setup_.responses if head.data_setup_ else "in-context"


def table_to_data(
    table, embedder: Embedder, split: str | None = None, hint_inputs: Sequence[str] = ()
) -> PairData:
    """A PairTable as PairData for a head, vectors through ``embedder`` (each distinct input once)."""
    n = len(table)
    if not n:
        P, pi, R, ri = (np.zeros((0, embedder.fingerprint.dim), np.float32), np.zeros(0, np.int64)) * 2
    else:
        P, pi = embedder.rows(table.prompt, hint_inputs=hint_inputs)
        R, ri = embedder.rows(table.a + table.b, images=table.responses == "images", hint_inputs=hint_inputs)
    return PairData(
        X=np.vstack([P, R]),
        fingerprint=embedder.fingerprint,
        prompt=pi,
        a=len(P) + ri[:n],
        b=len(P) + ri[n:],
        user=table.user,
        counts=table.counts,
        y=table.y,
        weight=table.weight,
        margin=table.margin,
        split=np.full(n, split, dtype=object) if split else table.split,
        likert_a=table.likert_a,
        likert_b=table.likert_b,
    )
