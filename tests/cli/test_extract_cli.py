import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def _run(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return _run


def test_extract_ls_verify(run, write_jsonl, tmp_path):
    src = write_jsonl("t.jsonl", [{"body": f"text {i}"} for i in range(50)] + [{"body": "text 1"}])
    cache = tmp_path / "cache"
    r = run(
        "extract",
        src,
        "--cache",
        cache,
        "--encoder",
        "fake",
        "--text-field",
        "body",
        "--shard-size",
        20,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "51 items, 50 unique (50 texts); 0 already cached, 50 encoded into 3 shard(s)" in r.output
    r = run("extract", src, "--cache", cache, "--encoder", "fake", "--text-field", "body", "--no-progress")
    assert "50 already cached, 0 encoded" in r.output
    r = run("cache", "ls", "--cache", cache)
    assert r.exit_code == 0 and "fake" in r.output and "50" in r.output
    listed = json.loads(run("cache", "ls", "--cache", cache, "--json").output)
    assert listed[0]["rows"] == 50 and listed[0]["shards"] == 3 and listed[0]["dim"] == 32
    r = run("cache", "verify", "--cache", cache)
    assert r.exit_code == 0 and "3 shard(s) checked, 0 corrupt" in r.output


def test_verify_fails_on_a_corrupt_shard_and_quarantines(run, write_jsonl, tmp_path):
    src = write_jsonl("t.jsonl", [{"text": f"t{i}"} for i in range(10)])
    cache = tmp_path / "cache"
    run("extract", src, "--cache", cache, "--encoder", "fake", "--shard-size", 5, "--no-progress")
    shard = next(cache.glob("*/shard-000001.h5"))
    shard.write_bytes(shard.read_bytes()[:100])
    r = run("cache", "verify", "--cache", cache)
    assert r.exit_code == 1 and "shard-000001.h5" in r.output and "1 corrupt" in r.output
    r = run("cache", "verify", "--cache", cache, "--quarantine")
    assert r.exit_code == 0 and "quarantined" in r.output
    r = run("extract", src, "--cache", cache, "--encoder", "fake", "--no-progress")
    assert "5 already cached, 5 encoded" in r.output


@pytest.mark.parametrize(
    "records,raw,expect",
    [
        ([{"text": "ok"}, {"txt": "x"}], [], "t.jsonl:2, field 'text': missing field"),
        ([{"text": "ok"}, {"text": "  "}], [], "t.jsonl:2, field 'text': expected a non-empty string"),
        (
            [{"text": "ok"}, {"text": None}],
            [],
            "t.jsonl:2, field 'text': expected a non-empty string, found NoneType",
        ),
        ([{"text": "ok"}], ["{broken"], "t.jsonl:2: malformed JSON"),
    ],
)
def test_bad_input_exits_non_zero_and_leaves_the_cache_untouched(
    run, write_jsonl, tmp_path, records, raw, expect
):
    src = write_jsonl("t.jsonl", records, raw)
    cache = tmp_path / "cache"
    r = run("extract", src, "--cache", cache, "--encoder", "fake", "--no-progress")
    assert r.exit_code == 1
    assert expect in r.output
    assert not cache.exists()


def test_missing_file_and_unknown_encoder(run, tmp_path, write_jsonl):
    r = run("extract", tmp_path / "nope.jsonl", "--cache", tmp_path / "c", "--encoder", "fake")
    assert r.exit_code == 1 and "nope.jsonl: no such file" in r.output
    src = write_jsonl("t.jsonl", [{"text": "a"}])
    r = run("extract", src, "--cache", tmp_path / "c", "--encoder", "minlm")
    assert r.exit_code == 1 and "unknown encoder 'minlm'" in r.output and "did you mean 'minilm'" in r.output
    assert not (tmp_path / "c").exists()
    r = run("cache", "ls", "--cache", tmp_path / "c")
    assert r.exit_code == 1 and "not an embedkit cache" in r.output


def test_skip_bad_writes_a_report_and_caches_the_rest(run, write_jsonl, tmp_path):
    src = write_jsonl("t.jsonl", [{"text": "good"}, {"text": ""}, {"text": "also good"}], ["nope"])
    report = tmp_path / "bad.jsonl"
    r = run(
        "extract",
        src,
        "--cache",
        tmp_path / "c",
        "--encoder",
        "fake",
        "--skip-bad",
        "--bad-rows-report",
        report,
        "--no-progress",
    )
    assert r.exit_code == 0 and "skipped 2 bad row(s)" in r.output
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert [(x["line"], x["field"]) for x in rows] == [(2, "text"), (4, None)]
    assert "2 unique" in r.output


def test_help_teaches(run):
    r = run("extract", "--help")
    for opt in (
        "--cache",
        "--encoder",
        "--text-field",
        "--batch-size",
        "--device",
        "--shard-size",
        "--skip-bad",
    ):
        assert opt in r.output
    assert "embedkit extract data/persona" in r.output


@pytest.mark.slow
def test_extract_persona_statements_with_real_minilm(run, tmp_path):
    from tests.conftest import PERSONA_DIR

    src = PERSONA_DIR / "interest-in-art.jsonl"
    r = run(
        "extract",
        src,
        "--cache",
        tmp_path / "c",
        "--text-field",
        "statement",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "1000 unique" in r.output and "minilm" in r.output
    from embedkit.cache import EmbeddingCache, text_key

    ns = EmbeddingCache(tmp_path / "c").namespace(encoder="minilm")
    first = json.loads(src.read_text().splitlines()[0])["statement"]
    v = ns.get([text_key(first)])
    assert v.shape == (1, 384) and abs(float((v.astype("float32") ** 2).sum()) - 1) > 0.1


def test_skip_bad_keeps_every_row_after_a_bad_byte(run, tmp_path):
    """10,000 texts, one byte that is not UTF-8 on line 5,000: without --skip-bad the error names line
    5000; with it exactly that row is skipped and the other 9,999 are cached."""
    lines = [json.dumps({"text": f"text {i}"}).encode() for i in range(1, 10_001)]
    lines[4999] = lines[4999].replace(b"text", b"te\xffxt")
    src = tmp_path / "t.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    r = CliRunner().invoke(
        cli, ["extract", str(src), "--cache", str(tmp_path / "c"), "--encoder", "fake", "--no-progress"]
    )
    assert r.exit_code == 1 and "t.jsonl:5000: not valid UTF-8" in r.output, r.output
    r = run("extract", src, "--cache", tmp_path / "c", "--encoder", "fake", "--skip-bad", "--no-progress")
    assert r.exit_code == 0 and "skipped 1 bad row(s)" in r.output, r.output
    listed = json.loads(run("cache", "ls", "--cache", tmp_path / "c", "--json").output)
    assert listed[0]["rows"] == 9_999
