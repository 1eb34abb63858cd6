"""Pair rows that repeat an earlier row: hashed, counted and named by file and line, in fit-head, eval and
score (the copies are still read: a repeated anonymous pair can be data)."""

import json

from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.pairs import read_pairs
from embedkit.data.repeats import file_lines, find_repeated, table_hashes
from embedkit.heads.pair_data import repeated_rows
from tests.cli.test_new_user import fit, own_pairs, write


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def hashes_of(table):
    return table_hashes(table.prompt, table.a, table.b, table.user, table.counts, table.y, table.split)


def test_equal_rows_hash_equal_and_any_difference_tells_them_apart(tmp_path):
    base = {"user": "u1", "prompt": "p", "left": "a", "right": "b", "label": "left", "split": "train"}
    rows = [
        base,
        dict(base),  # a copy
        dict(base, user="u2"),
        dict(base, prompt="q"),
        dict(base, left="b", right="a"),
        dict(base, label="right"),
        dict(base, label="tie"),
        dict(base, split="test"),
        dict(base, label=None, labels=[1, 1]),  # two annotators: other bins
    ]
    t = read_pairs([write(tmp_path / "p.jsonl", rows)])
    h = hashes_of(t)
    assert h[0] == h[1] and len(set(h.tolist())) == len(rows) - 1
    found = repeated_rows(t)
    assert found.count == 1 and found.examples == [
        {
            "file": str(tmp_path / "p.jsonl"),
            "line": 2,
            "repeats_file": str(tmp_path / "p.jsonl"),
            "repeats_line": 1,
        }
    ]
    assert not repeated_rows(read_pairs([write(tmp_path / "q.jsonl", rows[1:])]))


def test_lines_are_found_again_for_streamed_rows_blank_lines_and_second_files_included(tmp_path):
    rows = own_pairs(n_users=2, per_user=3)
    a = tmp_path / "a.jsonl"
    a.write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n\n" + json.dumps(rows[1]) + "\n"
    )  # line 8 = line 2
    b = write(tmp_path / "b.jsonl", [rows[4], rows[5]])
    t = read_pairs([a, b])
    found = find_repeated(hashes_of(t), file_lines([a, b], [7, 2]))  # as score finds lines: by reading again
    assert found.count == 3 and found == repeated_rows(t)  # the same lines as the careful reader's
    assert [(e["file"], e["line"], e["repeats_file"], e["repeats_line"]) for e in found.examples] == [
        (str(a), 8, str(a), 2),
        (str(b), 1, str(a), 5),
        (str(b), 2, str(a), 6),
    ]
    assert "3 pair row(s) repeat an earlier row exactly" in found.message()
    assert f"{b}:1 repeats {a}:5" in found.message()


def test_fit_head_eval_and_score_warn_about_a_file_whose_rows_all_appear_twice(tmp_path):
    rows = own_pairs(n_users=6, per_user=10)
    once = write(tmp_path / "once.jsonl", rows)
    twice = write(tmp_path / "twice.jsonl", rows + rows)
    assert (
        run("extract", once, "--cache", tmp_path / "c", "--encoder", "fake", "--no-progress").exit_code == 0
    )
    expected = "60 pair row(s) repeat an earlier row exactly (same user, prompt, responses and label), e.g. "
    where = f"{twice} line(s) 61, 62, 63 repeat line(s) 1, 2, 3"
    r = fit(run, twice, tmp_path / "c", tmp_path / "h")
    assert r.exit_code == 0 and f"Warning: {expected}{where}" in r.stderr, r.output
    r = fit(run, once, tmp_path / "c", tmp_path / "h1")
    assert r.exit_code == 0 and "repeat an earlier row" not in r.output
    r = run("eval", tmp_path / "h1", "--pairs", twice, "--cache", tmp_path / "c")
    assert r.exit_code == 0 and f"Warning: {expected}{where}" in r.stderr, r.output
    r = run("score", tmp_path / "h1", "--cache", tmp_path / "c", "--fewshot", twice, "--pairs", twice,
            "--out", tmp_path / "s.jsonl", "--no-progress", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"Warning: the few-shot pairs: {expected}{where}" in r.stderr
    assert f"Warning: the pairs to score: {expected}{where}" in r.stderr
    assert json.loads(r.stdout)["repeated_rows"]["count"] == 60
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 120  # still all scored
