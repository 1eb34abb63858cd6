"""Preference pairs: the documented pair format, read and validated (see docs/pairs-format.md).

A row compares two responses to one prompt: ``prompt`` with ``chosen``/``rejected`` (chosen preferred),
or ``left``/``right`` with one of ``label`` (left | right | tie), ``labels`` (one per annotator: left,
right, tie, or a graded integer -2..2, positive = left preferred, 2 = significantly) or ``soft_label``
(probability that left is preferred). Optional: ``user``, ``weight`` (> 0), ``margin`` (>= 0),
``split`` (train, val, test, fewshot, unseen_test), and per-response Likert-5 scores
``likert_<response field>`` (an integer 1..5 or a list, one per annotator).

Rows become numpy arrays: texts are resolved to cache rows elsewhere (``embedkit.heads.pair_data``), so the
training tensors are index arrays into one embedding matrix.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from embedkit.data.images import is_image_path, resolve_image_path
from embedkit.data.readers import iter_records, require_text
from embedkit.errors import InputError
from embedkit.options import RESPONSES

SPLITS = ("train", "val", "test", "fewshot", "unseen_test")
SEEN_SPLITS = ("train", "val", "test")
UNSEEN_SPLITS = ("fewshot", "unseen_test")
LABEL_BINS = ("B>>A", "B>A", "tie", "A>B", "A>>B")
"""The five preference bins (Diverging Preferences), indexed by graded label + 2. A = left/chosen."""
LABEL_FIELDS = frozenset(("label", "labels", "soft_label"))
_WORD_LABELS = {"left": 1, "right": -1, "tie": 0, "chosen": 1, "rejected": -1}
TAG_FIELDS = ("group", "filtered")
"""Optional text fields that ``eval`` reports test accuracy by (Pick-a-Filter: the user's colour group,
and whether the pair got a filter)."""

PAIR_LAYOUTS = (("chosen", "rejected"), ("left", "right"))
RESPONSE_MODES = RESPONSES  # declared with the options (embedkit.options), where the CLI reads it


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


def resolve_responses(rec: dict, layout: tuple[str, str], responses: str) -> str:
    """``images`` when asked for, or when the first row's responses are image paths; else ``responses``."""
    if responses == "images" or all(is_image_path(rec.get(f)) for f in layout):
        return "images"
    return responses


@dataclass
class PairTable:
    """Validated pairs as parallel arrays (n rows). Response texts are as embedded (in context or alone)."""

    prompt: list[str]
    a: list[str]
    b: list[str]
    user: np.ndarray  # (n,) object: user id strings ("" when the file has no user column)
    counts: np.ndarray  # (n, 5) float: annotator labels per bin of LABEL_BINS (0 for soft-label rows)
    y: np.ndarray  # (n,) float in [0, 1]: probability that A is preferred (ties count 1/2)
    weight: np.ndarray  # (n,) float > 0
    margin: np.ndarray  # (n,) float >= 0 (nan where unknown)
    split: np.ndarray  # (n,) object: split name, "" where the file gives none
    source: list[tuple[str, int]]  # (file, line) of each row, for error messages
    likert_a: np.ndarray | None = None  # (n, 5) counts of Likert scores 1..5 given to A (0 where none)
    likert_b: np.ndarray | None = None
    responses: str = "in-context"
    """How ``a``/``b`` are embedded: ``in-context`` / ``alone`` (texts) or ``images`` (absolute paths)."""
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    """Columns of TAG_FIELDS the file has: (n,) object arrays, "" where a row lacks the field."""

    def __len__(self) -> int:
        return len(self.prompt)

    @property
    def has_users(self) -> bool:
        return bool((self.user != "").any())


COLUMNS = (
    "prompt",
    "a",
    "b",
    "user",
    "counts",
    "y",
    "weight",
    "margin",
    "split",
    "source",
    "likert_a",
    "likert_b",
)


def iter_pair_rows(
    paths: Iterable[str | os.PathLike], responses: str = "in-context", require_labels: bool = True
) -> Iterator[tuple[dict, dict]]:
    """Yield ``(record, row)`` for every pair of the files, one at a time (streaming).

    ``row`` holds the parsed columns (``COLUMNS``) plus ``responses``, the mode of the row's file: texts
    ``in-context`` / ``alone``, or ``images`` (absolute paths). With ``require_labels=False`` a left/right
    row may have no label (y is then nan): pairs to score rather than to train on.
    """
    mode = None
    for path in paths:
        path = str(path)
        n_file = 0
        layout = None
        for line, rec in iter_records(path):
            n_file += 1
            if isinstance(rec, InputError):
                raise rec
            if layout is None:
                layout = pair_layout(rec)
                if layout is None:
                    raise InputError(
                        "not a pair file: expected prompt with chosen/rejected or left/right "
                        f"(fields present: {', '.join(sorted(map(str, rec)))})",
                        file=path,
                        line=line,
                    )
                file_mode = resolve_responses(rec, layout, responses)
                if mode is not None and (file_mode == "images") != (mode == "images"):
                    raise InputError(
                        f"this file's responses are {'images' if file_mode == 'images' else 'texts'}, "
                        "another file's are not; use one kind at a time",
                        file=path,
                        line=line,
                    )
                mode = file_mode
            yield rec, parse_pair_row(rec, layout, mode, path, line, require_labels)
        if not n_file:
            raise InputError("no pairs found (empty file?)", file=path)


def parse_pair_row(
    rec: dict, layout: tuple[str, str], mode: str, path: str, line: int, require_labels: bool
) -> dict:
    """One pair record checked and parsed: texts as embedded (``mode``: in-context, alone or images, the
    paths resolved against ``path``), labels as bin counts and y, optional fields; errors name ``path``,
    ``line`` and the field."""
    prompt = require_text(rec, "prompt", path, line)
    ta, tb = (require_text(rec, f, path, line) for f in layout)
    if mode == "images":
        ta, tb = (str(resolve_image_path(v, path, line, f)) for v, f in zip((ta, tb), layout, strict=True))
    elif mode == "in-context":
        ta, tb = join_in_context(prompt, ta), join_in_context(prompt, tb)
    unlabelled = (
        not require_labels
        and layout == ("left", "right")
        and not any(rec.get(k) is not None for k in ("label", "labels", "soft_label"))
    )
    counts, y = ([0.0] * 5, math.nan) if unlabelled else _labels(rec, layout, path, line)
    split = _opt_str(rec, "split", path, line)
    if split and split not in SPLITS:
        raise InputError(
            f"unknown split {split!r}; expected one of {', '.join(SPLITS)}",
            file=path,
            line=line,
            field="split",
        )
    return {
        "prompt": prompt,
        "a": ta,
        "b": tb,
        "user": _opt_str(rec, "user", path, line),
        "counts": counts,
        "y": y,
        "weight": _opt_float(rec, "weight", path, line, 1.0, positive=True),
        "margin": _opt_float(rec, "margin", path, line, math.nan, nonneg=True),
        "split": split,
        "source": (path, line),
        "likert_a": _likert(rec, f"likert_{layout[0]}", path, line),
        "likert_b": _likert(rec, f"likert_{layout[1]}", path, line),
        "responses": mode,
        "tags": {k: _opt_str(rec, k, path, line) for k in TAG_FIELDS if rec.get(k) is not None},
    }


def pair_table(rows: list[dict], responses: str = "in-context") -> PairTable:
    """Parsed rows (from ``iter_pair_rows``) as one table of parallel arrays."""
    cols = {k: [r[k] for r in rows] for k in COLUMNS}
    return PairTable(
        prompt=cols["prompt"],
        a=cols["a"],
        b=cols["b"],
        user=np.array(cols["user"], dtype=object),
        counts=np.array(cols["counts"], dtype=np.float64).reshape(-1, 5),
        y=np.array(cols["y"], dtype=np.float64),
        weight=np.array(cols["weight"], dtype=np.float64),
        margin=np.array(cols["margin"], dtype=np.float64),
        split=np.array(cols["split"], dtype=object),
        source=cols["source"],
        likert_a=np.array(cols["likert_a"], dtype=np.float64).reshape(-1, 5),
        likert_b=np.array(cols["likert_b"], dtype=np.float64).reshape(-1, 5),
        responses=rows[0]["responses"] if rows else responses,
        tags={
            k: np.array([r.get("tags", {}).get(k, "") for r in rows], dtype=object)
            for k in TAG_FIELDS
            if any(k in r.get("tags", {}) for r in rows)
        },
    )


def read_pairs(paths: Iterable[str | os.PathLike], responses: str = "in-context") -> PairTable:
    """Read and validate pair files. Raises :class:`InputError` naming file, line and field.

    Responses that are image paths (``responses="images"``, or detected from the first row's file
    extensions) are resolved relative to their pair file and may not leave its folder."""
    return pair_table([row for _, row in iter_pair_rows(paths, responses)], responses)


def _labels(rec: dict, layout: tuple[str, str], path: str, line: int) -> tuple[list[float], float]:
    """(5-bin counts, P(A preferred)) of one row."""
    counts = [0.0] * 5
    if layout == ("chosen", "rejected"):
        if rec.keys() & LABEL_FIELDS:
            raise InputError(
                "a chosen/rejected row says its label by order; drop label/labels/soft_label "
                "or use left/right",
                file=path,
                line=line,
            )
        counts[3] = 1.0
        return counts, 1.0
    given = [k for k in ("label", "labels", "soft_label") if rec.get(k) is not None]
    if len(given) != 1:
        raise InputError(
            "a left/right row needs exactly one of label, labels, soft_label"
            + (f" (found {', '.join(given)})" if given else ""),
            file=path,
            line=line,
        )
    field = given[0]
    if field == "soft_label":
        p = rec[field]
        if isinstance(p, bool) or not isinstance(p, int | float) or not (0.0 <= float(p) <= 1.0):
            raise InputError(
                f"expected a probability in [0, 1], found {p!r}", file=path, line=line, field=field
            )
        return counts, float(p)
    values = rec[field] if field == "labels" else [rec[field]]
    if not isinstance(values, list) or not values:
        raise InputError(
            f"expected a non-empty list of labels, found {values!r:.60}", file=path, line=line, field=field
        )
    for v in values:
        g = graded_label(v)
        if g is None:
            raise InputError(
                f"label {v!r} is not one of left, right, tie or an integer -2..2",
                file=path,
                line=line,
                field=field,
            )
        counts[g + 2] += 1.0
    n = sum(counts)
    return counts, (counts[3] + counts[4] + 0.5 * counts[2]) / n


def _likert(rec: dict, name: str, path: str, line: int) -> list[float]:
    """Counts of the Likert-5 scores in ``rec[name]`` (an integer 1..5 or a list of them); zeros if absent."""
    counts = [0.0] * 5
    v = rec.get(name)
    if v is None or v == "":
        return counts
    for x in v if isinstance(v, list) else [v]:
        if (
            isinstance(x, bool)
            or not isinstance(x, int | float)
            or not float(x).is_integer()
            or not 1 <= x <= 5
        ):
            raise InputError(f"Likert score {x!r} is not an integer 1..5", file=path, line=line, field=name)
        counts[int(x) - 1] += 1.0
    return counts


def graded_label(v) -> int | None:
    if isinstance(v, str):
        return _WORD_LABELS.get(v.strip().lower())
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float) and float(v).is_integer() and -2 <= v <= 2:
        return int(v)
    return None


def _opt_str(rec: dict, name: str, path: str, line: int) -> str:
    v = rec.get(name)
    if v is None or v == "":
        return ""
    if isinstance(v, str | int) and not isinstance(v, bool):
        return str(v)
    raise InputError(f"expected a string, found {type(v).__name__}", file=path, line=line, field=name)


def _opt_float(
    rec: dict, name: str, path: str, line: int, default: float, positive: bool = False, nonneg: bool = False
) -> float:
    v = rec.get(name)
    if v is None or v == "":
        return default
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, found {v!r:.40}", file=path, line=line, field=name) from None
    if not math.isfinite(f) or (positive and f <= 0) or (nonneg and f < 0):
        want = "a finite number" + (" > 0" if positive else " >= 0" if nonneg else "")
        raise InputError(f"expected {want}, found {v!r}", file=path, line=line, field=name)
    return f


def beyond_binary_margin(counts: np.ndarray) -> np.ndarray:
    """Margin of Beyond the Binary, eq. (3): m = |sum_i j_i - n/2| / (n/2), j_i = 1 if A preferred.

    ``counts`` (n, 5) per LABEL_BINS; ties count as j = 1/2. Rows without labels get nan.
    """
    n = counts.sum(axis=1)
    wins = counts[:, 3] + counts[:, 4] + 0.5 * counts[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.abs(wins - n / 2) / (n / 2)
    return np.where(n > 0, m, np.nan)
