"""The annotator metadata of a LeWiDi set (``embedkit convert lewidi --annotator-meta``): who the annotators
are (CSC's ``CSC_annotators_meta.json``: gender and age per annotator id), found beside the input files and
written beside the pairs as a users file (``PAIRS.annotators.jsonl``) that ``fit-head`` / ``eval`` /
``score --users`` read (:mod:`embedkit.data.users`). The files themselves: :mod:`embedkit.datasets.lewidi`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from embedkit.errors import InputError


def find_annotator_meta(paths: Sequence[str | os.PathLike], given: str = "") -> Path | None:
    """The annotator metadata file of a LeWiDi set: ``given`` (``none``: no file), else the one
    ``*_annotators_meta.json`` beside the inputs (one sharing an input's name prefix, as ``CSC_`` of
    ``CSC_dev.json``, where several are there)."""
    if given.lower() == "none":
        return None
    if given:
        if not Path(given).is_file():
            raise InputError("no such file (--annotator-meta)", file=given)
        return Path(given)
    found = sorted({m for p in paths for m in Path(p).resolve().parent.glob("*_annotators_meta.json")})
    if len(found) > 1:
        prefixes = {Path(p).name.split("_")[0] for p in paths}
        found = [m for m in found if m.name.split("_")[0] in prefixes]
    return found[0] if len(found) == 1 else None


def write_annotator_meta(meta: str | os.PathLike, out: str | os.PathLike, annotators: set[str]) -> dict:
    """Write the metadata ``meta`` as a users file (JSONL, one ``{"user": id, ...attributes}`` per
    annotator, values as the set gives them) to ``out``, checked by ``read_user_attributes`` first.
    Returns what the report says: file, annotators with metadata, and the pairs' annotators without."""
    from embedkit.data.readers import write_jsonl
    from embedkit.data.users import read_user_attributes

    attrs = read_user_attributes(meta)  # every row checked: ids, kinds (file, line, field on error)
    try:
        raw = json.loads(Path(meta).read_text(encoding="utf-8"))
    except ValueError:
        raw = None  # JSON Lines: already one row per user
    if isinstance(raw, dict) and all(isinstance(v, dict) for v in raw.values()):
        write_jsonl(out, ({"user": str(u), **rec} for u, rec in raw.items()))
    else:
        write_jsonl(
            out,
            (
                {"user": u, **{k: v for k, v in zip(attrs.kinds, row.values(), strict=True)}}
                for u, row in zip(attrs.users, attrs.values, strict=True)
            ),
        )
    missing = sorted(annotators - set(attrs.users))
    return {
        "source": str(meta),
        "file": str(out),
        "annotators": len(attrs),
        "columns": attrs.kinds,
        "annotators_in_pairs_without_metadata": len(missing),
        "examples_without": missing[:5],
    }
