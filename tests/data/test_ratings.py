"""Per-item ratings -> pairs, and the MultiPref / HelpSteer2 importers, on files in their layouts."""

import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.pairs import read_pairs


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def ratings_rows():
    rows = []
    for a in range(6):
        for i in range(5):
            rows.append(
                {
                    "annotator": f"a{a}",
                    "item": f"c{i}",
                    "comment": f"comment number {i}",
                    "offensive": (i + a) % 5 + 1,
                }
            )
    rows.append({"annotator": "loner", "item": "c0", "comment": "comment number 0", "offensive": 3})
    return rows


def test_ratings_become_per_annotator_pairs_with_graded_labels_and_splits(tmp_path):
    src = write(tmp_path / "r.jsonl", ratings_rows())
    out = tmp_path / "pairs.jsonl"
    r = run("convert", "ratings", src, "--out", out, "--user", "annotator", "--item", "item", "--text", "comment",
            "--score", "offensive", "--prefer", "lower", "--prompt", "Which comment is less offensive?")  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 6 * 10  # every pair of each annotator's 5 items; the loner gives none
    assert "1 annotator(s) rated a single item" in r.output and "'loner'" in r.output
    by = {(r["user"], r["left_item"], r["right_item"]): r for r in rows}
    scores = {(x["annotator"], x["item"]): x["offensive"] for x in ratings_rows()}
    for (user, li, ri), row in by.items():
        diff = (
            scores[(user, ri)] - scores[(user, li)]
        )  # lower is preferred: left wins when right scores higher
        assert row["label"] == (0 if diff == 0 else (2 if abs(diff) >= 2 else 1) * (1 if diff > 0 else -1))
    assert {"train", "val", "test", "fewshot", "unseen_test"} >= {r["split"] for r in rows}
    assert any(r["split"] in ("fewshot", "unseen_test") for r in rows)  # new annotators drawn
    t = read_pairs([out])  # the pair format reads it back
    assert len(t) == 60 and t.has_users
    report = json.loads((tmp_path / "pairs.report.json").read_text())
    assert report["annotators"] == 7 and report["annotators_with_one_item"][0]["line"] == 31


def test_ratings_bad_rows_are_named(tmp_path):
    rows = ratings_rows()[:6] + [{"annotator": "a9", "item": "x", "comment": "t", "offensive": "very"}]
    src = write(tmp_path / "bad.jsonl", rows)
    args = ("convert", "ratings", src, "--out", tmp_path / "o.jsonl", "--user", "annotator", "--item", "item",
            "--text", "comment", "--score", "offensive")  # fmt: skip
    r = run(*args)
    assert r.exit_code == 1 and "bad.jsonl:7, field 'offensive'" in r.output and "not a number" in r.output
    assert not (tmp_path / "o.jsonl").exists()
    r = run(*args, "--skip-bad")
    assert r.exit_code == 0 and "skipped 1 bad row(s); first: " in r.output


def test_ratings_likert_mode_gives_multi_annotator_pairs(tmp_path):
    src = write(tmp_path / "r.jsonl", ratings_rows())
    out = tmp_path / "likert.jsonl"
    r = run("convert", "ratings", src, "--out", out, "--user", "annotator", "--item", "item", "--text", "comment",
            "--score", "offensive", "--likert")  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 10 and all(len(r["labels"]) == len(r["annotators"]) >= 6 for r in rows)
    t = read_pairs([out])
    assert t.likert_a.sum(axis=1).min() >= 6 and (t.counts.sum(axis=1) >= 6).all()


def test_multipref_layout(tmp_path):
    ann = lambda pref, who: {"overall_pref": pref, "evaluator": who, "helpful_pref": "Tie"}  # noqa: E731
    rows = [
        {"comparison_id": "c1", "text": "Q1", "completion_a": "A1", "completion_b": "B1",
         "normal_worker_annotations": [ann("A-is-clearly-better", "w1"), ann("B-is-slightly-better", "w2")],
         "expert_worker_annotations": [ann("Tie", "e1"), ann("A-is-slightly-better", "e2")]},
    ]  # fmt: skip
    src = write(tmp_path / "mp.jsonl", rows)
    r = run("convert", "multipref", src, "--out", tmp_path / "a.jsonl")
    assert r.exit_code == 0, r.output
    row = json.loads((tmp_path / "a.jsonl").read_text())
    assert row["labels"] == [2, -1, 0, 1] and row["prompt"] == "Q1" and row["left"] == "A1"
    assert read_pairs([tmp_path / "a.jsonl"]).counts.tolist() == [[0, 1, 1, 1, 1]]
    r = run(
        "convert",
        "multipref",
        src,
        "--out",
        tmp_path / "b.jsonl",
        "--per-annotator",
        "--annotators",
        "expert",
    )
    per = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [(p["user"], p["label"]) for p in per] == [("e1", 0), ("e2", 1)]
    rows[0]["normal_worker_annotations"][0]["overall_pref"] = "A-wins"
    r = run("convert", "multipref", write(tmp_path / "bad.jsonl", rows), "--out", tmp_path / "c.jsonl")
    assert r.exit_code == 1 and "bad.jsonl:1, field 'normal_worker_annotations'" in r.output


def test_helpsteer2_layout(tmp_path):
    rows = [
        {"prompt": "P", "response": "r1", "helpfulness": [4, 2, 3]},
        {"prompt": "P", "response": "r2", "helpfulness": [1, 2, 4]},
        {"prompt": "Q", "response": "s1", "helpfulness": [3, 3, 3]},
        {"prompt": "Q", "response": "s2", "helpfulness": [3, 3, 2]},
    ]
    r = run("convert", "helpsteer2", write(tmp_path / "hs.jsonl", rows), "--out", tmp_path / "o.jsonl")
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert (
        out[0]["labels"] == [2, 0, -1]
        and out[0]["likert_left"] == [5, 3, 4]
        and out[1]["labels"] == [0, 0, 1]
    )
    assert len(read_pairs([tmp_path / "o.jsonl"])) == 2
    r = run("convert", "helpsteer2", write(tmp_path / "odd.jsonl", rows[:3]), "--out", tmp_path / "x.jsonl")
    assert r.exit_code == 1 and "odd.jsonl:3" in r.output and "no pair" in r.output


@pytest.mark.parametrize("prefer", ["higher", "lower"])
def test_likert_scores_keep_5_as_the_preferred_end(tmp_path, prefer):
    rows = [{"u": "a", "i": "x", "t": "good", "s": 5}, {"u": "a", "i": "y", "t": "bad", "s": 1}]
    out = tmp_path / "o.jsonl"
    r = run("convert", "ratings", write(tmp_path / "r.jsonl", rows), "--out", out, "--user", "u", "--item", "i",
            "--text", "t", "--score", "s", "--likert", "--prefer", prefer)  # fmt: skip
    assert r.exit_code == 0, r.output
    row = json.loads(out.read_text())
    good_side = "likert_left" if row["left"] == "good" else "likert_right"
    assert row[good_side] == ([5] if prefer == "higher" else [1])


def test_ratings_with_duplicate_ids_are_refused_unless_they_repeat_a_row(tmp_path):
    """An annotator rating one item twice with different scores, or an item id naming two texts, is bad
    input named by file, line and field (the later row); an exact repeat of a row is read once."""
    args = ("--user", "annotator", "--item", "item", "--text", "comment", "--score", "offensive")
    rows = ratings_rows()
    twice = write(tmp_path / "twice.jsonl", rows[:6] + [{**rows[2], "offensive": rows[2]["offensive"] + 1}])
    r = run("convert", "ratings", twice, "--out", tmp_path / "o.jsonl", *args)
    assert r.exit_code == 1 and "twice.jsonl:7, field 'offensive'" in r.output, r.output
    assert "annotator 'a0' rated item 'c2' twice" in r.output and "on line 3" in r.output
    assert not (tmp_path / "o.jsonl").exists()
    renamed = write(tmp_path / "renamed.jsonl", rows[:6] + [{**rows[7], "comment": "another text"}])
    r = run("convert", "ratings", renamed, "--out", tmp_path / "o.jsonl", *args)
    assert r.exit_code == 1 and "renamed.jsonl:7, field 'comment'" in r.output, r.output
    assert "item 'c2' has another text here than on line 3" in r.output
    prompts = write(
        tmp_path / "prompts.jsonl",
        [{**x, "q": "Which is worse?"} for x in rows[:6]] + [{**rows[2], "q": "Other?"}],
    )
    r = run("convert", "ratings", prompts, "--out", tmp_path / "o.jsonl", *args, "--prompt-field", "q")
    assert (
        r.exit_code == 1 and "prompts.jsonl:7, field 'q'" in r.output and "under another prompt" in r.output
    )
    r = run("convert", "ratings", twice, "--out", tmp_path / "o.jsonl", *args, "--skip-bad")
    assert r.exit_code == 0 and "skipped 1 bad row(s)" in r.output
    repeated = write(tmp_path / "repeated.jsonl", rows + rows[:5])
    r = run("convert", "ratings", repeated, "--out", tmp_path / "rep.jsonl", *args)
    assert r.exit_code == 0, r.output
    write(tmp_path / "once.jsonl", rows)
    assert (
        run(
            "convert", "ratings", tmp_path / "once.jsonl", "--out", tmp_path / "once-out.jsonl", *args
        ).exit_code
        == 0
    )
    assert (tmp_path / "rep.jsonl").read_text() == (tmp_path / "once-out.jsonl").read_text()


def test_pairs_per_user_counts_after_ties_are_dropped(tmp_path):
    """A user asking for N pairs with --ties drop gets N untied pairs (the cap is applied after the drop)."""
    rows = [
        {"u": "a", "i": f"x{i}", "t": f"text {i}", "s": i % 2} for i in range(12)
    ]  # 30 of 66 pairs untied
    out = tmp_path / "o.jsonl"
    args = ("--user", "u", "--item", "i", "--text", "t", "--score", "s", "--unseen-user-frac", "0")
    r = run("convert", "ratings", write(tmp_path / "r.jsonl", rows), "--out", out, *args, "--ties", "drop", "--pairs-per-user", "20")  # fmt: skip
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 20 and all(x["label"] != 0 for x in got)
    assert "36 pairs possible; writing 20, capped by --pairs-per-user 20" in r.output


def test_likert_pairs_are_capped_and_the_size_is_said_before_writing(tmp_path):
    rows = [
        {"u": f"a{a}", "i": f"x{i}", "t": f"text {i}", "s": (i * a) % 5 + 1}
        for a in range(3)
        for i in range(30)
    ]
    out = tmp_path / "o.jsonl"
    args = ("--user", "u", "--item", "i", "--text", "t", "--score", "s", "--likert")
    r = run(
        "convert", "ratings", write(tmp_path / "r.jsonl", rows), "--out", out, *args, "--max-pairs", "100"
    )
    assert r.exit_code == 0, r.output
    assert "435 pairs possible; writing 100, capped by --max-pairs 100" in r.output
    assert len(out.read_text().splitlines()) == 100
    r = run(
        "convert",
        "ratings",
        tmp_path / "r.jsonl",
        "--out",
        out,
        *args,
        "--pairs-per-user",
        "10",
        "--overwrite",
    )
    n = len(out.read_text().splitlines())
    assert (
        r.exit_code == 0 and 10 <= n <= 30 and "capped by --pairs-per-user 10" in r.output
    )  # a union of 3 x 10


def test_repeated_rows_are_reported_and_missing_fields_list_what_is_there(tmp_path):
    rows = ratings_rows()
    src = write(tmp_path / "r.jsonl", rows[:6] + [rows[2]])
    args = ("--user", "annotator", "--item", "item", "--text", "comment")
    r = run("convert", "ratings", src, "--out", tmp_path / "o.jsonl", *args, "--score", "offensive")
    assert r.exit_code == 0 and "1 row(s) repeat an earlier row exactly and were read once" in r.output, (
        r.output
    )
    assert "r.jsonl:7 repeats line 3" in r.output
    report = json.loads((tmp_path / "o.report.json").read_text())
    assert report["repeated_rows"] == [{"file": str(src), "line": 7, "repeats_line": 3}]
    r = run("convert", "ratings", src, "--out", tmp_path / "p.jsonl", *args, "--score", "offensiveness")
    assert (
        r.exit_code == 1
        and "field 'offensiveness': missing score (fields present: annotator, comment, item, offensive)"
        in r.output
    )


def test_split_by_item_keeps_test_items_out_of_training_pairs(tmp_path):
    rows = [
        {"u": f"a{a}", "i": f"x{i}", "t": f"text {i}", "s": (i + a) % 5} for a in range(10) for i in range(20)
    ]
    out = tmp_path / "o.jsonl"
    args = (
        "--user",
        "u",
        "--item",
        "i",
        "--text",
        "t",
        "--score",
        "s",
        "--split-by",
        "item",
        "--test-frac",
        "0.3",
    )
    r = run("convert", "ratings", write(tmp_path / "r.jsonl", rows), "--out", out, *args)
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in out.read_text().splitlines()]
    train_items = {
        i for x in got if x["split"] in ("train", "val", "fewshot") for i in (x["left_item"], x["right_item"])
    }
    test_items = {
        i for x in got if x["split"] in ("test", "unseen_test") for i in (x["left_item"], x["right_item"])
    }
    assert test_items and not train_items & test_items
    assert {"train", "test", "fewshot", "unseen_test"} <= {x["split"] for x in got}
    assert "compare items of two different splits and were left out" in r.output
