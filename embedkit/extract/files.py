"""The library side of ``embedkit extract``: input files and folders read and checked first (see
:mod:`embedkit.extract.inputs`), then extracted on this machine (:func:`embedkit.extract.run.extract`) or on
a Ray cluster (:func:`embedkit.extract.ray.extract_ray`): the one place that chooses between them."""

from __future__ import annotations

import os
from collections.abc import Sequence

from embedkit.cache.store import EmbeddingCache
from embedkit.encoders.base import Encoder
from embedkit.extract.inputs import read_inputs
from embedkit.extract.run import ExtractResult, extract


def extract_files(
    paths: Sequence[str | os.PathLike],
    cache: EmbeddingCache | str | os.PathLike,
    encoder: str | Encoder = "minilm",
    encoder_options: dict | None = None,
    *,
    text_field: str | None = None,
    image_field: str | None = None,
    responses: str = "in-context",
    skip_bad: bool = False,
    window: int | None = None,
    ray_address: str | None = None,
    ray_workers: int | None = None,
    **options,
) -> ExtractResult:
    """Embed the items of input files and folders (see :mod:`embedkit.data.items`) into ``cache``: what
    ``embedkit extract`` runs. Every record is read and checked before anything is written (bad input,
    an empty input, images for a text-only encoder: an exception, and no cache folder, no shard), then the
    inputs stream in windows of ``window`` unique items (default :data:`STREAM_WINDOW`), so memory holds
    one window.

    ``encoder``: an :class:`Encoder`, or a spec for :func:`embedkit.encoders.create_encoder` with
    ``encoder_options``. ``ray_address``: run on Ray (``local``, ``auto``, ``HOST:PORT``; needs a spec,
    since every worker builds its own encoder); ``ray_workers``: its actors. ``options``: those of
    :func:`extract` (``batch_size``, ``shard_size``, ``progress``, ``workers``, ``wait_lock``).
    """
    from embedkit.encoders.spec import EncoderSpec

    if ray_address is not None and not isinstance(encoder, str):
        raise TypeError("extract_files(..., ray_address=...) needs the encoder as a spec string")
    enc = EncoderSpec(encoder, encoder_options or {}).create() if isinstance(encoder, str) else encoder
    windows = read_inputs(
        paths, enc, text_field=text_field, image_field=image_field, responses=responses,
        skip_bad=skip_bad, window=window,
    )  # fmt: skip
    cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    if ray_address is None:
        return extract(windows, cache, enc, skip_bad=skip_bad, **options)
    from embedkit.extract.ray import extract_ray

    options.pop("workers", None)  # image decoding processes: each Ray actor decodes its own
    return extract_ray(
        windows, cache, EncoderSpec(encoder, encoder_options or {}), address=ray_address, workers=ray_workers,
        skip_bad=skip_bad, **options,
    )  # fmt: skip
