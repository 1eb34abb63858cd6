"""What an extraction reads, checked before anything is written: the input files and folders, streamed in
windows of unique items, and whether the encoder can embed them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from embedkit.data.hf import as_paths
from embedkit.data.items import Items, iter_item_windows, put_back
from embedkit.encoders.base import Encoder
from embedkit.errors import EmbedkitError, InputError

STREAM_WINDOW = 100_000
"""Unique items `embedkit extract` reads before encoding them: what bounds its memory on large inputs."""


def read_inputs(
    paths: Sequence[str | os.PathLike],
    encoder: Encoder,
    *,
    text_field: str | None = None,
    image_field: str | None = None,
    responses: str = "in-context",
    skip_bad: bool = False,
    window: int | None = None,
) -> Iterator[Items]:
    """The windows of items of ``paths`` for :func:`embedkit.extract.extract`, every record checked
    first: a missing input, a bad record (unless ``skip_bad``: then it is counted in the windows'
    ``bad``), an input with nothing to embed, or images for a text-only encoder raise here, before the
    first window is handed on, so nothing is written. One window is read to look at; when more follow,
    the files are read once more, keeping nothing, to check the rest (memory holds one window)."""
    if not paths:
        raise EmbedkitError("no inputs given")
    paths = as_paths(paths)  # datasets.Dataset objects: a Parquet file each
    for path in paths:
        if not Path(path).exists():
            raise InputError("no such file or folder", file=str(path))
    window = window or STREAM_WINDOW  # read at call time (tests and large-memory users may change it)
    read = dict(text_field=text_field, image_field=image_field, responses=responses, skip_bad=skip_bad)
    windows = iter_item_windows(paths, window=window, **read)
    first = next(windows)
    if first.last and not len(first):
        raise EmbedkitError("no usable texts or images in the input")
    check_modalities(first, encoder)
    if not first.last:
        check_modalities(next(iter_item_windows(paths, check_only=True, **read)), encoder)
    stream = put_back(first, windows)
    del first  # held by put_back only, so each window is freed once encoded (or queued for Ray)
    return stream


def check_modalities(items: Items, encoder: Encoder) -> None:
    """Refuse images for a text-only encoder (``items`` may be a check-only window: it counts images)."""
    n = len(items.images) or items.images_seen
    if n and "image" not in encoder.modalities:
        raise EmbedkitError(
            f"{n} of the inputs are images, and --encoder {encoder.spec or encoder.fingerprint.encoder} "
            "embeds texts only; use an image encoder: clip-h14 or open_clip:ARCH:PRETRAINED"
        )
