"""The items of input files: what ``embedkit extract`` embeds (texts, and images for image encoders).

Inputs:
- a **text file**: one item per record, from a field (``--text-field``; ``text`` when present);
- a **file of image paths** (``--image-field``): one image per record, the path relative to the file;
- a **folder**: every image under it, recursively;
- a **pair file** (records with ``prompt`` and ``chosen``/``rejected`` or ``left``/``right``): the
  prompt and each response become items. A text response is embedded in context, as
  ``join_in_context(prompt, response)``, unless ``responses="alone"``; responses that are image paths
  (``responses="images"``, or detected from the file extension) are images. A prompt shared by many
  pairs is one item.

Texts are keyed by the hash of the text, images by the hash of the file's bytes, so an item seen twice
(the same picture under two names included) is embedded once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedkit.cache.keys import KEY_DTYPE, file_key, text_key
from embedkit.data.hf import folder_format
from embedkit.data.images import find_images, resolve_image_path
from embedkit.data.pairs import RESPONSE_MODES, join_in_context, pair_layout, resolve_responses
from embedkit.data.readers import iter_records, require_text
from embedkit.errors import InputError


@dataclass
class Items:
    """Unique items to embed, in first-seen order, and what was read to find them.

    Texts: ``texts``, ``keys`` and ``parts`` (``(prompt, response)`` for a response in context, else
    ``(text, None)``: encoders with a chat template use it). Images: ``images`` (paths) and ``image_keys``.
    """

    texts: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    parts: list[tuple] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    image_keys: list[str] = field(default_factory=list)
    records: int = 0
    occurrences: int = 0
    bad: list[InputError] = field(default_factory=list)
    images_seen: int = 0
    """Image occurrences read (repeats included): what a ``check_only`` window, which keeps no items,
    still tells about images."""
    last: bool = True
    """False for a window of :func:`iter_item_windows` that was yielded because it was full: more of
    the input may follow (True for the final window, and for a whole input)."""
    _seen: set = field(default_factory=set, repr=False)

    def add(self, text: str, part: tuple | None = None) -> None:
        self.occurrences += 1
        key = text_key(text)
        if key not in self._seen:
            self._seen.add(key)
            self.texts.append(text)
            self.keys.append(key)
            self.parts.append(part or (text, None))

    def add_image(self, path: Path) -> None:
        self.occurrences += 1
        self.images_seen += 1
        key = file_key(path)
        if key not in self._seen:
            self._seen.add(key)
            self.images.append(Path(path))
            self.image_keys.append(key)

    def __len__(self) -> int:
        return len(self.texts) + len(self.images)

    def key_array(self) -> np.ndarray:
        """Keys of the texts (in ``texts`` order)."""
        return np.array(self.keys, dtype=KEY_DTYPE)

    def image_key_array(self) -> np.ndarray:
        return np.array(self.image_keys, dtype=KEY_DTYPE)


def collect_items(
    paths: Iterable[str | os.PathLike],
    *,
    text_field: str | None = None,
    image_field: str | None = None,
    responses: str = "in-context",
    skip_bad: bool = False,
) -> Items:
    """Read every input (files and folders of images) and return the unique items to embed.

    Raises :class:`InputError` at the first bad record (missing file or field, empty or non-string
    text, malformed line, an image path that is missing or leaves its file's folder) unless ``skip_bad``,
    which collects them in ``Items.bad`` instead. Images are checked for readability when encoded.
    """
    windows = iter_item_windows(
        paths, text_field=text_field, image_field=image_field, responses=responses, skip_bad=skip_bad
    )
    return next(windows)


def iter_item_windows(
    paths: Iterable[str | os.PathLike],
    *,
    text_field: str | None = None,
    image_field: str | None = None,
    responses: str = "in-context",
    skip_bad: bool = False,
    window: int | None = None,
    check_only: bool = False,
) -> Iterator[Items]:
    """:func:`collect_items` in windows of about ``window`` unique items (all at once when None), read
    as the files stream by, so that memory holds one window however large the input. An item is unique
    within its window; one repeated across windows is left to the cache to recognise. A window's
    ``last`` tells whether it ends the input (False: more may follow), so that a caller can tell a
    one-window input from a larger one without reading ahead. With ``check_only`` nothing is kept or
    hashed: the files are only checked, and one empty window carrying the counts (``images_seen``
    included) and bad records is yielded.
    """
    if responses not in RESPONSE_MODES:
        raise ValueError(f"responses must be one of {RESPONSE_MODES}, got {responses!r}")
    items = Items()
    for path in paths:
        path = str(path)
        if os.path.isdir(path) and not folder_format(Path(path)):  # a dataset folder is read as records
            found = find_images(path)
            if not found:
                raise InputError("a folder input must hold images (none found under it)", file=path)
            for img in found:
                items.records += 1
                if check_only:
                    items.images_seen += 1
                else:
                    items.add_image(img)
                if window and len(items) >= window:
                    items.last = False
                    yield items
                    items = Items()
            continue
        mode: tuple | None = None
        for line, rec in iter_records(path):
            try:
                if isinstance(rec, InputError):
                    raise rec
                if mode is None:
                    mode = _detect_mode(rec, text_field, image_field, responses, path, line)
                texts, images = _record_items(rec, mode, path, line)
            except InputError as e:
                if not skip_bad:
                    raise
                items.bad.append(e)
                continue
            items.records += 1
            if check_only:
                items.images_seen += len(images)
                continue
            for t, part in texts:
                items.add(t, part)
            for img in images:
                items.add_image(img)
            if window and len(items) >= window:
                items.last = False
                yield items
                items = Items()
    yield items


def put_back(first: Items, rest: Iterator[Items]) -> Iterator[Items]:
    """``first``, then the windows of ``rest``: a window read ahead (to look at it), put back in front.
    Unlike ``itertools.chain([first], rest)``, which keeps its arguments until the end, this lets go
    of ``first`` once it is consumed, so memory still holds one window at a time."""
    held = [first]
    del first
    yield held.pop()
    yield from rest


def collect_texts(paths, *, text_field=None, responses="in-context", skip_bad=False) -> Items:
    """The items of text inputs (``collect_items`` without image options)."""
    return collect_items(paths, text_field=text_field, responses=responses, skip_bad=skip_bad)


def _record_items(rec: dict, mode: tuple, path: str, line: int) -> tuple[list[tuple[str, tuple]], list[Path]]:
    kind = mode[0]
    if kind == "fields":
        _, text_field, image_field = mode
        texts = [(require_text(rec, text_field, path, line), None)] if text_field else []
        images = (
            [resolve_image_path(require_text(rec, image_field, path, line), path, line, image_field)]
            if image_field
            else []
        )
        return texts, images
    _, layout, responses = mode
    prompt = require_text(rec, "prompt", path, line)
    answers = [require_text(rec, f, path, line) for f in layout]
    if responses == "images":
        return [(prompt, None)], [
            resolve_image_path(a, path, line, f) for a, f in zip(answers, layout, strict=True)
        ]
    if responses == "alone":
        return [(prompt, None)] + [(a, None) for a in answers], []
    return [(prompt, None)] + [(join_in_context(prompt, a), (prompt, a)) for a in answers], []


def _detect_mode(
    rec: dict, text_field: str | None, image_field: str | None, responses: str, path: str, line: int
) -> tuple:
    if text_field is not None or image_field is not None:
        return ("fields", text_field, image_field)
    layout = pair_layout(rec)
    if layout is not None:
        return ("pairs", layout, resolve_responses(rec, layout, responses))
    if "text" in rec:
        return ("fields", "text", None)
    raise InputError(
        "cannot tell what to embed: pass --text-field FIELD (or --image-field FIELD for image paths), or "
        "give a pair file with prompt + chosen/rejected (or left/right). Fields present: "
        f"{', '.join(sorted(map(str, rec)))}",
        file=path,
        line=line,
    )
