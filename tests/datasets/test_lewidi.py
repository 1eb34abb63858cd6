"""LeWiDi files (2023 and 2025 layouts) -> pairs, on small files the tests write in those layouts."""

import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.pairs import read_pairs
from embedkit.datasets.lewidi import LeWiDiConfig, read_lewidi
from embedkit.errors import InputError


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def md_file(path, split="train", n=6, annotators=("A1", "A2", "A3")):
    """A 2023-layout file: n tweets, each labelled 0/1 by every annotator (A2 flips A1's labels)."""
    items = {}
    for i in range(n):
        labels = [i % 2, 1 - i % 2, int(i >= n // 2)][: len(annotators)]
        items[str(i + 1)] = {
            "text": f"tweet number {i} from {split}",
            "annotation task": "offensiveness detection",
            "number of annotations": len(annotators),
            "annotators": ",".join(annotators),
            "annotations": ",".join(map(str, labels)),
            "hard_label": "0",
            "soft_label": {"0": 0.5, "1": 0.5},
            "split": split,
            "lang": "en",
            "other_info": {"domain": "BLM"},
        }
    path.write_text(json.dumps(items))
    return path


def csc_file(path, split="test"):
    """A 2025-layout file: text is {context, response}, annotations an object, labels 1..6."""
    items = {}
    for i in range(5):
        anns = {"B1": str(1 + i), "B2": str(6 - i)}
        items[str(100 + i)] = {
            "annotation task": "sarcasm detection",
            "text": {"context": f"context {i}", "response": f"response {i}"},
            "annotators": "B1,B2",
            "number of annotations": 2,
            "annotations": anns,
            "soft_label": {str(v): 0.0 for v in range(1, 7)},
            "split": split,
        }
    path.write_text(json.dumps(items))
    return path


def rows_of(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_2023_layout_pairs_within_each_annotator_lower_label_preferred(tmp_path):
    src = md_file(tmp_path / "MD_train.json")
    out = tmp_path / "pairs.jsonl"
    r = run(
        "convert",
        "lewidi",
        src,
        "--out",
        out,
        "--prompt",
        "Which tweet is less offensive?",
        "--unseen-user-frac",
        "0",
    )
    assert r.exit_code == 0, r.output
    rows = rows_of(out)
    assert {x["user"] for x in rows} == {"A1", "A2", "A3"} and len(rows) == 3 * 15  # every pair of 6 items
    labels = {(x["user"], x["left_item"], x["right_item"]): x["label"] for x in rows}
    for (user, left, right), label in labels.items():
        a = json.loads(src.read_text())
        who = a[left.split(":")[1]]["annotators"].split(",").index(user)
        la = int(a[left.split(":")[1]]["annotations"].split(",")[who])
        lb = int(a[right.split(":")[1]]["annotations"].split(",")[who])
        assert label == (0 if la == lb else (1 if la < lb else -1))  # the less offensive one is preferred
    assert rows[0]["prompt"] == "Which tweet is less offensive?" and rows[0]["left_item"].startswith(
        "MD_train:"
    )
    assert {x["split"] for x in rows} <= {"train", "val", "test"}
    t = read_pairs([out])
    assert len(t) == 45 and t.has_users
    assert "ties" in r.output and (tmp_path / "pairs.report.json").exists()


def test_2025_layout_joins_or_chooses_text_fields(tmp_path):
    src = csc_file(tmp_path / "CSC_test.json")
    ratings, bad = read_lewidi([src])
    assert not bad and len(ratings) == 10 and ratings[0].text == "context 0\nresponse 0"
    only, _ = read_lewidi([src], LeWiDiConfig(text_fields=("response",)))
    assert only[0].text == "response 0" and only[0].score == 1.0
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", src, "--out", out, "--text-fields", "response", "--ties", "drop")
    assert r.exit_code == 0, r.output
    rows = rows_of(out)
    assert len(rows) == 2 * 10 and all(abs(x["label"]) in (1, 2) for x in rows)  # 1..6 differences graded
    r = run("convert", "lewidi", src, "--out", out, "--text-fields", "reply", "--overwrite")
    assert r.exit_code == 1 and "text has no field 'reply' (it has: context, response)" in r.output


def test_the_files_own_split_makes_item_disjoint_splits(tmp_path):
    files = [
        md_file(tmp_path / f"MD_{s}.json", s, n=8, annotators=("A1", "A2", "A3", "A4")[:3])
        for s in ("train", "dev", "test")
    ]
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", *files, "--out", out, "--source-split", "--unseen-user-frac", "0.34")
    assert r.exit_code == 0, r.output
    rows = rows_of(out)
    source = {"MD_train": "train", "MD_dev": "val", "MD_test": "test"}
    unseen = {x["user"] for x in rows if x["split"] in ("fewshot", "unseen_test")}
    assert unseen and len(unseen) < 3
    for x in rows:
        a, b = source[x["left_item"].split(":")[0]], source[x["right_item"].split(":")[0]]
        if x["user"] in unseen:  # new users: few shots from train and dev items, tested on test items
            assert x["split"] == ("unseen_test" if a == b == "test" else "fewshot")
            assert (a == b == "test") or {a, b} <= {"train", "val"}
        else:  # seen users: never a pair across the files' splits
            assert a == b == x["split"]
    assert "compare items of two different splits and were left out" in r.output


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: [1, 2, 3], "not a LeWiDi file: expected one JSON object of items"),
        (
            lambda d: {**d, "1": {**d["1"], "annotations": "0,1"}},
            "item '1': 3 annotator(s) but 2 annotation(s)",
        ),
        (
            lambda d: {**d, "2": {**d["2"], "annotations": "0,1,7"}},
            "item '2': annotation '7' of A3 is outside the scale 0..1",
        ),
        (
            lambda d: {**d, "3": {k: v for k, v in d["3"].items() if k != "annotators"}},
            "item '3': not a LeWiDi item (no annotators",
        ),
        (
            lambda d: {**d, "4": {**d["4"], "annotations": "0,x,1"}},
            "item '4': annotation 'x' of A2 is not a number",
        ),
    ],
)
def test_bad_items_name_file_item_and_field_and_skip_bad_goes_on(tmp_path, breakage, message):
    good = json.loads(md_file(tmp_path / "MD_train.json").read_text())
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(breakage(good)))
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", src, "--out", out)
    assert r.exit_code == 1 and message in r.output and "bad.json" in r.output, r.output
    assert not out.exists()
    if isinstance(breakage(good), dict):
        r = run("convert", "lewidi", src, "--out", out, "--skip-bad")
        assert r.exit_code == 0 and "skipped 1 bad item(s)" in r.output, r.output
        assert json.loads((tmp_path / "p.report.json").read_text())["skipped_items"][0]["error"].startswith(
            message.split(":")[0]
        )


def test_an_item_id_twice_and_an_annotator_twice_are_refused(tmp_path):
    text = md_file(tmp_path / "MD_train.json").read_text()
    twice = tmp_path / "twice.json"
    twice.write_text(text[:-1] + ', "1": ' + json.dumps(json.loads(text)["1"]) + "}")
    with pytest.raises(InputError, match="item id '1' appears twice in this file"):
        read_lewidi([twice])
    csc = csc_file(tmp_path / "CSC.json").read_text().replace('"B2": "6"', '"B1": "6"', 1)
    (tmp_path / "dup.json").write_text(csc)
    with pytest.raises(InputError, match="annotator 'B1' appears twice in annotations"):
        read_lewidi([tmp_path / "dup.json"])
    with pytest.raises(InputError, match="appears again"):
        read_lewidi([tmp_path / "MD_train.json", tmp_path / "MD_train.json"])
    (tmp_path / "notjson.json").write_text("{not json")
    with pytest.raises(InputError, match="not a LeWiDi file: not JSON"):
        read_lewidi([tmp_path / "notjson.json"])


def test_likert_mode_gives_multi_annotator_pairs_for_distributional_heads(tmp_path):
    src = csc_file(tmp_path / "CSC_test.json")
    out = tmp_path / "likert.jsonl"
    r = run("convert", "lewidi", src, "--out", out, "--likert", "--likert-range", "1,6", "--prefer", "higher")
    assert r.exit_code == 0, r.output
    rows = rows_of(out)
    assert len(rows) == 10 and all(len(x["labels"]) == 2 and x["annotators"] == ["B1", "B2"] for x in rows)
    t = read_pairs([out])
    assert t.likert_a.sum(axis=1).tolist() == [2] * 10 and (t.counts.sum(axis=1) == 2).all()
