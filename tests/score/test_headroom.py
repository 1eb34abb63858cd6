"""The headroom report: the oracle per-user fit against the population point on simulated people, and
``embedkit headroom`` end to end on a small file (fake encoder), with its bad inputs."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.data.splits import SplitConfig, draw_splits
from embedkit.heads import create_head
from embedkit.score.headroom import HeadroomConfig, conclusion_of, drop_ties, split_headroom
from embedkit.score.headroom_oracle import weak_prior_head
from tests.heads.conftest import make_data

FAST = dict(
    K=2, hidden_dim=16, epochs=20, batch_size=128, lr=1e-2, device="cpu", arch="linear", fewshot_prior=1.0,
    prior_users=0.0,
)  # fmt: skip


def population(same: bool, n_users=24, per_user=40, n_items=80, dim=16, seed=0):
    """Simulated annotators who prefer items along one direction v (``same``) or, for every second user,
    along -v (two opposed groups: the population point is near chance, each user's own weights are not)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_items + 1, dim)).astype(np.float32)  # row 0: the one prompt
    v = rng.standard_normal(dim)
    v /= np.linalg.norm(v)
    a, b, y, users = [], [], [], []
    for u in range(n_users):
        sign = 1 if same or u % 2 == 0 else -1
        for _ in range(per_user):
            i, k = rng.choice(n_items, 2, replace=False) + 1
            p = 1 / (1 + np.exp(-4 * sign * (X[i] - X[k]) @ v))
            a.append(i), b.append(k), y.append(float(rng.random() < p)), users.append(f"u{u:02d}")
    users = np.array(users)
    split = draw_splits(users, SplitConfig(unseen_user_frac=0.3, seed=seed))
    return make_data(X, np.zeros(len(users), int), a, b, y, users, split)


@pytest.fixture(scope="module")
def sections():
    out = {}
    for same in (False, True):
        data = population(same)
        head = create_head("pal-b", **FAST).fit(data, progress=False)
        out[same] = (split_headroom(head, data, [1, 5, 20]), head)
    return out


def test_oracle_beats_the_population_point_when_people_differ(sections):
    s, _ = sections[False]
    o = s["oracle"]
    assert o["pairs"] > 50 and o["users"] == s["new_users"]
    assert o["accuracy"] >= o["population"] + 0.2  # opposed groups: the population point is near chance
    assert o["gain"] == pytest.approx(o["accuracy"] - o["population"])
    assert o["gain"] > 3 * o["gain_se"]
    assert s["few_shot"]["20"]["gain"] > 0.1  # and few-shot weights recover much of it
    assert "personalisation can add at most +" in conclusion_of(s)


def test_oracle_equals_the_population_point_when_people_are_the_same(sections):
    s, _ = sections[True]
    o = s["oracle"]
    assert o["population"] > 0.75  # the population point is right for everyone
    assert abs(o["gain"]) <= 0.03


def test_oracle_fits_only_on_other_items_and_leaves_the_head_alone(sections):
    s, head = sections[False]
    prior, zero = head.prior_, head.zero_shot_weights().copy()
    weak = weak_prior_head(head, 10.0)
    assert weak.prior_ is not prior and head.prior_ is prior
    np.testing.assert_allclose(weak.prior_.cov, 10 * np.eye(2))
    np.testing.assert_allclose(head.zero_shot_weights(), zero)
    np.testing.assert_allclose(weak.zero_shot_weights(), zero, atol=1e-6)
    o = s["oracle"]
    assert o["pairs"] + o["pairs_not_scored"] == s["test_pairs"]


def test_ties_are_dropped_and_a_user_left_without_training_pairs_is_new():
    X = np.zeros((4, 16))
    counts = np.zeros((6, 5))
    counts[[0, 1], 2] = 1  # ann's only train pair is a tie; bo's first train pair too
    counts[[2, 3, 4, 5], 3] = 1
    data = make_data(
        X, [0] * 6, [1] * 6, [2] * 6, [0.5, 0.5, 1, 1, 1, 1],
        ["ann", "bo", "bo", "ann", "ann", "bo"], ["train", "train", "train", "val", "test", "test"], counts,
    )  # fmt: skip
    out = drop_ties(data)
    assert len(out) == 4 and not (out.counts[:, 2] > 0).any()
    assert dict(zip(out.user, out.split, strict=True)) == {"ann": "unseen_test", "bo": "test"}
    assert list(out.split) == ["train", "fewshot", "unseen_test", "test"]


def test_conclusion_says_whether_the_ceiling_is_noise():
    def section(gain, se):
        return {
            "oracle": {"gain": gain, "gain_se": se},
            "few_shot": {"20": {"gain": 0.01}},
            "attribute_prior": {},
        }

    assert (
        conclusion_of(section(0.05, 0.01))
        == "personalisation can add at most +5.0 points here (± 1.0); 20 shots add +1.0"
    )
    assert "within noise" in conclusion_of(section(0.01, 0.01))
    assert "below the population point" in conclusion_of(section(-0.044, 0.018))


def test_config_checks_its_values():
    for bad in (
        dict(shots=()),
        dict(shots=(0, 5)),
        dict(head_options=("epochs",)),
        dict(unseen_user_frac=1.0),
    ):
        with pytest.raises(ValueError):
            HeadroomConfig(**bad).validate()
    assert list(HeadroomConfig(splits=("item-disjoint",)).split_configs()) == ["item-disjoint"]
    assert HeadroomConfig(head_options=("epochs=3", "arch=linear")).head_config() == {
        "K": 3, "seed": 0, "epochs": 3, "arch": "linear"
    }  # fmt: skip


# --- the command --------------------------------------------------------------------------------------
def pair_rows(n_users=12, per_user=30, seed=0):
    """Users of two opposed tastes over 16 items, with ties (equal-looking items) and the same item pairs
    labelled by several users."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for _ in range(per_user):
            i, k = sorted(rng.choice(16, 2, replace=False).tolist())
            pref = (i < k) == (u % 2 == 0)
            label = "tie" if rng.random() < 0.15 else ("left" if pref else "right")
            rows.append(
                {
                    "user": f"u{u:02d}",
                    "prompt": "which?",
                    "left": f"item {i}",
                    "right": f"item {k}",
                    "label": label,
                }
            )
    return rows


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args])


@pytest.fixture
def pairs_file(tmp_path, run):
    rows = pair_rows()
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run("extract", path, "--cache", tmp_path / "cache", "--encoder", "fake", "--no-progress")
    assert r.exit_code == 0, r.output
    return path, tmp_path / "cache", rows


HEAD = ("--K", 2, "--head-options", "hidden_dim=8,epochs=3,arch=linear,fewshot_prior=1.0,prior_users=0.0")


def test_headroom_command_writes_the_report(run, pairs_file, tmp_path):
    path, cache, rows = pairs_file
    out = tmp_path / "report"
    args = ("headroom", "--pairs", path, "--cache", cache, "--encoder", "fake", "--out", out, *HEAD)
    r = run(*args, "--no-progress", "--shots", "1,5")
    assert r.exit_code == 0, r.output
    assert "per-user split: fitting pal-b K=2" in r.output and "item-disjoint split:" in r.output
    assert "personalisation can add at most" in r.output
    report = json.loads((out / "headroom.json").read_text())
    ties = sum(row["label"] == "tie" for row in rows)
    assert report["ties"]["pairs"] == len(rows) and report["ties"]["tie_pairs"] == ties
    assert report["ties"]["share_of_pairs"] == pytest.approx(ties / len(rows))
    assert report["agreement"]["units"] > 0 and -1 <= report["agreement"]["alpha_nominal"] <= 1
    assert set(report["splits"]) == {"per-user", "item-disjoint"}
    for s in report["splits"].values():
        assert s["attribute_prior"] == {"status": "no users file"}
        assert "unseen_test" in s["item_overlap"]
        assert set(s["few_shot"]) | set(s["few_shot_missing"]) == {"1", "5"}
    item = report["splits"]["item-disjoint"]["item_overlap"]["unseen_test"]
    assert item["any_item_in_train"] == 0  # item-disjoint: new users' test items are in no training pair
    md = (out / "headroom.md").read_text()
    assert report["conclusion"] in md and "oracle per-user fit" in md and "Krippendorff" in md
    assert (out / "headroom.png").read_bytes()[:4] == b"\x89PNG"
    again = run(*args)  # an existing report is kept unless --overwrite
    assert again.exit_code == 1 and "--overwrite" in again.output


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--model", "bt"), "per-user weights"),
        (("--shots", "0,5"), "--shots"),
        (("--shots", "a,b"), "comma-separated integers"),
        (("--head-options", "epochs"), "KEY=VALUE"),
        (("--head-options", "no_such_option=1"), "no_such_option"),
        (("--splits", "per-user,by-magic"), "--splits"),
    ],
)
def test_headroom_command_bad_options(run, pairs_file, tmp_path, extra, message):
    path, cache, _ = pairs_file
    r = run(
        "headroom", "--pairs", path, "--cache", cache, "--encoder", "fake", "--out", tmp_path / "o", *extra
    )
    assert r.exit_code != 0 and message in r.output, r.output


def test_headroom_command_needs_users(run, tmp_path):
    rows = [{k: v for k, v in row.items() if k != "user"} for row in pair_rows(per_user=5)]
    path = tmp_path / "nouser.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert (
        run("extract", path, "--cache", tmp_path / "c", "--encoder", "fake", "--no-progress").exit_code == 0
    )
    r = run(
        "headroom",
        "--pairs",
        path,
        "--cache",
        tmp_path / "c",
        "--encoder",
        "fake",
        "--out",
        tmp_path / "o",
        *HEAD,
    )
    assert r.exit_code == 1 and "user" in r.output and "nouser.jsonl" in r.output, r.output
    missing = run(
        "headroom", "--pairs", tmp_path / "gone.jsonl", "--cache", tmp_path / "c", "--out", tmp_path / "o"
    )
    assert missing.exit_code == 1 and "gone.jsonl" in missing.output


def test_headroom_command_fills_the_attribute_row_from_a_users_file(run, pairs_file, tmp_path):
    """--users: the head is fitted with the attributes and new users are scored at their attribute point
    against the population point on the same pairs (used or fallen back, the row says which)."""
    path, cache, rows = pairs_file
    users = tmp_path / "users.jsonl"
    names = sorted({r["user"] for r in rows})
    users.write_text(
        "".join(
            json.dumps({"user": u, "taste": "even" if int(u[1:]) % 2 == 0 else "odd"}) + "\n" for u in names
        )
    )
    out = tmp_path / "report"
    r = run(
        "headroom", "--pairs", path, "--cache", cache, "--encoder", "fake", "--out", out, *HEAD,
        "--splits", "per-user", "--users", users, "--no-progress",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    slot = json.loads((out / "headroom.json").read_text())["splits"]["per-user"]["attribute_prior"]
    assert slot["status"] in ("used", "fell back to the population point"), slot
    assert slot["users"] > 0 and slot["pairs"] > 0 and 0 <= slot["accuracy"] <= 1
    if slot["status"] != "used":  # a fallen-back prior is the population point itself
        assert slot["accuracy"] == slot["population"] and slot["gain"] == 0
    assert "attribute prior" in (out / "headroom.md").read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user": "u00", "taste": "even"}\n{"user": "u00", "taste": "odd"}\n')
    r = run(
        "headroom",
        "--pairs",
        path,
        "--cache",
        cache,
        "--encoder",
        "fake",
        "--out",
        tmp_path / "r2",
        *HEAD,
        "--users",
        bad,
    )
    assert r.exit_code == 1 and "bad.jsonl" in r.output and not (tmp_path / "r2").exists()
