"""Property-based fuzzing (hypothesis) of every reader of user files: the items of ``extract`` from JSONL,
CSV and Parquet, pair rows (``read_pairs``, what ``fit-head``, ``eval`` and ``score`` read), ratings
(``convert ratings``) and LeWiDi JSON (``convert lewidi``). Generated files start from good records and
break them: bad JSON and raw bytes, invalid UTF-8, wrong types, missing and extra fields, NaN, infinities,
huge numbers, ragged CSV rows, wrong column sets and types in Parquet, truncated files, empty files. A
reader either reads the file or raises embedkit's own error naming the file (and, for a bad record, its
line); never any other exception. The default run tries ``FAST`` examples per reader, the slow one
``MANY`` (tests/cli/test_fuzz.py runs hand-made bad files through every command)."""

import csv
import io
import json
import math
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("hypothesis", reason="the dev extra installs hypothesis (pip install -e '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from embedkit.data.items import collect_items
from embedkit.data.pairs import read_pairs
from embedkit.data.ratings import RatingsFields, ratings_to_pairs
from embedkit.datasets.lewidi import lewidi_to_pairs
from embedkit.errors import EmbedkitError, InputError

FAST, MANY = 40, 1000
RUN: dict[str, int] = {}  # examples run per reader (the README's counts come from the slow run)

# --- what goes into a record ---------------------------------------------------------------------

VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\t\n", "left", "right", "tie", "train", "test", "x.png", "../up.jpg", "NaN"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 1e400]),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(-3, 3), st.floats(), st.text(max_size=4), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
)


def _broken(good: dict, names: list[str]):
    """``good`` with some fields replaced, some removed and some added."""
    return st.tuples(
        st.dictionaries(st.sampled_from(names) | st.text(max_size=6), VALUES, max_size=3),
        st.sets(st.sampled_from(sorted(good)), max_size=len(good)),
    ).map(lambda t: {**{k: v for k, v in good.items() if k not in t[1]}, **t[0]})


PAIR = {"user": "u1", "prompt": "a question", "chosen": "a long answer", "rejected": "no"}
PAIR_NAMES = [*PAIR, "left", "right", "label", "labels", "split", "weight", "margin", "likert_left", "text"]
RATING = {"annotator": "a1", "item": "c1", "comment": "a comment", "score": 3}
RATING_FIELDS = RatingsFields(user="annotator", item="item", text="comment", score="score")


def _records(good: dict, names: list[str]):
    """Mostly good records (varied, so that a file has several users and items) with a few broken ones
    among them, so that a reader gets past its first line and into what it does with the rows."""
    varied = st.tuples(st.integers(0, 5), st.integers(0, 3)).map(
        lambda t: {
            k: (f"{v} {t[0]}" if k != "item" else f"{v}{t[1]}")
            if isinstance(v, str)
            else (v + t[1] if k == "score" else v)
            for k, v in good.items()
        }
    )
    return st.tuples(
        st.lists(varied, max_size=10), st.lists(_broken(good, names), max_size=2), st.integers(0, 10)
    ).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :])


# --- files ---------------------------------------------------------------------------------------


def _json_line(rec: dict) -> bytes:
    return json.dumps(rec, allow_nan=True, default=str).encode()


def _jsonl(good, names):
    """JSON lines: records, raw bytes, truncated lines, invalid UTF-8, blank lines, non-objects."""
    good_lines = _records(good, names).map(lambda rs: [_json_line(r) for r in rs])
    bad_lines = st.one_of(
        st.lists(st.binary(max_size=24), max_size=2),
        _records(good, names).map(lambda rs: [_json_line(r)[: len(_json_line(r)) // 2] for r in rs[:2]]),
        st.sampled_from(
            [b'{"prompt": "caf\xe9 \xff"}', b"\xef\xbb\xbf{}", b"", b"[1, 2]", b'"text"', b"null"]
        ).map(lambda b: [b]),
    )
    return st.tuples(good_lines, st.lists(bad_lines, max_size=1), st.integers(0, 10)).map(
        lambda t: b"\n".join(t[0][: t[2]] + [x for p in t[1] for x in p] + t[0][t[2] :])
    )


def _cell(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str) if not isinstance(v, float) else repr(v)


def _csv(good, names):
    """A header (the good columns, some dropped or repeated, others added) and rows of any length."""

    def render(t):
        header, recs, extra, raw = t
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        for r in recs:
            w.writerow([_cell(r.get(h, "")) for h in header] + extra)
        return buf.getvalue().encode("utf-8", "surrogatepass") + raw

    header = st.lists(st.sampled_from(names) | st.text(max_size=5), max_size=6).map(
        lambda hs: sorted(good)[: len(good) - len(hs) % 2] + hs[: len(hs) // 2]
    )
    return st.tuples(
        header,
        _records(good, names),
        st.lists(st.text(max_size=3), max_size=2),
        st.sampled_from(
            [b""] * 6 + [b"\n", b'\n"unclosed,quote', b"\nx,\xff\xfe", b"\n\x00\x00", b"\r\n,,,,,,,,"]
        ),
    ).map(render)


def _parquet(good, names):
    """Columns named as the good ones (some missing, others added), each of one random type."""
    import pyarrow as pa

    column = st.sampled_from(["str", "int", "float", "bool", "list", "binary", "null"])

    def build(t):
        kinds, n, seed = t
        cols = {}
        for name, kind in kinds.items():
            vals = {
                "str": [f"{name} {(seed + i) % 3}" if (seed + i) % 5 else None for i in range(n)],
                "int": [(seed * 7 + i) % 9 - 4 for i in range(n)],
                "float": [[math.nan, math.inf, -1.5, 2.0, 1e308][(seed + i) % 5] for i in range(n)],
                "bool": [bool((seed + i) % 2) for i in range(n)],
                "list": [["a", "b"][: (seed + i) % 3] for i in range(n)],
                "binary": [b"\xff\x00" * ((seed + i) % 3) for i in range(n)],
                "null": [None] * n,
            }[kind]
            cols[name] = pa.array(vals) if kind != "null" else pa.nulls(n)
        buf = io.BytesIO()
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols) if cols else pa.table({"x": pa.nulls(n)}), buf)
        return buf.getvalue()

    kinds = st.dictionaries(st.sampled_from(names), column, max_size=len(names)).map(
        lambda d: d
    ) | st.fixed_dictionaries({k: st.just("str") for k in good})
    files = st.tuples(kinds, st.integers(0, 6), st.integers(0, 100)).map(build)
    truncated = files.flatmap(lambda b: st.integers(0, len(b)).map(lambda k: b[:k]))
    return st.one_of(files, files, files, truncated)


def _lewidi():
    """LeWiDi JSON: items of both layouts, broken field by field; other JSON values; raw bytes."""
    item = {"text": "a tweet", "annotators": "A1,A2", "annotations": "0,1", "number of annotations": 2}
    item25 = {**item, "text": {"context": "c", "response": "r"}, "annotations": {"A1": "1", "A2": "6"}}
    names = [*item, "split", "soft_label", "hard_label"]
    items = st.lists(
        st.one_of(st.just(item), st.just(item25), _broken(item, names), _broken(item25, names)), max_size=5
    )
    top = st.one_of(
        items.map(lambda its: {str(i + 1): it for i, it in enumerate(its)}),
        items.map(lambda its: {str(i + 1): it for i, it in enumerate(its)}),
        items.map(lambda its: {f"id{i}" if i % 2 else str(i): it for i, it in enumerate(its)}),
        VALUES,
        st.lists(items, max_size=2),
    )
    text = top.map(lambda t: json.dumps(t, allow_nan=True, default=str).encode())
    truncated = text.flatmap(lambda b: st.integers(0, len(b)).map(lambda k: b[:k]))
    return st.one_of(text, text, text, truncated, st.binary(max_size=40))


# --- the readers -----------------------------------------------------------------------------------


def _items(path):
    collect_items([path])


def _items_field(path):
    collect_items([path], text_field="text")


def _pairs(path):
    read_pairs([path])


def _ratings(path):
    ratings_to_pairs(path, RATING_FIELDS)


def _lewidi_pairs(path):
    lewidi_to_pairs([path])


PAIR_NAMES_TEXT = [*PAIR_NAMES, "image"]
READERS = {  # name: (reader, file suffix, strategy of the file's bytes)
    "items-jsonl": (_items, ".jsonl", _jsonl(PAIR, PAIR_NAMES_TEXT)),
    "items-csv": (_items_field, ".csv", _csv({"text": "some text", "id": 1}, ["text", "id", "image"])),
    "items-parquet": (_items, ".parquet", _parquet(PAIR, PAIR_NAMES_TEXT)),
    "pairs-jsonl": (_pairs, ".jsonl", _jsonl(PAIR, PAIR_NAMES)),
    "pairs-csv": (_pairs, ".csv", _csv(PAIR, PAIR_NAMES)),
    "pairs-parquet": (_pairs, ".parquet", _parquet(PAIR, PAIR_NAMES)),
    "ratings-jsonl": (_ratings, ".jsonl", _jsonl(RATING, list(RATING))),
    "ratings-csv": (_ratings, ".csv", _csv(RATING, list(RATING))),
    "lewidi-json": (_lewidi_pairs, ".json", _lewidi()),
}


def _check(name: str, n: int):
    reader, suffix, files = READERS[name]
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = folder / f"fuzzed-{name}{suffix}"

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=n <= FAST,  # the default run is the same every time; the slow one explores
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(files)
    def run(data: bytes):
        RUN[name] = RUN.get(name, 0) + 1
        path.write_bytes(data)
        try:
            reader(path)
        except EmbedkitError as e:
            assert path.name in str(e), f"the error does not name the file: {e}"
            if isinstance(e, InputError) and e.line is not None:
                assert e.line >= 1 and f"{path.name}:{e.line}" in str(e), str(e)

    run()


@pytest.mark.parametrize("name", READERS)
def test_readers_raise_only_their_own_errors_naming_file_and_line(name):
    _check(name, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("name", READERS)
def test_readers_raise_only_their_own_errors_naming_file_and_line_many(name):
    _check(name, MANY)
    print(f"\nfuzzed {name}: {RUN[name]} examples in this session")
