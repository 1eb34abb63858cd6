"""Pair rows that repeat an earlier row exactly: counted, and the first ones named by file and line.

A pair file where every row appears twice (a file written twice, concatenated with itself, or given twice)
trains and scores each pair twice without a word: the copies weigh double, and held-out accuracies count
them twice. ``fit-head``, ``eval`` and ``score`` warn about such rows; they are still read (several
anonymous annotators giving one pair the same label is data, not a copy).

A row is identified by a 64-bit hash of its user, prompt, responses as embedded, label bins, P(left
preferred) and split: each distinct text is hashed once (``Column`` values), the parts are mixed per row
with numpy, so this costs 8 bytes and a few vector operations per row and works on streamed batches too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedkit.data.readers import iter_records

_MUL = np.uint64(0x9E3779B97F4A7C15)
_EXAMPLES = 3


def _text_hashes(values: Sequence[str], index: np.ndarray) -> np.ndarray:
    """(n,) uint64: a hash of each row's string, ``values[index]`` (each distinct value hashed once)."""
    h = np.fromiter((hash(v) for v in values), np.int64, len(values)).view(np.uint64)
    return h[np.asarray(index, np.int64)]


def _number_hashes(x: np.ndarray) -> np.ndarray:
    """(n, ...) floats -> (n,) uint64, nan equal to nan."""
    x = np.nan_to_num(np.asarray(x, np.float64).reshape(len(x), -1), nan=-7.0) + 0.0  # -0.0 -> 0.0
    out = np.zeros(len(x), np.uint64)
    for col in x.view(np.uint64).T:
        out = (out ^ col) * _MUL
    return out


def row_hashes(
    texts: Sequence[tuple[Sequence[str], np.ndarray]], numbers: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """(n,) uint64 hashes of n rows from their text columns (each ``(values, index)``: distinct strings and
    each row's index into them) and numeric columns ((n,) or (n, k))."""
    parts = [_text_hashes(v, i) for v, i in texts] + [_number_hashes(x) for x in numbers]
    out = np.zeros(len(parts[0]), np.uint64)
    with np.errstate(over="ignore"):
        for p in parts:
            out = ((out ^ p) * _MUL) ^ (out >> np.uint64(29))
    return out


@dataclass
class RepeatedRows:
    """Rows that repeat an earlier row: how many, and the first few as ``{"file", "line", "repeats_file",
    "repeats_line"}``."""

    count: int = 0
    examples: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.count > 0

    def message(self) -> str:
        """One sentence for a warning."""
        ex = self.examples
        if len({(e["file"], e["repeats_file"]) for e in ex}) == 1 and ex[0]["file"] == ex[0]["repeats_file"]:
            lines = ", ".join(str(e["line"]) for e in ex)
            earlier = ", ".join(str(e["repeats_line"]) for e in ex)
            shown = f"{ex[0]['file']} line(s) {lines} repeat line(s) {earlier}"
        else:
            shown = "; ".join(
                f"{e['file']}:{e['line']} repeats {e['repeats_file']}:{e['repeats_line']}" for e in ex
            )
        return (
            f"{self.count} pair row(s) repeat an earlier row exactly (same user, prompt, responses and label), "
            f"e.g. {shown}: each copy counts as one more pair (if a file was written or given twice, remove the "
            "copies)"
        )

    def to_dict(self) -> dict:
        return {"count": self.count, "examples": self.examples}


def find_repeated(hashes: np.ndarray, where: Callable[[list[int]], list[tuple[str, int]]]) -> RepeatedRows:
    """Rows of ``hashes`` (every row of the files, in order) equal to an earlier row; ``where`` gives the
    (file, line) of a few row numbers, for the examples named."""
    hashes = np.asarray(hashes, np.uint64)
    if len(hashes) < 2:
        return RepeatedRows()
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    earlier = first[inverse.reshape(-1)]
    again = np.nonzero(earlier != np.arange(len(hashes)))[0]
    if not len(again):
        return RepeatedRows()
    shown = again[:_EXAMPLES].tolist()
    places = where(shown + earlier[shown].tolist())
    examples = [
        {"file": f, "line": line, "repeats_file": rf, "repeats_line": rl}
        for (f, line), (rf, rl) in zip(places[: len(shown)], places[len(shown) :], strict=True)
    ]
    return RepeatedRows(int(len(again)), examples)


def file_lines(files: Sequence[str | os.PathLike], rows_per_file: Sequence[int]) -> Callable:
    """A ``where`` for :func:`find_repeated` over files read in order, ``rows_per_file`` rows each: the line
    of a row from one more read of its file up to it (``iter_records``'s numbering: blank lines skipped)."""
    starts = np.concatenate([[0], np.cumsum(rows_per_file)]).astype(np.int64)

    def where(rows: list[int]) -> list[tuple[str, int]]:
        file_of = (np.searchsorted(starts, rows, side="right") - 1).tolist()
        line: dict[int, int] = {}
        for f in sorted(set(file_of)):
            want = {r - int(starts[f]): r for r, g in zip(rows, file_of, strict=True) if g == f}
            for k, (n, _) in enumerate(iter_records(os.fspath(files[f]))):
                if k in want:
                    line[want[k]] = n
                if k >= max(want):
                    break
            for k, r in want.items():
                line.setdefault(r, k + 1)  # a file that changed meanwhile: the row's number
        return [(str(files[g]), line[r]) for r, g in zip(rows, file_of, strict=True)]

    return where


def table_hashes(prompt, a, b, user, counts, y, split=None) -> np.ndarray:
    """:func:`row_hashes` of whole columns of strings (lists or object arrays) and numbers."""
    texts = [_column(c) for c in (prompt, a, b, user) + (() if split is None else (split,))]
    return row_hashes(texts, [counts, y])


def _column(strings) -> tuple[list[str], np.ndarray]:
    first: dict[str, int] = {}
    idx = np.fromiter((first.setdefault(str(s), len(first)) for s in strings), np.int64, len(strings))
    return list(first), idx
