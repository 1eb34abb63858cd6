import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.convert import from_columns, from_trl, parse_label_map
from embedkit.data.pairs import read_pairs
from embedkit.errors import InputError


def test_trl_standard_conversational_and_implicit(write_jsonl):
    p = write_jsonl(
        "trl.jsonl",
        [
            {"prompt": "Why?", "chosen": "Because.", "rejected": "No.", "user": "u1"},
            {
                "prompt": [{"role": "user", "content": "Hi"}],
                "chosen": [{"role": "assistant", "content": "Hello!"}],
                "rejected": [{"role": "assistant", "content": "Go away."}],
            },
            {
                "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
                "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
            },
            {"chosen": "Q: sky colour? A: blue", "rejected": "Q: sky colour? A: green"},
        ],
    )
    rows = list(from_trl(p))
    assert rows[0] == {"prompt": "Why?", "chosen": "Because.", "rejected": "No.", "user": "u1"}
    assert rows[1] == {"prompt": "user: Hi", "chosen": "assistant: Hello!", "rejected": "assistant: Go away."}
    assert rows[2] == {"prompt": "user: 2+2?", "chosen": "4", "rejected": "5"}
    assert rows[3] == {"prompt": "Q: sky colour? A: ", "chosen": "blue", "rejected": "green"}


def test_trl_errors_name_the_line(write_jsonl):
    p = write_jsonl(
        "bad.jsonl",
        [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": 3, "rejected": "b"}],
    )
    with pytest.raises(InputError, match="bad.jsonl:2, field 'chosen'"):
        list(from_trl(p))


def test_columns_with_multi_annotator_labels(write_jsonl, tmp_path):
    p = write_jsonl(
        "mp.jsonl",
        [
            {"q": "Q1", "ra": "a", "rb": "b", "prefs": ["A-clear", "Tie", "B-slight"], "who": "w1"},
            {"q": "Q2", "ra": "c", "rb": "d", "prefs": ["A-slight"]},
        ],
    )
    label_map = parse_label_map("A-clear=2,A-slight=1,Tie=0,B-slight=-1,B-clear=-2")
    rows = list(
        from_columns(p, prompt="q", left="ra", right="rb", labels="prefs", user="who", label_map=label_map)
    )
    assert rows[0] == {"prompt": "Q1", "left": "a", "right": "b", "labels": [2, 0, -1], "user": "w1"}
    out = tmp_path / "pairs.jsonl"
    r = CliRunner().invoke(
        cli,
        [
            "convert",
            "columns",
            str(p),
            "--out",
            str(out),
            "--prompt",
            "q",
            "--left",
            "ra",
            "--right",
            "rb",
            "--labels",
            "prefs",
            "--map",
            "A-clear=2,A-slight=1,Tie=0,B-slight=-1,B-clear=-2",
        ],
    )
    assert r.exit_code == 0, r.output
    t = read_pairs([out])
    assert t.counts.tolist() == [[0, 1, 1, 0, 1], [0, 0, 0, 1, 0]]
    r = CliRunner().invoke(
        cli,
        [
            "convert",
            "columns",
            str(p),
            "--out",
            str(tmp_path / "x.jsonl"),
            "--prompt",
            "q",
            "--left",
            "ra",
            "--right",
            "rb",
            "--labels",
            "prefs",
        ],
    )
    assert (
        r.exit_code == 1 and "mp.jsonl:1, field 'prefs': label 'A-clear'" in r.output and "--map" in r.output
    )
    assert not (tmp_path / "x.jsonl").exists()
    r = CliRunner().invoke(cli, ["convert", "trl", str(p), "--out", str(out)])
    assert r.exit_code == 1 and "exists" in r.output


def test_trl_cli_round_trip(write_jsonl, tmp_path):
    p = write_jsonl("t.jsonl", [{"prompt": "Q", "chosen": "good", "rejected": "bad"}])
    out = tmp_path / "o.jsonl"
    r = CliRunner().invoke(cli, ["convert", "trl", str(p), "--out", str(out)])
    assert r.exit_code == 0 and "wrote 1 pairs" in r.output
    assert json.loads(out.read_text()) == {"prompt": "Q", "chosen": "good", "rejected": "bad"}
