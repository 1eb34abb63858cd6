"""``evaluate_head``: what ``embedkit eval`` runs, called from Python, gives the command's metrics."""

import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.heads import load_head
from embedkit.heads.evaluate import evaluate_head
from embedkit.heads.metrics import json_ready


@pytest.fixture(scope="module")
def persona_heads(tmp_path_factory):
    """A tiny persona data set extracted with the fake encoder, and a PAL-B and a BT head fitted on it."""
    root = tmp_path_factory.mktemp("persona")
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r

    run("build", "persona", "--out", root / "data", "--users-per-persona", 3, "--queries-per-user", 16,
        "--queries-per-unseen-user", 10, "--fewshot-per-unseen-user", 4)  # fmt: skip
    run("extract", root / "data/texts.jsonl", "--cache", root / "cache", "--encoder", "fake", "--no-progress")
    for model, extra in (("pal-b", ("--K", 2)), ("bt", ())):
        run("fit-head", "--model", model, "--pairs", root / "data/pairs.jsonl", "--cache", root / "cache",
            "--encoder", "fake", "--out", root / model, "--epochs", 2, "--hidden-dim", 16, "--no-progress",
            *extra)  # fmt: skip
    return root, run


@pytest.mark.parametrize("model", ["pal-b", "bt"])
def test_the_library_call_gives_the_eval_command_s_metrics(persona_heads, model):
    root, run = persona_heads
    pairs, cache = root / "data/pairs.jsonl", root / "cache"
    shots = ("--shots", "1,3") if model == "pal-b" else ()
    cli_metrics = json.loads(
        run("eval", root / model, "--pairs", pairs, "--cache", cache, "--json", *shots).stdout
    )
    notes = []
    metrics = evaluate_head(
        load_head(root / model), [pairs], cache, shots=[1, 3] if shots else None, on_note=notes.append
    )
    assert json.loads(json.dumps(json_ready(metrics))) == cli_metrics
    assert "item_overlap" in metrics and notes == []  # the training files: the head's own splits, no note
    if model == "pal-b":
        assert set(metrics["unseen"]["by_shots"]) == {"1", "3"}


def test_other_files_and_wrong_options(persona_heads, tmp_path):
    root, _ = persona_heads
    lines = (root / "data/pairs.jsonl").read_text().splitlines()
    part = tmp_path / "part.jsonl"
    part.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    notes = []
    metrics = evaluate_head(load_head(root / "pal-b"), [part], root / "cache", on_note=notes.append)
    assert "seen" in metrics and any("differ from the ones the head was trained on" in n for n in notes)
    bt = load_head(root / "bt")
    with pytest.raises(ValueError, match="per-user weights"):
        evaluate_head(bt, [part], root / "cache", shots=[1])
    with pytest.raises(Exception, match="--responses alone conflicts"):
        evaluate_head(bt, [part], root / "cache", responses="alone")
