"""Pair and candidate files in batches, as dictionary-encoded columns: what scoring streams through.

A clean JSONL file (the common case: the fields scoring needs, strings where strings belong, no empty
ones) is parsed by pyarrow's streaming JSON reader and prepared column by column, so millions of rows
cost seconds; a text that repeats (a prompt shared by many pairs) is one entry of its column's
``values``. Anything else (CSV, Parquet, a field that needs checking row by row, a type pyarrow cannot
settle, a bad row) goes through the careful reader (``embedkit.data.pairs.iter_pair_rows``), which names
the file, line and field of any problem. Both give the same batches.

The vectorised reader can only tell a file needs the careful one when it meets the row that does: it
then raises :class:`NeedsCarefulReader`, and the caller starts again with ``fast=False`` (scoring writes
its output atomically, so nothing of the first attempt survives).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedkit.data.images import is_image_path
from embedkit.data.pairs import LABEL_BINS, iter_pair_rows, join_in_context
from embedkit.data.readers import file_format, iter_records, require_text
from embedkit.errors import InputError

BATCH_ROWS = 50_000
_BLOCK = 8 << 20
_SCORING_FIELDS = {"user", "prompt", "chosen", "rejected", "left", "right", "label"}
_CAREFUL_FIELDS = {"labels", "soft_label", "weight", "margin", "split"}  # need row-by-row checks
_WORD = {"left": 3, "right": 1, "tie": 2}  # the LABEL_BINS bin of a one-word label of the left response
assert LABEL_BINS[3] == "A>B" and LABEL_BINS[1] == "B>A"


@dataclass
class Column:
    """Strings as distinct ``values`` and each row's ``index`` into them."""

    values: list[str]
    index: np.ndarray  # (n,) int64

    @classmethod
    def of(cls, strings: Sequence[str]) -> Column:
        first: dict[str, int] = {}
        idx = np.fromiter((first.setdefault(s, len(first)) for s in strings), np.int64, len(strings))
        return cls(list(first), idx)

    @classmethod
    def of_arrow(cls, array) -> Column:
        import pyarrow.compute as pc

        enc = (
            pc.dictionary_encode(array).combine_chunks()
            if hasattr(array, "chunks")
            else pc.dictionary_encode(array)
        )
        return cls(
            enc.dictionary.to_pylist(), np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
        )

    def strings(self) -> list[str]:
        return [self.values[i] for i in self.index.tolist()]


@dataclass
class PairBatch:
    """A batch of pairs: prompt, responses as embedded (``a``, ``b``), user, labels, and the records."""

    prompt: Column
    a: Column
    b: Column
    user: Column
    counts: np.ndarray  # (n, 5) float32, zeros where unlabelled
    y: np.ndarray  # (n,) P(A preferred), nan where unlabelled
    responses: str  # in-context | alone | images
    records: Callable[[], list[dict]]

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class CandidateBatch:
    """A batch of candidate rows, flattened to one entry per (row, response)."""

    prompt: Column  # per entry
    response: Column  # per entry, as embedded
    user: Column  # per row
    owner: np.ndarray  # (entries,) row of each entry
    rows: int
    records: Callable[[], list[dict]]


class NeedsCarefulReader(Exception):
    """The vectorised reader met a row it does not handle; read again with ``fast=False``."""


def pair_batches(
    paths: Sequence[str | os.PathLike],
    responses: str = "in-context",
    require_labels: bool = False,
    rows: int = BATCH_ROWS,
    fast: bool = True,
) -> Iterator[PairBatch]:
    """Pairs in batches of about ``rows``: the vectorised reader where a file allows it, else the careful one."""
    for path in paths:
        stream = _fast_pairs(path, responses, require_labels, rows) if fast else None
        yield from stream if stream is not None else _careful_pairs(path, responses, require_labels, rows)


def candidate_batches(
    paths: Sequence[str | os.PathLike],
    responses: str = "in-context",
    rows: int = BATCH_ROWS,
    fast: bool = True,
) -> Iterator[CandidateBatch]:
    """Candidate rows ``{"user", "prompt", "responses": [...]}`` in batches of about ``rows``."""
    for path in paths:
        stream = _fast_candidates(path, responses, rows) if fast else None
        yield from stream if stream is not None else _careful_candidates(path, responses, rows)


# --- the careful path -------------------------------------------------------------------------------------
def _careful_pairs(path, responses, require_labels, rows) -> Iterator[PairBatch]:
    chunk: list = []
    for rec, row in iter_pair_rows([path], responses, require_labels=require_labels):
        chunk.append((rec, row))
        if len(chunk) >= rows:
            yield _pairs_from_rows(chunk)
            chunk = []
    if chunk:
        yield _pairs_from_rows(chunk)


def _pairs_from_rows(chunk) -> PairBatch:
    recs = [r for r, _ in chunk]
    parsed = [p for _, p in chunk]
    return PairBatch(
        prompt=Column.of([p["prompt"] for p in parsed]),
        a=Column.of([p["a"] for p in parsed]),
        b=Column.of([p["b"] for p in parsed]),
        user=Column.of([p["user"] for p in parsed]),
        counts=np.asarray([p["counts"] for p in parsed], np.float32).reshape(-1, 5),
        y=np.asarray([p["y"] for p in parsed], np.float64),
        responses=parsed[0]["responses"],
        records=lambda: recs,
    )


def _careful_candidates(path, responses, rows) -> Iterator[CandidateBatch]:
    chunk: list = []
    n = 0
    for line, rec in iter_records(path):
        n += 1
        if isinstance(rec, InputError):
            raise rec
        chunk.append((line, rec))
        if len(chunk) >= rows:
            yield _candidates_from_rows(path, chunk, responses)
            chunk = []
    if chunk:
        yield _candidates_from_rows(path, chunk, responses)
    if not n:
        raise InputError("no rows found (empty file?)", file=str(path))


def _candidates_from_rows(path, chunk, responses) -> CandidateBatch:
    prompts, resp, owner, users = [], [], [], []
    for j, (line, rec) in enumerate(chunk):
        prompt = require_text(rec, "prompt", str(path), line)
        cands = rec.get("responses")
        if not isinstance(cands, list) or not cands:
            raise InputError(
                "expected a non-empty list of responses", file=str(path), line=line, field="responses"
            )
        for c in cands:
            if not isinstance(c, str) or not c.strip():
                raise InputError(
                    "every response must be a non-empty string", file=str(path), line=line, field="responses"
                )
            if responses == "images":
                from embedkit.data.images import resolve_image_path

                c = str(resolve_image_path(c, path, line, "responses"))
            elif responses == "in-context":
                c = join_in_context(prompt, c)
            prompts.append(prompt)
            resp.append(c)
            owner.append(j)
        u = rec.get("user")
        users.append("" if u is None else str(u))
    recs = [r for _, r in chunk]
    return CandidateBatch(
        Column.of(prompts),
        Column.of(resp),
        Column.of(users),
        np.asarray(owner, np.int64),
        len(chunk),
        lambda: recs,
    )


# --- the vectorised path ----------------------------------------------------------------------------------
def _open_json(path, rows):
    """A pyarrow record-batch reader over a JSONL file, or None where the fast path does not apply."""
    if file_format(path) != "jsonl" or not Path(path).is_file() or Path(path).suffix.lower() == ".json":
        return None
    try:
        import pyarrow.json as pj

        return pj.open_json(str(path), read_options=pj.ReadOptions(block_size=_BLOCK))
    except Exception:  # pyarrow could not settle a schema: the careful reader will say what is wrong
        return None


def _clean_strings(col) -> bool:
    """A string column with no nulls and no empty / whitespace-only values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        return False
    if col.null_count:
        return False
    return not pc.any(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0)).as_py()


def _users(batch):
    import pyarrow as pa
    import pyarrow.compute as pc

    if "user" not in batch.schema.names:
        return pa.array([""] * batch.num_rows)
    col = batch.column("user")
    if pa.types.is_integer(col.type):
        col = pc.cast(col, pa.string())
    if not (pa.types.is_string(col.type) or pa.types.is_null(col.type)):
        return None
    return pc.fill_null(pc.cast(col, pa.string()), "")


def _regroup(reader, rows):
    """Tables of exactly ``rows`` rows (the last one fewer), whatever size the reader's blocks are."""
    import pyarrow as pa

    pending = None
    for b in reader:
        t = pa.Table.from_batches([b])
        pending = t if pending is None else pa.concat_tables([pending, t])
        while pending.num_rows >= rows:
            yield pending.slice(0, rows).combine_chunks()
            pending = pending.slice(rows)
    if pending is not None and pending.num_rows:
        yield pending.combine_chunks()


def _fast_pairs(path, responses, require_labels, rows):
    reader = _open_json(path, rows)
    if reader is None:
        return None
    names = set(reader.schema.names)
    layout = (
        ("chosen", "rejected")
        if {"chosen", "rejected"} <= names
        else ("left", "right")
        if {"left", "right"} <= names
        else None
    )
    if (
        layout is None
        or "prompt" not in names
        or names & _CAREFUL_FIELDS
        or any(n.startswith("likert_") for n in names)
    ):
        return None
    if layout == ("chosen", "rejected") and "label" in names:
        return None
    return _stream(reader, rows, lambda t: _pair_batch(t, layout, responses, require_labels))


def _complete(t) -> bool:
    """No nulls anywhere: pyarrow fills a field a row lacks with null, and the output must echo each row
    as it was (a row with a missing or null field goes through the careful reader)."""
    return not any(c.null_count for c in t.columns)


def _pair_batch(t, layout, responses, require_labels) -> PairBatch | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _complete(t):
        return None
    cols = [t.column("prompt"), t.column(layout[0]), t.column(layout[1])]
    if not all(_clean_strings(c) for c in cols):
        return None
    if responses == "images" or is_image_path(cols[1][0].as_py()):
        return None  # image paths are resolved (and checked) one by one by the careful reader
    users = _users(t)
    if users is None:
        return None
    n = t.num_rows
    counts = np.zeros((n, 5), np.float32)
    if layout == ("chosen", "rejected"):
        counts[:, 3] = 1
        y = np.ones(n)
    else:
        if "label" not in t.schema.names:
            if require_labels:
                return None
            lab = pa.nulls(n, pa.string())
        else:
            lab = t.column("label")
            if not (pa.types.is_string(lab.type) or pa.types.is_null(lab.type)):
                return None
            lab = pc.cast(lab, pa.string())
        words = lab.to_pylist()
        bins = np.fromiter(
            (_WORD.get(w.strip().lower(), -1) if w is not None else -2 for w in words), np.int64, n
        )
        if (bins == -1).any() or (require_labels and (bins == -2).any()):
            return None
        has = bins >= 0
        counts[np.nonzero(has)[0], bins[has]] = 1
        y = np.where(bins == 3, 1.0, np.where(bins == 1, 0.0, np.where(bins == 2, 0.5, np.nan)))
    prompt = cols[0]
    if responses == "in-context":
        a = pc.binary_join_element_wise(prompt, cols[1], "\n")
        b = pc.binary_join_element_wise(prompt, cols[2], "\n")
    else:
        a, b = cols[1], cols[2]
    return PairBatch(
        prompt=Column.of_arrow(prompt),
        a=Column.of_arrow(a),
        b=Column.of_arrow(b),
        user=Column.of_arrow(users),
        counts=counts,
        y=y,
        responses=responses,
        records=t.to_pylist,
    )


def _fast_candidates(path, responses, rows):
    reader = _open_json(path, rows)
    if reader is None:
        return None
    names = set(reader.schema.names)
    if not {"prompt", "responses"} <= names or responses == "images":
        return None
    return _stream(reader, rows, lambda t: _candidate_batch(t, responses))


def _candidate_batch(t, responses) -> CandidateBatch | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _complete(t):
        return None
    prompt, cands = t.column("prompt"), t.column("responses")
    if not _clean_strings(prompt) or not pa.types.is_list(cands.type) or cands.null_count:
        return None
    if pc.any(pc.equal(pc.list_value_length(cands), 0)).as_py():
        return None
    flat = pc.list_flatten(cands)
    if not _clean_strings(flat):
        return None
    owner = np.asarray(pc.list_parent_indices(cands).to_numpy(zero_copy_only=False), np.int64)
    users = _users(t)
    if users is None:
        return None
    p = prompt.take(pa.array(owner))
    resp = pc.binary_join_element_wise(p, flat, "\n") if responses == "in-context" else flat
    return CandidateBatch(
        Column.of_arrow(p), Column.of_arrow(resp), Column.of_arrow(users), owner, t.num_rows, t.to_pylist
    )


def _stream(reader, rows, prepare):
    """Prepared batches from the vectorised reader; NeedsCarefulReader where it gives up."""
    try:
        for t in _regroup(reader, rows):
            batch = prepare(t)
            if batch is None:
                raise NeedsCarefulReader
            yield batch
    except NeedsCarefulReader:
        raise
    except Exception as e:  # pyarrow met a row it could not parse against the schema it inferred
        raise NeedsCarefulReader from e
