"""The attribute prior (embedkit.heads.attributes): chosen where an attribute determines the user's
prototype and recovering it, falling back where attributes are noise, saved and loaded, used by eval,
score and the reward API, and leaving fit-head without --users unchanged."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.users import UserAttributes, read_user_attributes
from embedkit.heads import create_head, load_head, load_pair_data
from embedkit.heads.attributes import (
    attribute_weights,
    attribute_weights_from_records,
    fit_new_users_with_attributes,
    ridge_map,
)

# PAL-A with a linear f learns the two prototypes of this small partition world in 40 epochs
FIT = ["--model", "pal-a", "--K", "2", "--arch", "linear", "--lr", "0.01", "--epochs", "40", "--hidden-dim", "16",
       "--fewshot-steps", "30", "--device", "cpu", "--no-progress"]  # fmt: skip
CONFIG = dict(K=2, arch="linear", lr=0.01, epochs=40, hidden_dim=16, fewshot_steps=30, device="cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """56 seen and 56 new users, each on one of two prototypes (PAL's partition setting); a users file where
    ``group`` is the user's prototype (a/b) (and ``age`` is noise), and one where ``group`` is noise: half of
    each prototype's users in each group."""
    from embedkit.datasets.synthetic import SyntheticConfig, build_synthetic

    tmp = tmp_path_factory.mktemp("attrs")
    cfg = SyntheticConfig(
        setting="partition", d=4, k_star=2, users_per_prototype=28, samples_per_user=30, test_per_user=10,
        fewshot_per_unseen_user=5, seed=1,
    )  # fmt: skip
    build_synthetic(tmp / "syn", tmp / "cache", cfg)
    truth = json.loads((tmp / "syn/truth.json").read_text())
    proto = {u: int(np.argmax(v["weights"])) for u, v in truth["users"].items()}
    rng = np.random.default_rng(0)
    with open(tmp / "signal.jsonl", "w") as fh:
        for u in proto:
            fh.write(
                json.dumps({"user": u, "group": "ab"[proto[u]], "age": int(rng.integers(20, 70))}) + "\n"
            )
    with open(
        tmp / "noise.jsonl", "w"
    ) as fh:  # users alternate prototypes: a, a, b, b puts half of each in a
        for i, u in enumerate(proto):
            fh.write(json.dumps({"user": u, "group": "ab"[(i // 2) % 2]}) + "\n")
    pairs, cache = str(tmp / "syn/pairs.jsonl"), str(tmp / "cache")
    common = ["fit-head", *FIT, "--pairs", pairs, "--cache", cache, "--encoder", "synthetic", "--json"]
    r = CliRunner().invoke(cli, [*common, "--out", str(tmp / "with"), "--users", str(tmp / "signal.jsonl")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, [*common, "--out", str(tmp / "without")])
    assert r.exit_code == 0, r.output
    data = load_pair_data([pairs], cache, encoder="synthetic")
    noise = create_head("pal-a", **CONFIG).fit(
        data, progress=False, user_attributes=read_user_attributes(tmp / "noise.jsonl")
    )
    return dict(tmp=tmp, pairs=pairs, cache=cache, proto=proto, data=data, noise=noise,
                with_=load_head(tmp / "with"), without=load_head(tmp / "without"))  # fmt: skip


def test_an_attribute_that_determines_the_prototype_is_chosen_and_recovers_it(world):
    head, data, proto = world["with_"], world["data"], world["proto"]
    prior = head.attribute_prior_
    assert prior is not None and not prior.fallback and prior.ridge is not None
    sel = prior.selection
    assert sel["by_ridge"][str(prior.ridge)]["bound"] > 0 and sel["users"] == len(head.prior_users_) >= 8
    # new users with attributes and no pairs land near their own prototype's seen users
    attrs = read_user_attributes(world["tmp"] / "signal.jsonl")
    new = sorted({u for u in data.in_split("unseen_test").user.astype(str)})
    W = attribute_weights(head, new, attrs)
    seen = head.user_weights()
    for g in (0, 1):
        mine = seen[[i for i, u in enumerate(head.users_) if proto[u] == g]].mean(axis=0)
        other = seen[[i for i, u in enumerate(head.users_) if proto[u] != g]].mean(axis=0)
        w = W[[i for i, u in enumerate(new) if proto[u] == g]]
        assert (np.abs(w - mine).sum(axis=1) < np.abs(w - other).sum(axis=1)).all()
    # ... and beat the population point, zero-shot and as the few-shot prior's mean
    m = head.metrics_["attributes"]
    assert m["prior"]["used"] and m["zero_shot"]["attributes"] > m["zero_shot"]["population"] + 0.05
    assert m["zero_shot"]["gain"] - 2 * m["zero_shot"]["gain_se"] > 0
    for s, res in m["shots"].items():
        assert res["attribute_mean"] >= res["population_mean"] - 0.005, (s, res)
    groups = m["groups"]["group"]
    assert {groups["a"]["leans_to"], groups["b"]["leans_to"]} == {0, 1}
    assert (
        groups["a"]["attributes"] > groups["a"]["population"]
        or groups["b"]["attributes"] > groups["b"]["population"]
    )
    assert set(m["groups"]["age"]) and all("-" in k for k in m["groups"]["age"])  # numeric: quantile bins


def test_noise_attributes_fall_back_to_the_population_point(world):
    head, data = world["noise"], world["data"]
    prior = head.attribute_prior_
    assert prior.fallback and prior.ridge is None and "no ridge strength" in prior.reason
    np.testing.assert_array_equal(head.module_.attribute_coef.numpy(), 0)
    attrs = read_user_attributes(world["tmp"] / "noise.jsonl")
    new = sorted({u for u in data.in_split("unseen_test").user.astype(str)})
    np.testing.assert_allclose(
        attribute_weights(head, new, attrs),
        np.broadcast_to(head.zero_shot_weights(), (len(new), 2)),
        atol=1e-6,
    )
    m = head.metrics_["attributes"]
    assert not m["prior"]["used"] and m["zero_shot"]["attributes"] == m["zero_shot"]["population"]
    fs = data.in_split("fewshot")
    np.testing.assert_allclose(
        fit_new_users_with_attributes(head, fs, attrs)[1], head.fit_new_users(fs)[1], atol=1e-5
    )


def test_fit_head_without_users_is_unchanged(world):
    """Attributes never touch training: the same seed gives the same networks, weights and metrics."""
    a, b = world["with_"], world["without"]
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert set(sa) - set(sb) == {"attribute_coef"} and b.attribute_prior_ is None
    for k in sb:
        assert np.array_equal(sa[k].numpy(), sb[k].numpy()), k
    assert {k: v for k, v in a.metrics_.items() if k != "attributes"} == b.metrics_
    assert "attribute_prior" not in json.loads((world["tmp"] / "without/config.json").read_text())


def test_the_prior_round_trips_through_save_and_load(world, tmp_path):
    head = world["with_"]  # loaded from fit-head's folder
    cfg = json.loads((world["tmp"] / "with/config.json").read_text())
    assert cfg["attribute_prior"]["features"] == head.attribute_prior_.encoder.feature_names()
    head.save(tmp_path / "again")
    back = load_head(tmp_path / "again")
    attrs = read_user_attributes(world["tmp"] / "signal.jsonl")
    users = list(world["proto"])
    np.testing.assert_array_equal(
        attribute_weights(back, users, attrs), attribute_weights(head, users, attrs)
    )
    fs = world["data"].in_split("fewshot")
    np.testing.assert_allclose(
        fit_new_users_with_attributes(back, fs, attrs)[1],
        fit_new_users_with_attributes(head, fs, attrs)[1],
        atol=1e-6,
    )
    cfg["attribute_prior"]["encoder"]["columns"][0]["kind"] = "colour"
    (tmp_path / "again/config.json").write_text(json.dumps(cfg))
    with pytest.raises(Exception, match="attribute_prior"):
        load_head(tmp_path / "again")


def test_eval_and_score_with_users(world, tmp_path):
    tmp, head_dir = world["tmp"], str(world["tmp"] / "with")
    common = ["--pairs", world["pairs"], "--cache", world["cache"]]
    r = CliRunner().invoke(cli, ["eval", head_dir, *common, "--users", str(tmp / "signal.jsonl"), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)["attributes"]
    assert m["zero_shot"]["attributes"] > m["zero_shot"]["population"] and set(m["groups"]) == {
        "group",
        "age",
    }
    r = CliRunner().invoke(cli, ["eval", head_dir, *common, "--users", str(tmp / "signal.jsonl")])
    assert (
        r.exit_code == 0
        and "attributes.zero_shot.attributes" in r.output
        and "attributes.groups.group.a" in r.output
    )
    # a hypothetical user given only attributes, scored on a new user's test pairs
    users = tmp_path / "hypothetical.jsonl"
    users.write_text(json.dumps({"user": "someone-b", "group": "b", "age": 40}) + "\n")
    test = [json.loads(line) for line in open(world["pairs"]) if '"unseen_test"' in line]
    b_user = next(u for u, g in world["proto"].items() if g == 1 and u.startswith("unseen"))
    rows = [{**r, "user": "someone-b"} for r in test if r["user"] == b_user]
    todo = tmp_path / "todo.jsonl"
    todo.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = CliRunner().invoke(cli, ["score", head_dir, "--cache", world["cache"], "--pairs", str(todo), "--users", str(users), "--out", str(tmp_path / "s.jsonl"), "--json", "--no-progress"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["users_by_source"] == {"attributes": 1}
    uw = [json.loads(line) for line in open(tmp_path / "s.users.jsonl")]
    expected = attribute_weights(
        world["with_"], ["x"], UserAttributes.from_records({"x": {"group": "b", "age": 40}})
    )
    np.testing.assert_allclose(uw[0]["weights"], expected[0], atol=1e-5)
    assert "attributes" in out["accuracy_by_shots"]
    r = CliRunner().invoke(cli, ["score", head_dir, "--cache", world["cache"], "--pairs", str(todo), "--users", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "t.jsonl")])  # fmt: skip
    assert r.exit_code != 0 and "nope.jsonl" in r.output


def test_users_is_refused_where_it_has_no_meaning(world, tmp_path):
    common = ["--pairs", world["pairs"], "--cache", world["cache"], "--encoder", "synthetic", "--users", str(world["tmp"] / "signal.jsonl")]  # fmt: skip
    r = CliRunner().invoke(cli, ["fit-head", "--model", "bt", *common, "--out", str(tmp_path / "bt")])
    assert r.exit_code == 2 and "--users is a prior over per-user weights" in r.output
    r = CliRunner().invoke(
        cli, ["fit-head", "--model", "pal-a", "--K", "auto", *common, "--out", str(tmp_path / "k")]
    )
    assert r.exit_code == 2 and "--users takes a fixed --K" in r.output
    with pytest.raises(Exception, match="has none"):
        create_head("bt", device="cpu").fit(
            world["data"], user_attributes=read_user_attributes(world["tmp"] / "signal.jsonl")
        )


def test_reward_api_and_trl_function_take_attributes(world):
    from embedkit.score import load_reward_model

    model = load_reward_model(world["tmp"] / "with", cache=world["cache"], allow_encode=False)
    head = model.head
    rows = [json.loads(line) for line in open(world["pairs"])][:3]
    prompts = [r["prompt"] for r in rows]
    responses = [r["left"] for r in rows]
    who = {"group": "a", "age": 30}
    W = attribute_weights_from_records(head, [who])
    r_attr = model.reward(prompts, responses, user_attributes=who)
    np.testing.assert_allclose(r_attr, model.reward(prompts, responses, user=W[0]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(
        r_attr, model.reward(prompts, responses, user_attributes={"group": "b", "age": 30})
    )
    per_row = model.reward(prompts, responses, user_attributes=[who, None, {"group": "b"}])
    assert per_row[0] == pytest.approx(r_attr[0], abs=1e-6)
    assert per_row[1] == pytest.approx(
        model.reward(prompts[1], responses[1])[0], abs=1e-6
    )  # None: population
    fn = model.reward_function(attribute_columns=("group", "age"))
    got = fn(prompts, responses, group=["a", "a", "a"], age=[30, 30, 30])
    np.testing.assert_allclose(got, r_attr, rtol=1e-5, atol=1e-6)
    got = model.reward_function()(prompts, responses, user_attributes=[who] * 3)
    np.testing.assert_allclose(got, r_attr, rtol=1e-5, atol=1e-6)
    shots = [{"prompt": r["prompt"], "chosen": r["left"], "rejected": r["right"]} for r in rows]
    assert np.isfinite(model.reward(prompts, responses, user=shots, user_attributes=who)).all()
    with pytest.raises(ValueError, match="user_attributes"):
        model.reward(prompts, responses, user_attributes=["not a dict"] * 3)


def test_ridge_map_is_the_closed_form():
    rng = np.random.default_rng(0)
    X, T = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    B = ridge_map(X, T, 2.0)
    grad = X.T @ (X @ B - T) + 2.0 * B  # the gradient of the ridge objective is zero at its minimum
    np.testing.assert_allclose(grad, 0, atol=1e-10)
    np.testing.assert_allclose(
        ridge_map(X, T, 1e12), 0, atol=1e-9
    )  # infinite shrinkage: the population point


def test_fit_head_from_python_reads_the_users_file(world, tmp_path):
    """FitConfig(attributes_file=...) is read by fit_head, as --users is by fit-head: the same prior."""
    from embedkit.heads.fit import fit_head
    from embedkit.heads.run_config import FitConfig

    run = FitConfig(
        model="pal-a", pairs=world["pairs"], cache_dir=world["cache"], out_dir=str(tmp_path / "py"),
        encoder="synthetic", attributes_file=str(world["tmp"] / "signal.jsonl"), progress=False,
    )  # fmt: skip
    head = fit_head(run, CONFIG).head
    cli_prior = world["with_"].attribute_prior_
    assert head.attribute_prior_ is not None and cli_prior is not None
    assert head.attribute_prior_.to_dict() == cli_prior.to_dict()
