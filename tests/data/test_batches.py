"""The vectorised (pyarrow) and the careful readers of pair and candidate files give the same batches."""

import json

import numpy as np
import pytest

from embedkit.data.batches import NeedsCarefulReader, candidate_batches, pair_batches
from embedkit.data.pairs import join_in_context


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def same_pairs(a, b):
    assert a.prompt.strings() == b.prompt.strings() and a.a.strings() == b.a.strings()
    assert a.b.strings() == b.b.strings() and a.user.strings() == b.user.strings()
    assert np.array_equal(a.counts, b.counts) and np.allclose(a.y, b.y, equal_nan=True)
    assert a.records() == b.records()


@pytest.mark.parametrize("layout", ["chosen", "left"])
def test_fast_and_careful_pair_batches_agree(tmp_path, layout):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(230):
        q = f"question {rng.integers(20)}"
        if layout == "chosen":
            rows.append({"user": f"u{i % 7}", "prompt": q, "chosen": "Yes", "rejected": "No", "note": i})
        else:
            label = ["left", "right", "tie"][i % 3]
            rows.append({"user": i % 5, "prompt": q, "left": f"a{i % 3}", "right": "b", "label": label})
    path = write(tmp_path / "p.jsonl", rows)
    fast = list(pair_batches([path], rows=100))
    careful = list(pair_batches([path], rows=100, fast=False))
    assert [len(b) for b in fast] == [len(b) for b in careful] == [100, 100, 30]
    for f, c in zip(fast, careful, strict=True):
        same_pairs(f, c)
    assert fast[0].a.strings()[0] == join_in_context(
        rows[0]["prompt"], rows[0].get("chosen", rows[0].get("left"))
    )
    assert len(fast[0].prompt.values) <= 20  # a repeated prompt is one value


def test_rows_the_fast_reader_cannot_take_send_it_to_the_careful_one(tmp_path):
    rows = [{"user": "u", "prompt": "q", "chosen": "a", "rejected": "b"}] * 120
    rows.append({"user": "u", "prompt": "   ", "chosen": "a", "rejected": "b"})  # empty prompt, line 121
    path = write(tmp_path / "p.jsonl", rows)
    with pytest.raises(NeedsCarefulReader):
        list(pair_batches([path], rows=50))
    from embedkit.errors import InputError

    with pytest.raises(InputError, match="p.jsonl:121, field 'prompt'"):
        list(pair_batches([path], rows=50, fast=False))
    weights = write(tmp_path / "w.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b", "weight": 2}])
    assert (
        len(list(pair_batches([weights]))[0]) == 1
    )  # a field that needs checks: careful reader from the start
    sparse = write(
        tmp_path / "s.jsonl",
        [
            {"prompt": "q", "left": "a", "right": "b"},
            {"prompt": "q", "left": "a", "right": "b", "label": "left"},
        ],
    )
    with pytest.raises(NeedsCarefulReader):  # pyarrow would give the first row a label: null it never had
        list(pair_batches([sparse]))
    assert [r for b in pair_batches([sparse], fast=False) for r in b.records()][0] == {
        "prompt": "q",
        "left": "a",
        "right": "b",
    }


def test_fast_and_careful_candidate_batches_agree(tmp_path):
    rows = [
        {"user": f"u{i % 3}", "prompt": f"q{i % 4}", "responses": [f"r{j}" for j in range(1 + i % 3)]}
        for i in range(40)
    ]
    path = write(tmp_path / "c.jsonl", rows)
    fast = list(candidate_batches([path], rows=16))
    careful = list(candidate_batches([path], rows=16, fast=False))
    for f, c in zip(fast, careful, strict=True):
        assert f.prompt.strings() == c.prompt.strings() and f.response.strings() == c.response.strings()
        assert (
            np.array_equal(f.owner, c.owner)
            and f.user.strings() == c.user.strings()
            and f.records() == c.records()
        )
