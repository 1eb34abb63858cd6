"""A real GRPO run: TRL's GRPOTrainer trains the embedded SmolLM2 for 2 steps on CPU with an embedkit
reward function (a fixed user, then per-row integer / string / unknown users). Slow (~1 minute)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A PAL-B head on persona pairs (fake encoder: completions are embedded on the fly)."""
    root = tmp_path_factory.mktemp("grpo")
    run = lambda *a: CliRunner().invoke(cli, [str(x) for x in a])  # noqa: E731
    assert (
        run(
            "build", "persona", "--out", root / "data", "--users-per-persona", 3, "--queries-per-user", 20
        ).exit_code
        == 0
    )
    assert (
        run(
            "extract",
            root / "data/texts.jsonl",
            "--cache",
            root / "cache",
            "--encoder",
            "fake",
            "--no-progress",
        ).exit_code
        == 0
    )
    r = run("fit-head", "--model", "pal-b", "--K", 2, "--pairs", root / "data/pairs.jsonl", "--cache", root / "cache",
            "--encoder", "fake", "--out", root / "head", "--hidden-dim", 16, "--epochs", 2, "--no-progress")  # fmt: skip
    assert r.exit_code == 0, r.output
    users = sorted({json.loads(x)["user"] for x in (root / "data/pairs.jsonl").read_text().splitlines()})
    return root, users


def test_grpo_trainer_trains_smollm2_on_embedkit_rewards(head, smollm2, tmp_path, caplog):
    pytest.importorskip("trl")
    root, users = head
    spec = importlib.util.spec_from_file_location(
        "grpo_example", Path(__file__).parents[1] / "examples/grpo_with_embedkit.py"
    )
    example = importlib.util.module_from_spec(spec)
    sys.modules["grpo_example"] = example
    spec.loader.exec_module(example)
    policy = str(smollm2.model_dir)
    fixed = example.train(root / "head", root / "cache", policy, str(tmp_path / "a"), user=users[0])
    rewards = [row["reward"] for row in fixed.state.log_history if "reward" in row]
    assert fixed.state.global_step == 2 and len(rewards) == 2 and all(isinstance(r, float) for r in rewards)
    # per-row users from a dataset column: string ids (a seen user and an unknown one), then integer ids
    # (unknown to this head): unknown users get the zero-shot weights, with one warning per reward function
    for i, ids in enumerate(([users[1], "nobody"], [7, 8])):
        caplog.clear()
        per_row = example.train(root / "head", root / "cache", policy, str(tmp_path / f"b{i}"), users=ids)
        assert per_row.state.global_step == 2
        warned = [r for r in caplog.records if "not seen users of this head" in r.getMessage()]
        assert len(warned) == 1, [r.getMessage() for r in caplog.records]
