import json

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *a: runner.invoke(cli, [str(x) for x in a], catch_exceptions=False)


@pytest.fixture(scope="module")
def persona(tmp_path_factory):
    """A tiny persona dataset extracted with the fake encoder."""
    root = tmp_path_factory.mktemp("persona")
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "build",
            "persona",
            "--out",
            str(root / "data"),
            "--users-per-persona",
            "4",
            "--queries-per-user",
            "20",
            "--queries-per-unseen-user",
            "10",
            "--fewshot-per-unseen-user",
            "4",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        [
            "extract",
            str(root / "data/texts.jsonl"),
            "--cache",
            str(root / "cache"),
            "--encoder",
            "fake",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    return root


def fit(run, persona, out, *extra):
    return run(
        "fit-head",
        "--pairs",
        persona / "data/pairs.jsonl",
        "--cache",
        persona / "cache",
        "--encoder",
        "fake",
        "--out",
        out,
        "--epochs",
        2,
        "--hidden-dim",
        16,
        "--no-progress",
        *extra,
    )


@pytest.mark.parametrize("model", ["pal-a", "pal-b", "mean-var", "bt"])
def test_fit_and_eval_each_head(run, persona, tmp_path, model):
    extra = ("--K", 2) if model.startswith("pal") else ()
    r = fit(run, persona, tmp_path / "head", "--model", model, *extra)
    assert r.exit_code == 0, r.output
    assert "saved to" in r.output and (tmp_path / "head/model.safetensors").exists()
    r = run(
        "eval",
        tmp_path / "head",
        "--pairs",
        persona / "data/pairs.jsonl",
        "--cache",
        persona / "cache",
        "--json",
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output)
    if model.startswith("pal"):
        assert {"seen", "unseen"} <= set(metrics) and "per_user" in metrics["seen"]["test"]
        assert set(metrics["unseen"]["by_shots"]) == {"1", "2", "4"}
    else:
        assert "accuracy" in metrics["test"]
    r = run("eval", tmp_path / "head", "--pairs", persona / "data/pairs.jsonl", "--cache", persona / "cache")
    assert r.exit_code == 0 and "accuracy" in r.output


def test_missing_texts_are_named_with_the_extract_command(run, persona, tmp_path, write_jsonl):
    pairs = write_jsonl("new.jsonl", [{"prompt": "never extracted", "chosen": "a", "rejected": "b"}])
    r = run(
        "fit-head",
        "--model",
        "bt",
        "--pairs",
        pairs,
        "--cache",
        persona / "cache",
        "--encoder",
        "fake",
        "--out",
        tmp_path / "h",
    )
    assert r.exit_code == 1
    assert "3 of 3 items" in r.output and "never extracted" in r.output and "embedkit extract" in r.output
    assert not (tmp_path / "h").exists()


def test_bad_options_and_inputs(run, persona, tmp_path, write_jsonl):
    r = fit(run, persona, tmp_path / "h", "--model", "pal-b", "--K", 0)
    assert r.exit_code == 2 and "Invalid value for '--K'" in r.output and "K >= 1" in r.output
    r = fit(run, persona, tmp_path / "h", "--model", "bt", "--K", 2)
    assert r.exit_code == 2 and "--model bt has no option(s) --K" in r.output
    bad = write_jsonl("bad.jsonl", [{"prompt": "q", "left": "a", "right": "b", "label": "sideways"}])
    r = run(
        "fit-head", "--model", "bt", "--pairs", bad, "--cache", persona / "cache", "--out", tmp_path / "h"
    )
    assert r.exit_code == 1 and "bad.jsonl:1, field 'label'" in r.output
    nan = write_jsonl("nan.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b", "weight": float("nan")}])
    r = run(
        "fit-head", "--model", "bt", "--pairs", nan, "--cache", persona / "cache", "--out", tmp_path / "h"
    )
    assert r.exit_code == 1 and "nan.jsonl:1, field 'weight'" in r.output
    assert not (tmp_path / "h").exists()


def test_an_absurd_K_is_refused_naming_it_before_any_training(run, persona, tmp_path):
    """More prototypes than users with training pairs, or a model that cannot fit in memory: exit 1 with
    a line naming --K, nothing written."""
    users = {json.loads(x)["user"] for x in (persona / "data/pairs.jsonl").read_text().splitlines()}
    r = fit(run, persona, tmp_path / "h", "--model", "pal-b", "--K", 5000)
    assert r.exit_code == 1 and "--K 5000 asks for more prototypes than the" in r.output, r.output
    assert "users with training pairs" in r.output and len(users) > 1
    assert not (tmp_path / "h").exists()


def test_a_K_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, monkeypatch):
    """A K the machine cannot hold is refused with its estimate before a tensor is allocated (here the
    machine is said to have 1 MiB available)."""
    from embedkit.errors import InputError
    from embedkit.heads import create_head
    from tests.heads.conftest import planted

    data = planted("b", users_per_group=2, pairs_per_user=10, unseen_per_group=1)[0]
    monkeypatch.setattr("embedkit.heads.pal.available_memory", lambda device: 2**20)
    with pytest.raises(InputError, match=r"--K 3 would need about .* GiB .* has 0\.0 GiB available"):
        create_head("pal-b", K=3, hidden_dim=64, epochs=1, device="cpu").fit(data, progress=False)


def test_empty_split_and_too_few_shots(run, persona, tmp_path):
    rows = [json.loads(x) for x in (persona / "data/pairs.jsonl").read_text().splitlines()]
    no_val = tmp_path / "noval.jsonl"
    no_val.write_text(
        "".join(
            json.dumps({**r, "split": "train" if r["split"] == "val" else r["split"]}) + "\n" for r in rows
        )
    )
    r = run(
        "fit-head",
        "--model",
        "pal-b",
        "--pairs",
        no_val,
        "--cache",
        persona / "cache",
        "--encoder",
        "fake",
        "--out",
        tmp_path / "h",
    )
    assert r.exit_code == 1 and "val split is empty" in r.output and not (tmp_path / "h").exists()
    assert fit(run, persona, tmp_path / "ok", "--model", "pal-b").exit_code == 0
    r = run(
        "eval",
        tmp_path / "ok",
        "--pairs",
        persona / "data/pairs.jsonl",
        "--cache",
        persona / "cache",
        "--shots",
        "2,9",
    )
    assert r.exit_code == 0 and "no unseen user has 9 few-shot pairs" in r.output


def test_likert_heads_need_likert_scores(run, persona, tmp_path):
    for model in ("mse", "likert-kl"):
        r = fit(run, persona, tmp_path / model, "--model", model)
        assert r.exit_code == 1 and "Likert-5 scores" in r.output and not (tmp_path / model).exists()


def test_out_dir_is_never_overwritten_silently(run, persona, tmp_path):
    out = tmp_path / "head"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = fit(run, persona, out, "--model", "bt")
    assert r.exit_code == 1 and "not empty" in r.output and (out / "notes.txt").exists()


def test_build_persona_refuses_to_overwrite(run, persona):
    r = run("build", "persona", "--out", persona / "data")
    assert r.exit_code == 1 and "--overwrite" in r.output


def test_fit_head_help_documents_config_options(run):
    r = run("fit-head", "--help")
    for opt in ("--K", "--lr", "--dropout", "--eta", "--margin", "--labels", "--temperature", "--loss"):
        assert opt in r.output


@pytest.mark.parametrize("model", ["pal-b", "bt"])
def test_eval_reports_test_metrics_by_group_and_filter_columns(run, persona, tmp_path, model):
    """Pick-a-Filter's Figure 15: accuracy on filtered and original test pairs, and per group."""
    rows = [json.loads(x) for x in (persona / "data/pairs.jsonl").read_text().splitlines()]
    for i, r in enumerate(rows):
        r["filtered"] = ("none", "winner", "loser")[i % 3]
        r["group"] = "cold" if i % 2 else "warm"
    tagged = tmp_path / "tagged.jsonl"
    tagged.write_text("".join(json.dumps(r) + "\n" for r in rows))
    extra = ("--K", 2) if model.startswith("pal") else ()
    assert fit(run, persona, tmp_path / "head", "--model", model, *extra).exit_code == 0
    r = run("eval", tmp_path / "head", "--pairs", tagged, "--cache", persona / "cache", "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert set(m["by"]) == {"group", "filtered"} and set(m["by"]["filtered"]) == {"none", "winner", "loser"}
    for tag in ("group", "filtered"):  # the parts add up to the whole test split
        key = ("seen_test", ("seen", "test")) if model == "pal-b" else ("test", ("test",))
        whole = m
        for k in key[1]:
            whole = whole[k]
        parts = [v[key[0]] for v in m["by"][tag].values()]
        assert sum(p["pairs"] for p in parts) == whole["pairs"]
        acc = sum(p["accuracy"] * p["pairs"] for p in parts) / whole["pairs"]
        assert acc == pytest.approx(whole["accuracy"], abs=1e-9)
    r = run("eval", tmp_path / "head", "--pairs", tagged, "--cache", persona / "cache")
    assert "by.filtered.winner" in r.output and "by.<column>.<value>" in r.output
