"""Bad input, fed to every command that reads a file: malformed JSONL / CSV / Parquet (invalid UTF-8,
missing columns, wrong types, a huge broken line, NaN labels, garbage bytes). Each must end with a
one-line error naming the file (no traceback) and a non-zero exit, leave no output behind, and change
nothing in the cache. Duplicate ids are bad only where an id must be unique (an annotator's rating of an
item, an item's text: tests/data/test_ratings.py); elsewhere a repeated user, prompt or pair is data."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli

GOOD = [
    {"user": f"u{u}", "prompt": f"question {i}", "chosen": f"long answer {i} {u}", "rejected": f"short {i}"}
    for u in range(4)
    for i in range(12)
]


def _rows(n=6, **override):
    return [{**r, **override} for r in GOOD[:n]]


def _jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _parquet(path, table_dict):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(table_dict), path)


BAD_FILES = {
    "invalid-utf8.jsonl": _jsonl(GOOD[:3])
    + b'{"user": "u1", "prompt": "caf\xe9 \xff", "chosen": "a", "rejected": "b"}\n',
    "missing-column.jsonl": _jsonl([{"user": "u1", "prompt": "p", "chosen": "a"}]),
    "wrong-types.jsonl": _jsonl(_rows(3) + [{"user": "u1", "prompt": 5, "chosen": ["a"], "rejected": None}]),
    "huge-broken-line.jsonl": _jsonl(GOOD[:3]) + b'{"user": "u1", "prompt": "' + b"x" * 3_000_000 + b"\n",
    "nan-label.jsonl": _jsonl(GOOD[:3])
    + b'{"user": "u1", "prompt": "p", "left": "a", "right": "b", "label": NaN}\n',
    "not-an-object.jsonl": _jsonl(GOOD[:3]) + b"[1, 2, 3]\n",
    "garbage.jsonl": bytes(range(256)) * 40,
    "empty.jsonl": b"",
    "ragged.csv": b"user,prompt,chosen,rejected\nu1,p,a,b\nu2,p\n",
    "invalid-utf8.csv": b"user,prompt,chosen,rejected\nu1,\xff\xfe,a,b\n",
    "garbage.parquet": b"PAR1" + bytes(range(256)) * 10,
}


def _write_bad(d):
    d.mkdir()
    paths = {}
    for name, data in BAD_FILES.items():
        (d / name).write_bytes(data)
        paths[name] = d / name
    _parquet(d / "wrong-types.parquet", {"user": ["u1"], "prompt": [3], "chosen": [1.5], "rejected": [None]})
    _parquet(d / "missing-column.parquet", {"user": ["u1"], "prompt": ["p"], "chosen": ["a"]})
    for name in ("wrong-types.parquet", "missing-column.parquet"):
        paths[name] = d / name
    return paths


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A cache holding the good pairs (fake encoder) and a BT head trained on them."""
    d = tmp_path_factory.mktemp("fuzz")
    good = d / "good.jsonl"
    good.write_bytes(_jsonl(GOOD))
    cache = d / "cache"
    runner = CliRunner()
    out = runner.invoke(
        cli, ["extract", str(good), "--encoder", "fake", "--cache", str(cache), "--no-progress"]
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        cli,
        [
            "fit-head",
            "--model",
            "pal-b",
            "--K",
            "2",
            "--pairs",
            str(good),
            "--cache",
            str(cache),
            "--encoder",
            "fake",
        ]
        + ["--out", str(d / "head"), "--epochs", "2", "--seed", "0"],
    )
    assert out.exit_code == 0, out.output
    return {"dir": d, "good": good, "cache": cache, "head": d / "head", "bad": _write_bad(d / "bad")}


def _commands(w, bad, out):
    """Every command that reads a user file, with BAD in the place of that file."""
    c, head, good = str(w["cache"]), str(w["head"]), str(w["good"])
    return {
        "extract": ["extract", bad, "--encoder", "fake", "--cache", c],
        "fit-head": [
            "fit-head",
            "--model",
            "bt",
            "--pairs",
            bad,
            "--cache",
            c,
            "--encoder",
            "fake",
            "--out",
            out,
        ],
        "eval": ["eval", head, "--pairs", bad, "--cache", c],
        "headroom": ["headroom", "--pairs", bad, "--cache", c, "--encoder", "fake", "--out", out],
        "score --pairs": ["score", head, "--cache", c, "--pairs", bad, "--out", out + ".jsonl"],
        "score --fewshot": [
            "score",
            head,
            "--cache",
            c,
            "--fewshot",
            bad,
            "--pairs",
            good,
            "--out",
            out + ".jsonl",
        ],
        "split": ["split", bad, "--dedup-against", good, "--cache", c, "--encoder", "fake", "--out", out],
        "convert trl": ["convert", "trl", bad, "--out", out + ".jsonl"],
        "convert columns": ["convert", "columns", bad, "--out", out + ".jsonl"]
        + ["--prompt", "prompt", "--left", "chosen", "--right", "rejected", "--label", "label"],
        "convert ratings": ["convert", "ratings", bad, "--out", out + ".jsonl"]
        + ["--user", "user", "--item", "prompt", "--text", "chosen", "--score", "rejected"],
        "convert multipref": ["convert", "multipref", bad, "--out", out + ".jsonl"],
        "convert helpsteer2": ["convert", "helpsteer2", bad, "--out", out + ".jsonl"],
        "build pick-a-filter": ["build", "pick-a-filter", bad, "--out", out],
    }


def _tree(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


COMMANDS = [
    "extract",
    "fit-head",
    "eval",
    "headroom",
    "score --pairs",
    "score --fewshot",
    "split",
    "convert trl",
    "convert columns",
    "convert ratings",
    "convert multipref",
    "convert helpsteer2",
    "build pick-a-filter",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_malformed_files_cleanly(world, command, tmp_path):
    before = _tree(world["cache"])
    runner = CliRunner()
    failures = []
    for name, bad in world["bad"].items():
        out_path = tmp_path / f"out-{name}"
        argv = _commands(world, str(bad), str(out_path))[command]
        result = runner.invoke(cli, argv)
        message = result.output.strip().splitlines()[-1] if result.output.strip() else ""
        problem = None
        if result.exit_code == 0:
            problem = "exit code 0"
        elif not isinstance(result.exception, SystemExit) or "Traceback" in result.output:
            problem = f"crashed: {result.exception!r}"
        elif name not in result.output:
            problem = f"error does not name the file: {message!r}"
        elif list(tmp_path.glob(f"out-{name}*")):
            problem = "left output behind"
        if problem:
            failures.append(f"{name}: {problem}")
    assert _tree(world["cache"]) == before, "the cache changed"
    assert not failures, "\n".join(failures)
