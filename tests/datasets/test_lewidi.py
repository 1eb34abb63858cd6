"""LeWiDi files (2023 and 2025 layouts) -> pairs, on small files the tests write in those layouts."""

import json
import re

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


def abuse_file(path, text=None):
    """A 2023-layout conversation file like ConvAbuse's: text a JSON-encoded object of turns, signed severity
    labels -3..1 (1 = not abusive, -3 = most abusive) while soft_label only has 0 and 1."""
    severity = {"A1": [-3, 1, -1, 1, 0, -2], "A2": [-2, 1, 0, 1, -1, -3], "A3": [1, 1, -1, 0, 1, -3]}
    items = {}
    for i in range(6):
        turns = {
            "prev_agent": f"agent {i}",
            "prev_user": f"user {i}",
            "agent": f"reply {i}",
            "user": f"answer {i}",
        }
        items[str(i + 1)] = {
            "text": text(i) if text else json.dumps(turns),
            "annotation task": "abusive language detection",
            "annotators": "A1,A2,A3",
            "annotations": ",".join(str(severity[a][i]) for a in ("A1", "A2", "A3")),
            "number of annotations": 3,
            "hard_label": "0",
            "soft_label": {"0": 0.5, "1": 0.5},
            "split": "train",
            "lang": "en",
            "other_info": {},
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
    read = read_lewidi([src])
    ratings, bad = read.ratings, read.bad
    assert not bad and len(ratings) == 10 and ratings[0].text == "context 0\nresponse 0"
    only = read_lewidi([src], LeWiDiConfig(text_fields=("response",))).ratings
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
    with pytest.raises(InputError, match=r"this file is given twice \(arguments 1 and 2\)"):
        read_lewidi([tmp_path / "MD_train.json", tmp_path / "." / "MD_train.json"])
    (tmp_path / "other").mkdir()
    md_file(tmp_path / "other" / "MD_train.json", "dev")  # another file of the same name: the same item keys
    with pytest.raises(InputError, match="item id '1' appears again: .* has an item 'MD_train:1' too"):
        read_lewidi([tmp_path / "MD_train.json", tmp_path / "other" / "MD_train.json"])
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


def test_signed_scale_error_names_the_labels_range_and_the_report_says_which_end_is_preferred(tmp_path):
    src = abuse_file(tmp_path / "abuse.json")
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", src, "--out", out)
    assert r.exit_code == 1 and not out.exists()
    assert "annotation '-3' of A1 is outside the scale 0..1 (from its soft_label)" in r.output, r.output
    assert "the labels of these files range -3..1: if that is the scale, pass --scale -3,1" in r.output
    suggested = re.search(r"pass (--scale \S+) ", r.output).group(1).split()
    r = run("convert", "lewidi", src, "--out", out, *suggested, "--unseen-user-frac", "0")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "p.report.json").read_text())
    ex = report["preferred"]["example"]
    assert report["preferred"]["prefer"] == "lower" and ex["preferred"]["score"] < ex["other"]["score"]
    assert "--prefer lower: the item with the lower score is preferred; e.g. " in r.output
    assert (
        f"so {ex['preferred']['item']} is the preferred side (--prefer higher turns this round)" in r.output
    )
    row = next(x for x in rows_of(out) if x["user"] == ex["user"] and {x["left_item"], x["right_item"]} == {
        ex["preferred"]["item"], ex["other"]["item"]})  # fmt: skip
    assert (row["label"] > 0) == (row["left_item"] == ex["preferred"]["item"])  # the example is a real row
    # 1 = not abusive here: --prefer higher makes the less abusive reply the preferred one, and says so
    r = run("convert", "lewidi", src, "--out", out, "--scale", "-3,1", "--prefer", "higher", "--overwrite")
    ex = json.loads((tmp_path / "p.report.json").read_text())["preferred"]["example"]
    assert r.exit_code == 0 and ex["preferred"]["score"] > ex["other"]["score"], r.output
    assert "--prefer higher: the item with the higher score is preferred" in r.output
    # a --scale given and still too narrow: the same range
    r = run("convert", "lewidi", src, "--out", out, "--scale", "-2,1", "--overwrite")
    assert (
        r.exit_code == 1
        and "outside the scale -2..1 (--scale); the labels of these files range -3..1" in r.output
    )


def test_2023_conversations_are_rendered_like_2025_texts_and_text_fields_apply(tmp_path):
    src = abuse_file(tmp_path / "abuse.json")
    cfg = LeWiDiConfig(scale=(-3.0, 1.0))
    assert read_lewidi([src], cfg).ratings[0].text == "agent 0\nuser 0\nreply 0\nanswer 0"  # as a 2025 object
    only = read_lewidi([src], LeWiDiConfig(scale=(-3.0, 1.0), text_fields=("prev_user", "user"))).ratings
    assert only[0].text == "user 0\nanswer 0"
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", src, "--out", out, "--scale", "-3,1", "--text-fields", "prev_user,user")
    assert r.exit_code == 0, r.output
    texts = [x[k] for x in rows_of(out) for k in ("left", "right")]
    assert texts and not any("{" in t or "}" in t or "prev_user" in t for t in texts)
    r = run("convert", "lewidi", src, "--out", out, "--scale", "-3,1", "--text-fields", "bot", "--overwrite")
    assert (
        r.exit_code == 1
        and "text has no field 'bot' (it has: prev_agent, prev_user, agent, user)" in r.output
    )
    # a tweet that merely starts with a brace stays as it is; --text-fields on plain texts is an error
    braces = abuse_file(tmp_path / "braces.json", text=lambda i: f"{{not json}} tweet {i}")
    assert read_lewidi([braces], cfg).ratings[0].text == "{not json} tweet 0"
    with pytest.raises(
        InputError, match="--text-fields user names fields, but this item's text is plain text"
    ):
        read_lewidi([braces], LeWiDiConfig(scale=(-3.0, 1.0), text_fields=("user",)))


def test_small_held_out_splits_are_warned_about(tmp_path):
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", md_file(tmp_path / "MD_train.json"), "--out", out)
    assert r.exit_code == 0, r.output
    small = json.loads((tmp_path / "p.report.json").read_text())["small_splits"]
    assert small and all(x["pairs"] < 100 and x["split"] != "train" for x in small)
    assert (
        "small held-out split(s) of the 45 pairs: " in r.output
        and "too noisy to tell heads apart" in r.output
    )
    big = md_file(tmp_path / "big.json", n=60, annotators=("A1", "A2", "A3"))  # 3 x 1,770 pairs
    r = run("convert", "lewidi", big, "--out", out, "--overwrite", "--unseen-user-frac", "0")
    report = json.loads((tmp_path / "p.report.json").read_text())
    assert r.exit_code == 0 and report["small_splits"] == [] and "small held-out" not in r.output, r.output
    assert min(report["splits"].values()) >= 100


def test_a_file_read_twice_under_another_name_is_warned_about(tmp_path):
    src = md_file(tmp_path / "MD_train.json")
    copy = tmp_path / "MD_train_copy.json"
    copy.write_text(src.read_text())
    out = tmp_path / "p.jsonl"
    r = run("convert", "lewidi", src, copy, "--out", out, "--unseen-user-frac", "0")
    assert r.exit_code == 0, r.output
    repeated = json.loads((tmp_path / "p.report.json").read_text())["repeated_items"]
    assert (
        len(repeated) == 6
        and repeated[0]["item"] == "MD_train_copy:1"
        and repeated[0]["repeats"] == "MD_train:1"
    )
    assert "6 item(s) repeat an earlier item's text, annotators and labels exactly" in r.output
    assert "Is a file given twice under another name?" in r.output
    r = run("convert", "lewidi", src, src, "--out", out, "--overwrite")
    assert r.exit_code == 1 and "this file is given twice (arguments 1 and 2)" in r.output


def test_the_annotator_metadata_beside_the_inputs_is_written_as_a_users_file(tmp_path):
    from embedkit.data.users import read_user_attributes

    src = csc_file(tmp_path / "CSC_test.json")
    meta = {"B1": {"Gender": "Female", "Age": "56"}, "B9": {"Gender": "DATA_EXPIRED", "Age": "nan"}}
    (tmp_path / "CSC_annotators_meta.json").write_text(json.dumps(meta, indent=1))
    out = tmp_path / "out" / "pairs.jsonl"
    r = run("convert", "lewidi", src, "--out", out)
    assert r.exit_code == 0, r.output
    assert (
        "annotator metadata of 2 annotators (Gender, Age)" in r.output
        and "1 annotators of the pairs have none (e.g. B2)" in r.output
    )
    users = read_user_attributes(tmp_path / "out" / "pairs.annotators.jsonl")
    assert users.users == ["B1", "B9"] and users.get("B1") == {"Gender": "Female", "Age": 56.0}
    assert users.get("B9") == {"Gender": None, "Age": None}
    (tmp_path / "out" / "pairs.jsonl").unlink()  # a users file left beside --out is not overwritten silently
    r = run("convert", "lewidi", src, "--out", out)
    assert r.exit_code == 1 and "pairs.annotators.jsonl exists; pass --overwrite" in r.output
    assert not out.exists()
    assert run("convert", "lewidi", src, "--out", out, "--overwrite").exit_code == 0
    r = run("convert", "lewidi", src, "--out", tmp_path / "o2.jsonl", "--annotator-meta", "none")
    assert r.exit_code == 0 and not (tmp_path / "o2.annotators.jsonl").exists()
    bad = tmp_path / "bad_meta.json"
    bad.write_text(json.dumps({"B1": {"Age": "3"}, "B2": {"Age": ["x"]}}, indent=1))
    r = run("convert", "lewidi", src, "--out", tmp_path / "o3.jsonl", "--annotator-meta", bad)
    assert r.exit_code != 0 and "bad_meta.json:5" in r.output and "'Age'" in r.output, r.output
    assert not (tmp_path / "o3.jsonl").exists()  # checked before any pair is written
