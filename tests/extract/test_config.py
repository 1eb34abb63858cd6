"""ExtractConfig: the one source of `embedkit extract`'s options, and the same settings from Python."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from embedkit.cache import EmbeddingCache
from embedkit.cli.main import cli
from embedkit.extract.config import ExtractConfig


def _texts(path, n=12):
    path.write_text("".join(json.dumps({"text": f"text number {i}"}) + "\n" for i in range(n)))
    return path


def test_every_field_is_an_option_of_extract():
    ctx = cli.make_context("embedkit", ["extract", "--help"], resilient_parsing=True)
    command = cli.get_command(ctx, "extract")
    names = {p.name for p in command.params}
    assert {f.name for f in dataclasses.fields(ExtractConfig)} <= names
    help_text = CliRunner().invoke(cli, ["extract", "--help"]).output
    assert "--ray [ADDRESS]" in help_text and "--progress / --no-progress" in help_text


def test_run_from_python_equals_the_command(tmp_path):
    src = _texts(tmp_path / "t.jsonl")
    cfg = ExtractConfig(encoder="fake", shard_size=5, progress=False)
    result = cfg.run([src], tmp_path / "py")
    assert result.encoded == 12 and result.shards_written == 3
    r = CliRunner().invoke(
        cli,
        [
            "extract",
            str(src),
            "--cache",
            str(tmp_path / "cli"),
            "--encoder",
            "fake",
            "--shard-size",
            "5",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    a, b = EmbeddingCache(tmp_path / "py"), EmbeddingCache(tmp_path / "cli")
    assert [f.to_json() for f in a.fingerprints()] == [f.to_json() for f in b.fingerprints()] != []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ray_workers=2), "--ray-workers needs --ray"),
        (dict(ray_address="local", device="cuda:1"), "Ray gives each worker its own GPU"),
    ],
)
def test_combinations_that_cannot_run(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExtractConfig(**kwargs).validate()
    flags = {
        "ray_workers": ["--ray-workers", "2"],
        "ray_address": ["--ray", "local"],
        "device": ["--device", "cuda:1"],
    }
    argv = [a for k in kwargs for a in flags[k]]
    r = CliRunner().invoke(
        cli, ["extract", str(_texts(tmp_path / "t.jsonl")), "--cache", str(tmp_path / "c"), *argv]
    )
    assert r.exit_code == 2 and message in r.output
    assert not (tmp_path / "c").exists()


def test_bad_rows_report_must_be_a_file(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        ExtractConfig(bad_rows_report=str(tmp_path)).validate()
