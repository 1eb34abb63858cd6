import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedkit.data.items import collect_texts
from embedkit.data.pairs import join_in_context
from embedkit.errors import InputError


def test_text_file_dedups_and_counts(write_jsonl):
    p = write_jsonl(
        "t.jsonl",
        [{"text": "a"}, {"text": "b"}, {"text": "a"}, {"text": "cafe\u0301"}, {"text": "caf\u00e9"}],
    )
    items = collect_texts([p])
    assert items.texts == ["a", "b", "cafe\u0301"]
    assert items.records == 5 and items.occurrences == 5


def test_pair_file_shares_prompts(write_jsonl):
    p = write_jsonl(
        "p.jsonl",
        [
            {"prompt": "Q", "chosen": "yes", "rejected": "no"},
            {"prompt": "Q", "chosen": "no", "rejected": "yes"},
            {"prompt": "R", "chosen": "x", "rejected": "y"},
        ],
    )
    p2 = write_jsonl("lr.jsonl", [{"prompt": "S", "left": "x", "right": "y", "label": "left"}])
    items = collect_texts([p, p2])
    assert items.texts[:3] == ["Q", join_in_context("Q", "yes"), join_in_context("Q", "no")]
    assert items.occurrences == 12 and len(items.texts) == 3 + 3 + 3
    alone = collect_texts([p], responses="alone")
    assert alone.texts == ["Q", "yes", "no", "R", "x", "y"]


def test_a_file_keeps_the_layout_of_its_first_record(write_jsonl):
    p = write_jsonl(
        "mixed.jsonl",
        [{"prompt": "Q", "chosen": "a", "rejected": "b"}, {"prompt": "R", "left": "x", "right": "y"}],
    )
    with pytest.raises(InputError, match="mixed.jsonl:2, field 'chosen': missing field"):
        collect_texts([p])


def test_csv_and_parquet(tmp_path):
    c = tmp_path / "t.csv"
    with open(c, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "body"])
        w.writerow(["1", "hello, world"])
        w.writerow(["2", "multi\nline"])
    q = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["hello, world", "third"]}), q)
    items = collect_texts([c, q], text_field="body")
    assert items.texts == ["hello, world", "multi\nline", "third"]


@pytest.mark.parametrize(
    "records,raw,match,line,field",
    [
        ([{"text": "ok"}, {"txt": "x"}], [], "missing field", 2, "text"),
        ([{"text": "ok"}, {"text": ""}], [], "empty", 2, "text"),
        ([{"text": "ok"}, {"text": 3}], [], "found int", 2, "text"),
        ([{"text": "ok"}], ["{not json"], "malformed JSON", 2, None),
        ([{"text": "ok"}], ["[1, 2]"], "expected a JSON object", 2, None),
    ],
)
def test_bad_rows_name_file_line_and_field(write_jsonl, records, raw, match, line, field):
    p = write_jsonl("bad.jsonl", records, raw)
    with pytest.raises(InputError, match=match) as e:
        collect_texts([p])
    assert e.value.file == str(p) and e.value.line == line and e.value.field == field
    assert f"bad.jsonl:{line}" in str(e.value)


def test_skip_bad_collects_instead(write_jsonl):
    p = write_jsonl("bad.jsonl", [{"text": "ok"}, {"text": ""}], ["{oops", '{"text": "fine"}'])
    items = collect_texts([p], skip_bad=True)
    assert items.texts == ["ok", "fine"]
    assert [(e.line, e.field) for e in items.bad] == [(2, "text"), (3, None)]


def test_missing_file_unknown_type_and_undetectable_layout(tmp_path, write_jsonl):
    with pytest.raises(InputError, match="no such file"):
        collect_texts([tmp_path / "nope.jsonl"])
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InputError, match="unsupported file type"):
        collect_texts([tmp_path / "x.txt"])
    p = write_jsonl("odd.jsonl", [{"body": "a"}])
    with pytest.raises(InputError, match="--text-field"):
        collect_texts([p])
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no records"):
        collect_texts([tmp_path / "empty.jsonl"])


def test_ragged_csv_row(tmp_path):
    c = tmp_path / "t.csv"
    c.write_text("a,b\n1,2\n3\n")
    with pytest.raises(InputError, match="t.csv:3"):
        collect_texts([c], text_field="a")
