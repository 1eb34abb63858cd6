"""The text items of input files: what ``embedkit extract`` embeds.

Two kinds of file:
- a **text file**: one item per record, from a field (``--text-field``; ``text`` when present);
- a **pair file** (records with ``prompt`` and ``chosen``/``rejected`` or ``left``/``right``): the
  prompt and each response become items. A response is embedded in context, as
  ``join_in_context(prompt, response)``, unless ``responses="alone"``. A prompt shared by many pairs
  is one item.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from embedkit.cache.keys import KEY_DTYPE, text_key
from embedkit.data.readers import iter_records
from embedkit.errors import InputError

PAIR_LAYOUTS = (("chosen", "rejected"), ("left", "right"))
RESPONSE_MODES = ("in-context", "alone")


def join_in_context(prompt: str, response: str) -> str:
    """The text embedded for a response in context: the prompt, a newline, the response."""
    return f"{prompt}\n{response}"


def pair_layout(record: dict) -> tuple[str, str] | None:
    """The response fields of a pair record, or None if it is not one."""
    if "prompt" not in record:
        return None
    for a, b in PAIR_LAYOUTS:
        if a in record and b in record:
            return a, b
    return None


def require_text(record: dict, name: str, path: str, line: int) -> str:
    """The non-empty string in ``record[name]``, or an :class:`InputError` naming file, line and field."""
    if name not in record:
        raise InputError(
            f"missing field (fields present: {', '.join(sorted(map(str, record))) or 'none'})",
            file=path,
            line=line,
            field=name,
        )
    value = record[name]
    if not isinstance(value, str):
        raise InputError(
            f"expected a non-empty string, found {type(value).__name__} {value!r:.40}",
            file=path,
            line=line,
            field=name,
        )
    if not value.strip():
        raise InputError("expected a non-empty string, found an empty one", file=path, line=line, field=name)
    return value


@dataclass
class TextItems:
    """Unique texts to embed (first-seen order) and what was read to find them."""

    texts: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    records: int = 0
    occurrences: int = 0
    bad: list[InputError] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, text: str) -> None:
        self.occurrences += 1
        key = text_key(text)
        if key not in self._seen:
            self._seen[key] = len(self.texts)
            self.texts.append(text)
            self.keys.append(key)

    def key_array(self) -> np.ndarray:
        return np.array(self.keys, dtype=KEY_DTYPE)


def collect_texts(
    paths: Iterable[str | os.PathLike],
    *,
    text_field: str | None = None,
    responses: str = "in-context",
    skip_bad: bool = False,
) -> TextItems:
    """Read every input file and return the unique texts to embed.

    Raises :class:`InputError` at the first bad record (missing file or field, empty or non-string
    text, malformed line) unless ``skip_bad``, which collects them in ``TextItems.bad`` instead.
    """
    if responses not in RESPONSE_MODES:
        raise ValueError(f"responses must be one of {RESPONSE_MODES}, got {responses!r}")
    items = TextItems()
    for path in paths:
        path = str(path)
        mode: tuple | None = None
        seen_in_file = 0
        for line, rec in iter_records(path):
            seen_in_file += 1
            try:
                if isinstance(rec, InputError):
                    raise rec
                if mode is None:
                    mode = _detect_mode(rec, text_field, path, line)
                if mode[0] == "text":
                    texts = [require_text(rec, mode[1], path, line)]
                else:
                    prompt = require_text(rec, "prompt", path, line)
                    answers = [require_text(rec, f, path, line) for f in mode[1]]
                    texts = [prompt] + [
                        join_in_context(prompt, a) if responses == "in-context" else a for a in answers
                    ]
            except InputError as e:
                if not skip_bad:
                    raise
                items.bad.append(e)
                continue
            items.records += 1
            for t in texts:
                items.add(t)
        if not seen_in_file:
            raise InputError("no records found (empty file?)", file=path)
    return items


def _detect_mode(rec: dict, text_field: str | None, path: str, line: int) -> tuple:
    if text_field is not None:
        return ("text", text_field)
    layout = pair_layout(rec)
    if layout is not None:
        return ("pairs", layout)
    if "text" in rec:
        return ("text", "text")
    raise InputError(
        "cannot tell what to embed: pass --text-field FIELD, or give a pair file with "
        f"prompt + chosen/rejected (or left/right). Fields present: {', '.join(sorted(map(str, rec)))}",
        file=path,
        line=line,
    )
