"""Reading a ratings file (embedkit/data/ratings_reader.py): every row checked, bad rows named by file,
line and field, exact repeats read once."""

import json
import re

import pytest

from embedkit.data.ratings_reader import DEFAULT_PROMPT, RatingsFields, read_ratings
from embedkit.errors import InputError

FIELDS = RatingsFields(user="annotator", item="item", text="comment", score="offensive")


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(a, i, score, **extra):
    return {"annotator": a, "item": f"c{i}", "comment": f"comment {i}", "offensive": score, **extra}


def test_rows_become_ratings_with_their_line_and_the_default_prompt(tmp_path):
    src = write(tmp_path / "r.jsonl", [row("a", 0, 1), row("a", 1, "4.5"), row("b", 0, 2)])
    read = read_ratings(src, FIELDS)
    assert [(r.user, r.item, r.score, r.line) for r in read.ratings] == [
        ("a", "c0", 1.0, 1),
        ("a", "c1", 4.5, 2),
        ("b", "c0", 2.0, 3),
    ]
    assert {r.prompt for r in read.ratings} == {DEFAULT_PROMPT} and read.bad == [] and read.repeats == []
    assert read_ratings(src, FIELDS, prompt="Which?").ratings[0].prompt == "Which?"


@pytest.mark.parametrize(
    "bad, field, message",
    [
        (row("a", 9, "very"), "offensive", "is not a number"),
        (row("a", 9, None), "offensive", "missing score"),
        ({"item": "c9", "comment": "t", "offensive": 1}, "annotator", "missing (fields present: comment"),
        (row("a", 0, 5), "offensive", "rated item 'c0' twice: 1 on line 1, 5 here"),
        ({**row("b", 0, 1), "comment": "another"}, "comment", "has another text here than on line 1"),
    ],
)
def test_a_bad_row_is_named_or_skipped(tmp_path, bad, field, message):
    src = write(tmp_path / "r.jsonl", [row("a", 0, 1), row("a", 1, 2), bad])
    with pytest.raises(InputError, match=re.escape(message)) as e:
        read_ratings(src, FIELDS)
    assert (e.value.file, e.value.line, e.value.field) == (str(src), 3, field)
    read = read_ratings(src, FIELDS, skip_bad=True)
    assert len(read.ratings) == 2 and [x.line for x in read.bad] == [3]


def test_an_exact_repeat_is_read_once_and_listed(tmp_path):
    src = write(tmp_path / "r.jsonl", [row("a", 0, 1), row("a", 1, 2), row("a", 0, 1)])
    read = read_ratings(src, FIELDS)
    assert len(read.ratings) == 2 and read.repeats == [{"file": str(src), "line": 3, "repeats_line": 1}]


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="empty file"):
        read_ratings(write(tmp_path / "e.jsonl", []), FIELDS)
