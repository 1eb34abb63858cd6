"""Scoring new users: the reward API (embedkit.load_reward_model), TRL's reward-function contract, and
`embedkit score` end to end, with the fake encoder."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import embedkit
from embedkit.cli.main import cli
from embedkit.errors import MissingKeysError


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Persona pairs (fake encoder), a PAL-B and a mean-variance head, few-shot and test files of new users."""
    root = tmp_path_factory.mktemp("score")
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(cli, [str(a) for a in args])
        assert r.exit_code == 0, r.output
        return r

    run("build", "persona", "--out", root / "data", "--users-per-persona", 6, "--queries-per-user", 30,
        "--queries-per-unseen-user", 20, "--fewshot-per-unseen-user", 5)  # fmt: skip
    run("extract", root / "data/texts.jsonl", "--cache", root / "cache", "--encoder", "fake", "--no-progress")
    for model, extra in (("pal-b", ("--K", 2)), ("mean-var", ())):
        run("fit-head", "--model", model, *extra, "--pairs", root / "data/pairs.jsonl", "--cache", root / "cache",
            "--encoder", "fake", "--out", root / model, "--hidden-dim", 32, "--epochs", 5, "--no-progress")  # fmt: skip
    rows = [json.loads(x) for x in (root / "data/pairs.jsonl").read_text().splitlines()]
    strip = lambda r: {k: v for k, v in r.items() if k != "split"}  # noqa: E731
    (root / "fewshot.jsonl").write_text(
        "".join(json.dumps(strip(r)) + "\n" for r in rows if r["split"] == "fewshot")
    )
    (root / "todo.jsonl").write_text(
        "".join(json.dumps(strip(r)) + "\n" for r in rows if r["split"] == "unseen_test")
    )
    return root, rows


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- the reward API ----------------------------------------------------------------------------------------
def test_reward_api_accepts_every_form_of_user(trained):
    root, rows = trained
    model = embedkit.load_reward_model(root / "pal-b", cache=root / "cache")
    seen = next(r for r in rows if r["split"] == "train")
    prompts, responses = [seen["prompt"]] * 2, ["Yes", "No"]
    r_seen = model.reward(prompts, responses, user=seen["user"])
    assert r_seen.shape == (2,) and r_seen.dtype == np.float32
    w = model.head.user_weights()[model.head.users_.index(seen["user"])]
    assert np.allclose(model.reward(prompts, responses, user=w), r_seen, atol=1e-5)
    assert np.allclose(
        model.reward(seen["prompt"], responses),
        model.reward(prompts, responses, user=model.head.zero_shot_weights()),
        atol=1e-5,
    )
    p0 = model.reward(prompts, responses, user="prototype:0")
    assert np.allclose(p0, model.reward(prompts, responses, user=[1.0, 0.0]), atol=1e-5)
    shots = [
        {"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
        for r in rows
        if r["user"] == "unseen-art-00000"
    ][:5]
    assert model.reward(prompts, responses, user=shots).shape == (2,)
    per_row = model.reward(prompts, responses, user=[seen["user"], "prototype:0"])
    assert np.isclose(per_row[0], r_seen[0], atol=1e-5) and np.isclose(per_row[1], p0[1], atol=1e-5)
    from embedkit.errors import UnknownUserError

    with pytest.raises(UnknownUserError, match="'nobody' is not a seen user") as e:
        model.reward(prompts, responses, user="nobody")
    assert "--fewshot" in str(e.value) and "user=None" in str(e.value)  # how to score a new user
    with pytest.raises(ValueError, match="2 weights summing to 1"):
        model.reward(prompts, responses, user=[0.5, 0.6])


def test_cache_first_then_the_heads_encoder(trained):
    root, _ = trained
    model = embedkit.load_reward_model(root / "mean-var", cache=root / "cache")
    r = model.reward("a prompt never extracted", ["an answer", "another"])  # the fake encoder embeds them
    strict = embedkit.load_reward_model(root / "mean-var", cache=root / "cache", allow_encode=False)
    with pytest.raises(MissingKeysError, match="not in the cache") as e:
        strict.reward("a prompt never extracted", ["an answer", "another"])
    assert "embedkit extract" in str(e.value)
    from embedkit.data.pairs import join_in_context
    from embedkit.encoders.fake import FakeEncoder

    enc = FakeEncoder(dim=32)
    P = enc.encode(["a prompt never extracted"] * 2)
    R = enc.encode([join_in_context("a prompt never extracted", x) for x in ("an answer", "another")])
    assert np.allclose(model.reward_from_embeddings(P, R), r, atol=1e-5)


def test_reward_function_called_as_trl_calls_it(trained):
    root, rows = trained
    model = embedkit.load_reward_model(root / "pal-b", cache=root / "cache")
    fn = model.reward_function(user="prototype:1")
    seen = next(r for r in rows if r["split"] == "train")
    prompts = [seen["prompt"], [{"role": "user", "content": seen["prompt"]}]]
    completions = ["Yes", [{"role": "assistant", "content": "No"}]]
    kwargs = {
        "completion_ids": [[1, 2], [3]],
        "trainer_state": object(),
        "log_extra": None,
        "log_metric": None,
    }
    out = fn(prompts=prompts, completions=completions, **kwargs)
    assert isinstance(out, list) and len(out) == 2 and all(isinstance(x, float) for x in out)
    assert out[0] == pytest.approx(
        float(model.reward(seen["prompt"], "Yes", user="prototype:1")[0]), abs=1e-5
    )
    per_user = model.reward_function()(
        prompts=[seen["prompt"]] * 2, completions=["Yes", "Yes"], user=[seen["user"], None]
    )
    assert per_user[0] == pytest.approx(
        float(model.reward(seen["prompt"], "Yes", user=seen["user"])[0]), abs=1e-5
    )
    trl_utils = pytest.importorskip("trl.trainer.utils")
    assert trl_utils.get_callable_name(fn) == "embedkit_pal_b"


# --- embedkit score ---------------------------------------------------------------------------------------
def test_score_pairs_with_fewshot_users_and_reuse_their_weights(trained, tmp_path):
    root, _ = trained
    out = tmp_path / "scored.jsonl"
    r = invoke("score", root / "pal-b", "--cache", root / "cache", "--fewshot", root / "fewshot.jsonl",
               "--pairs", root / "todo.jsonl", "--out", out, "--json", "--no-progress")  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["rows"] == 12 * 15 and summary["users_by_source"] == {"fewshot": 12}
    assert set(summary["accuracy_by_shots"]) == {"5"} and 0 <= summary["accuracy"] <= 1
    scored = [json.loads(x) for x in out.read_text().splitlines()]
    assert {"p_left", "reward_left", "reward_right", "persona"} <= set(scored[0])
    assert np.isclose(
        scored[0]["p_left"], 1 / (1 + np.exp(scored[0]["reward_right"] - scored[0]["reward_left"])), atol=1e-5
    )
    users = [json.loads(x) for x in (tmp_path / "scored.users.jsonl").read_text().splitlines()]
    assert len(users) == 12 and users[0]["shots"] == 5 and not users[0]["zero_shot"]
    assert users[0]["nearest_prototype"] in (0, 1) and len(users[0]["similar_seen_users"]) == 3
    again = tmp_path / "again.parquet"
    r = invoke("score", root / "pal-b", "--cache", root / "cache", "--user-weights", tmp_path / "scored.users.jsonl",
               "--pairs", root / "todo.jsonl", "--out", again, "--no-progress")  # fmt: skip
    assert r.exit_code == 0, r.output
    import pyarrow.parquet as pq

    p2 = pq.read_table(again).column("p_left").to_pylist()
    assert np.allclose(p2, [s["p_left"] for s in scored], atol=1e-4)  # the same users, not refitted
    assert (tmp_path / "again.users.parquet").exists()
    r = invoke(
        "score", root / "pal-b", "--cache", root / "cache", "--pairs", root / "todo.jsonl", "--out", out
    )
    assert r.exit_code == 1 and "exists; pass --overwrite" in r.output


def test_score_candidates_ranks_and_zero_shot_users(trained, tmp_path):
    root, rows = trained
    cands = tmp_path / "c.jsonl"
    cands.write_text(
        json.dumps({"user": "someone-new", "prompt": rows[0]["prompt"], "responses": ["Yes", "No"]}) + "\n"
        + json.dumps({"user": rows[0]["user"], "prompt": rows[0]["prompt"], "responses": ["No", "Yes", "No"]}) + "\n"
    )  # fmt: skip
    out = tmp_path / "ranked.jsonl"
    r = invoke(
        "score",
        root / "pal-b",
        "--cache",
        root / "cache",
        "--candidates",
        cands,
        "--out",
        out,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    ranked = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(ranked[1]["rewards"]) == 3 and sorted(ranked[1]["ranking"]) == [0, 1, 2]
    assert ranked[1]["rewards"][0] == ranked[1]["rewards"][2]
    assert ranked[1]["rewards"][ranked[1]["ranking"][0]] == max(ranked[1]["rewards"])
    users = {
        json.loads(x)["user"]: json.loads(x)
        for x in (tmp_path / "ranked.users.jsonl").read_text().splitlines()
    }
    assert users["someone-new"]["zero_shot"] and users[rows[0]["user"]]["source"] == "trained"


def test_score_bad_input_is_named_and_nothing_is_written(trained, tmp_path):
    root, _ = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"user": "u", "prompt": "p", "responses": []}) + "\n")
    out = tmp_path / "o.jsonl"
    r = invoke("score", root / "pal-b", "--cache", root / "cache", "--candidates", bad, "--out", out)
    assert r.exit_code == 1 and "bad.jsonl:1, field 'responses'" in r.output and "non-empty list" in r.output
    assert not out.exists() and not list(tmp_path.glob(".o.jsonl*"))
    new = tmp_path / "new.jsonl"
    new.write_text(
        json.dumps({"user": "u", "prompt": "an unseen prompt", "chosen": "a", "rejected": "b"}) + "\n"
    )
    r = invoke("score", root / "pal-b", "--cache", root / "cache", "--pairs", new, "--out", out)
    assert r.exit_code == 1 and "not in the cache" in r.output and f"embedkit extract {new}" in r.output
    r = invoke(
        "score",
        root / "pal-b",
        "--cache",
        root / "cache",
        "--pairs",
        new,
        "--out",
        out,
        "--extract-missing",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "embedded 3 input(s)" in r.output
    r = invoke(
        "score",
        root / "mean-var",
        "--cache",
        root / "cache",
        "--fewshot",
        root / "fewshot.jsonl",
        "--pairs",
        new,
        "--out",
        tmp_path / "x.jsonl",
    )
    assert r.exit_code == 2 and "population model" in r.output
    weights = tmp_path / "w.jsonl"
    weights.write_text(json.dumps({"user": "u", "weights": [0.7, 0.7]}) + "\n")
    r = invoke(
        "score",
        root / "pal-b",
        "--cache",
        root / "cache",
        "--user-weights",
        weights,
        "--pairs",
        new,
        "--out",
        tmp_path / "y.jsonl",
    )
    assert r.exit_code == 1 and "w.jsonl:1, field 'weights'" in r.output and "summing to 1" in r.output


def test_population_heads_score_with_sigma(trained, tmp_path):
    root, _ = trained
    out = tmp_path / "mv.jsonl"
    r = invoke(
        "score",
        root / "mean-var",
        "--cache",
        root / "cache",
        "--pairs",
        root / "todo.jsonl",
        "--out",
        out,
        "--json",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert "users_file" not in json.loads(r.stdout)
    row = json.loads(out.read_text().splitlines()[0])
    assert row["sigma_left"] > 0.1 - 1e-6 and 0 <= row["p_left"] <= 1
