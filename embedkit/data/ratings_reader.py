"""A ratings file read and checked: one row per (annotator, item, score), the fields named by
:class:`RatingsFields`. Bad rows are named by file, line and field; a row repeating an earlier one exactly is
read once and listed. :mod:`embedkit.data.ratings` turns the ratings into pairs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from embedkit.data.readers import iter_records
from embedkit.errors import InputError
from embedkit.options import REQUIRED, opt

DEFAULT_PROMPT = "Which of these two do you prefer?"


@dataclass(frozen=True)
class RatingsFields:
    """Which field of a ratings file is which (``embedkit convert ratings``)."""

    user: str = opt(REQUIRED, "Field with the annotator id.")
    item: str = opt(REQUIRED, "Field with the item id (the same item rated by several annotators).")
    text: str = opt(REQUIRED, "Field with the item's text (what gets embedded).")
    score: str = opt(REQUIRED, "Field with the annotator's score (a number).")
    prompt_field: str | None = opt(None, "A field with each item's prompt (instead of --prompt).")


@dataclass
class Rating:
    user: str
    item: str
    text: str
    prompt: str
    score: float
    line: int
    file: str = ""
    group: str = ""
    """The item's split in its source (a data set's own train / val / test), "" when it has none."""


@dataclass
class RatingsRead:
    """What :func:`read_ratings` found: the ratings, the bad rows, and rows repeating an earlier one."""

    ratings: list[Rating]
    bad: list[InputError] = field(default_factory=list)
    repeats: list[dict] = field(default_factory=list)


def _present(rec: dict) -> str:
    return ", ".join(sorted(map(str, rec))) or "none"


def read_ratings(
    path: str | os.PathLike, fields: RatingsFields, prompt: str | None = None, skip_bad: bool = False
) -> RatingsRead:
    """Every rating row, checked: user, item, text present; score a finite number; no annotator rating
    one item twice with different scores, no item id with two different texts (the later row is the bad
    one). A row repeating an earlier one exactly is read once (and listed in ``repeats``)."""
    path = str(path)
    out = RatingsRead([])
    rated: dict[tuple[str, str], Rating] = {}  # (user, item) -> its rating
    texts: dict[str, Rating] = {}  # item -> the first rating naming it
    n = 0
    for line, rec in iter_records(path):
        n += 1
        try:
            if isinstance(rec, InputError):
                raise rec
            vals = {}
            for name, fld in (("user", fields.user), ("item", fields.item), ("text", fields.text)):
                v = rec.get(fld)
                if v is None:
                    raise InputError(
                        f"missing (fields present: {_present(rec)})", file=path, line=line, field=fld
                    )
                if (
                    (isinstance(v, str) and not v.strip())
                    or isinstance(v, bool)
                    or not isinstance(v, str | int)
                ):
                    raise InputError(
                        f"expected a non-empty string or id, found {v!r:.40}", file=path, line=line, field=fld
                    )
                vals[name] = str(v)
            raw = rec.get(fields.score)
            if raw is None or raw == "":
                what = (
                    "missing score"
                    if fields.score in rec
                    else f"missing score (fields present: {_present(rec)})"
                )
                raise InputError(what, file=path, line=line, field=fields.score)
            try:
                score = float(raw) if not isinstance(raw, bool) else math.nan
            except (TypeError, ValueError):
                score = math.nan
            if not math.isfinite(score):
                raise InputError(
                    f"score {raw!r:.40} is not a number", file=path, line=line, field=fields.score
                )
            item_prompt = prompt or DEFAULT_PROMPT
            if fields.prompt_field:
                p = rec.get(fields.prompt_field)
                if not isinstance(p, str) or not p.strip():
                    raise InputError(
                        "expected a non-empty prompt", file=path, line=line, field=fields.prompt_field
                    )
                item_prompt = p
            r = Rating(vals["user"], vals["item"], vals["text"], item_prompt, score, line, path)
            check_rating(r, rated, texts, fields.text, fields.score, fields.prompt_field)
            if rated[(r.user, r.item)] is not r:
                out.repeats.append({"file": path, "line": line, "repeats_line": rated[(r.user, r.item)].line})
                continue
            out.ratings.append(r)
        except InputError as e:
            if not skip_bad:
                raise
            out.bad.append(e)
    if not n:
        raise InputError("no rows found (empty file?)", file=path)
    return out


def check_rating(
    r: Rating, rated: dict, texts: dict, text_field: str, score_field: str, prompt_field: str | None = None
) -> None:
    """Refuse an item id naming a second text, or an annotator's second, different rating of an item;
    records ``r`` in ``rated`` / ``texts`` (an exact repeat leaves the first there)."""
    seen = texts.setdefault(r.item, r)
    if seen.text != r.text:
        raise InputError(
            f"item {r.item!r} has another text here than on line {seen.line} (an item id must name one text)",
            file=r.file,
            line=r.line,
            field=text_field,
        )
    earlier = rated.setdefault((r.user, r.item), r)
    if earlier is not r and (earlier.score != r.score or earlier.prompt != r.prompt):
        what, fld = (
            (f": {earlier.score:g} on line {earlier.line}, {r.score:g} here", score_field)
            if earlier.score != r.score
            else (f", under another prompt than on line {earlier.line}", prompt_field)
        )
        raise InputError(
            f"annotator {r.user!r} rated item {r.item!r} twice{what}; keep one of the two rows",
            file=r.file,
            line=r.line,
            field=fld,
        )
