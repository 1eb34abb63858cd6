"""RewardBench (filtered) and RewardBench 2 files -> pairs, on small files the tests write in those layouts."""

import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.pairs import read_pairs
from embedkit.datasets.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING, from_rewardbench
from embedkit.errors import InputError


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def v1_rows():
    """The allenai/reward-bench filtered layout (with its model columns, which are not needed)."""
    return [
        {"prompt": "Say hi", "chosen": "Hello!", "chosen_model": "m1", "rejected": "No.", "rejected_model": "m2",
         "subset": "alpacaeval-easy", "id": 0},
        {"prompt": "2+2?", "chosen": "4", "chosen_model": "m1", "rejected": "5", "rejected_model": "m3",
         "subset": "math-prm", "id": 1},
    ]  # fmt: skip


def v2_rows():
    """The allenai/reward-bench-2 layout: best-of-4 rows and a Ties pair of prompts (ref:N / tied:N)."""
    return [
        {"id": "10", "prompt": "Capital of France?", "chosen": ["Paris."], "rejected": ["Lyon.", "Rome.", "Nice."],
         "num_correct": 1, "num_rejected": 3, "total_completions": 4, "models": ["a", "b", "c", "d"],
         "subset": "Factuality"},
        {"id": "ref:3", "prompt": "Name a primary colour.", "chosen": ["Red."], "rejected": ["Cat.", "Dog."],
         "num_correct": 1, "num_rejected": 2, "total_completions": 3, "subset": "Ties"},
        {"id": "tied:3", "prompt": "Name a primary colour.", "chosen": ["Red.", "Blue.", "Yellow."],
         "rejected": ["Cat.", "Dog."], "num_correct": 3, "num_rejected": 2, "total_completions": 5, "subset": "Ties"},
    ]  # fmt: skip


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_upstream_constants_cover_every_section_subset():
    # allenai/reward-bench rewardbench/constants.py: 23 subsets in four sections, math-prm weighted as code
    assert sorted(s for group in SUBSET_MAPPING.values() for s in group) == sorted(EXAMPLE_COUNTS)
    assert list(SUBSET_MAPPING) == ["Chat", "Chat Hard", "Safety", "Reasoning"]
    assert EXAMPLE_COUNTS["math-prm"] == 6 * 164 and sum(EXAMPLE_COUNTS.values()) == 3522


def test_v1_rows_become_one_pair_each_keeping_subset_and_id(tmp_path):
    src = write(tmp_path / "filtered.jsonl", v1_rows())
    r = run("convert", "rewardbench", src, "--out", tmp_path / "rb.jsonl")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "rb.jsonl").read_text().splitlines()]
    assert rows[0] == {"prompt": "Say hi", "chosen": "Hello!", "rejected": "No.", "rewardbench": 1,
                       "subset": "alpacaeval-easy", "id": 0}  # fmt: skip
    table = read_pairs([tmp_path / "rb.jsonl"])  # a plain pair file: extract, eval and score read it
    assert len(table) == 2 and table.y.tolist() == [1.0, 1.0]


def test_v1_parquet_as_hugging_face_ships_it(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(v1_rows()), tmp_path / "filtered-00000-of-00001.parquet")
    rows = list(from_rewardbench(tmp_path / "filtered-00000-of-00001.parquet"))
    assert [r["subset"] for r in rows] == ["alpacaeval-easy", "math-prm"] and rows[1]["rewardbench"] == 1


def test_v2_rows_become_pairs_covering_every_completion(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(v2_rows()), tmp_path / "test-00000-of-00001.parquet")
    rows = list(from_rewardbench(tmp_path / "test-00000-of-00001.parquet"))
    by_id = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r)
    assert [len(by_id[k]) for k in ("10", "ref:3", "tied:3")] == [3, 2, 4]  # c + r - 1 pairs
    tied = by_id["tied:3"]
    assert {(r["chosen_index"], r["rejected_index"]) for r in tied} == {(0, 0), (0, 1), (1, 0), (2, 0)}
    assert {r["chosen"] for r in tied} == {"Red.", "Blue.", "Yellow."} and {r["rejected"] for r in tied} == {
        "Cat.",
        "Dog.",
    }
    assert all(r["rewardbench"] == 2 and r["num_correct"] == 3 and r["num_rejected"] == 2 for r in tied)


def test_v2_csv_with_json_lists(tmp_path):
    import csv

    with open(tmp_path / "rb2.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "prompt", "chosen", "rejected", "subset"])
        w.writeheader()
        w.writerow(
            {"id": "1", "prompt": "p", "chosen": '["a"]', "rejected": '["b", "c", "d"]', "subset": "Math"}
        )
    rows = list(from_rewardbench(tmp_path / "rb2.csv"))
    assert [r["rejected"] for r in rows] == ["b", "c", "d"]


@pytest.mark.parametrize(
    "version, edit, line, field, expected",
    [
        (1, lambda rows: rows[1].pop("prompt"), 2, "prompt", "missing field"),
        (1, lambda rows: rows[0].update(chosen="  "), 1, "chosen", "non-empty string"),
        (1, lambda rows: rows[1].update(id=0), 2, "id", "already the id of line 1"),
        (1, lambda rows: rows[1].pop("subset"), 2, "subset", "missing field"),
        (1, lambda rows: rows[1].update(chosen=["x"]), 2, "chosen", "RewardBench 2 file"),
        (2, lambda rows: rows[0].update(rejected=[]), 1, "rejected", "non-empty list of completions"),
        (2, lambda rows: rows[0].update(rejected=["ok", 3]), 1, "rejected", "completion 1"),
        (2, lambda rows: rows[2].update(num_correct=2), 3, "num_correct", "expected 3"),
        (2, lambda rows: rows[0].update(total_completions=5), 1, "total_completions", "expected 4"),
        (2, lambda rows: rows[1].update(id="3"), 2, "id", "ref:N or tied:N"),
        (2, lambda rows: rows[2].update(chosen="Red."), 3, "chosen", "RewardBench 1 file"),
    ],
)
def test_bad_rows_stop_naming_file_line_and_field_and_write_nothing(
    tmp_path, version, edit, line, field, expected
):
    rows = v1_rows() if version == 1 else v2_rows()
    edit(rows)
    src = write(tmp_path / "in.jsonl", rows)
    with pytest.raises(InputError) as e:
        list(from_rewardbench(src))
    assert (e.value.line, e.value.field) == (line, field) and expected in str(e.value)
    r = run("convert", "rewardbench", src, "--out", tmp_path / "out.jsonl")
    assert r.exit_code == 1 and f"{src}:{line}, field '{field}'" in r.output and expected in r.output
    assert not (tmp_path / "out.jsonl").exists() and not list(tmp_path.glob(".out.jsonl*"))


def test_version_forced_and_existing_output_refused(tmp_path):
    src = write(tmp_path / "in.jsonl", v2_rows())
    r = run("convert", "rewardbench", src, "--out", tmp_path / "out.jsonl", "--version", "1")
    assert r.exit_code == 1 and "is this a RewardBench 2 file? (--version 2)" in r.output
    assert run("convert", "rewardbench", src, "--out", tmp_path / "out.jsonl").exit_code == 0
    r = run("convert", "rewardbench", src, "--out", tmp_path / "out.jsonl")
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert "RewardBench 2" in run("convert", "rewardbench", "--help").output
