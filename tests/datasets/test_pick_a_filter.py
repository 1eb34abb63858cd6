"""Pick-a-Filter (PAL appendix B) built from small converted Pick-a-Pic files."""

import json
from collections import Counter, defaultdict

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from embedkit.cli.main import cli
from embedkit.datasets.pick_a_filter import (
    PickAFilterConfig,
    apply_filter,
    assign_groups,
    build_pick_a_filter,
)
from embedkit.datasets.pick_a_pic import convert_pickapic
from tests.datasets.test_pick_a_pic import write_pickapic


def test_groups_alternate_ranks_so_totals_are_similar():
    counts = {f"u{i}": 100 - 3 * i for i in range(10)}
    g = assign_groups(counts, seen_users=2)
    cold = [u for u, (grp, _) in g.items() if grp == "cold"]
    warm = [u for u, (grp, _) in g.items() if grp == "warm"]
    assert len(cold) == len(warm) == 5
    assert abs(sum(counts[u] for u in cold) - sum(counts[u] for u in warm)) <= 3 * 5
    assert [u for u, (_, seen) in g.items() if seen] == ["u0", "u1", "u2", "u3"]  # the 2 most active of each


def test_filter_tints_towards_its_colour():
    img = Image.fromarray(np.full((4, 4, 3), 128, np.uint8), "RGB")
    blue = np.asarray(apply_filter(img, "blue", 0.3)).reshape(-1, 3).mean(0)
    red = np.asarray(apply_filter(img, "red", 0.3)).reshape(-1, 3).mean(0)
    assert np.allclose(blue, [90, 90, 166], atol=1) and np.allclose(red, [166, 90, 90], atol=1)


@pytest.fixture
def converted(tmp_path):
    users = {f"user{i}": 14 + 2 * i for i in range(8)}  # 8 users in train and test
    users["only-train"] = 30
    write_pickapic(tmp_path / "train.parquet", users, tie_every=9)
    write_pickapic(tmp_path / "validation.parquet", {"user0": 3, "user5": 2}, seed=2)
    write_pickapic(tmp_path / "test.parquet", {f"user{i}": 4 for i in range(8)} | {"few": 3}, seed=1)
    files = [tmp_path / f"{s}.parquet" for s in ("train", "validation", "test")]
    convert_pickapic(files, tmp_path / "pap")
    return tmp_path / "pap/pairs.jsonl"


def test_pick_a_filter_follows_appendix_b(converted, tmp_path):
    src = [json.loads(x) for x in converted.read_text().splitlines()]
    cfg = PickAFilterConfig(mixture_ratio=0.5, seen_users=2, min_labels=15, seed=3)
    rep = build_pick_a_filter(converted, tmp_path / "paf", cfg)
    rows = [json.loads(x) for x in (tmp_path / "paf/pairs.jsonl").read_text().splitlines()]
    non_tie = Counter(r["user"] for r in src if r["label"] != "tie")
    expect_users = {u for u in non_tie if u.startswith("user") and non_tie[u] > 15}
    assert {r["user"] for r in rows} == expect_users and "only-train" not in {r["user"] for r in rows}
    assert all(r["label"] in ("left", "right") for r in rows)  # ties dropped, labels unchanged
    by_user = defaultdict(list)
    for r in rows:
        by_user[r["user"]].append(r)
    for rs in by_user.values():
        assert len({r["group"] for r in rs}) == 1 and len({r["user_split"] for r in rs}) == 1
        n_f = sum(r["filtered"] != "none" for r in rs)
        assert n_f == round(0.5 * len(rs))  # beta of each user's pairs
        assert (
            abs(sum(r["filtered"] == "winner" for r in rs) - sum(r["filtered"] == "loser" for r in rs)) <= 1
        )
    assert sum(1 for rs in by_user.values() if rs[0]["user_split"] == "seen") == 4
    for r in rows:  # filters agree with the group's taste: winners bluer for cold, redder for warm
        paths = {s: tmp_path / "paf" / r[s] for s in ("left", "right")}
        assert all(
            p.is_file() and p.resolve().is_relative_to((tmp_path / "paf").resolve()) for p in paths.values()
        )
        if r["filtered"] == "none":
            continue
        side = r["label"] if r["filtered"] == "winner" else ("right" if r["label"] == "left" else "left")
        arr = np.asarray(Image.open(paths[side]).convert("RGB"), np.float32).reshape(-1, 3).mean(0)
        colour = ("blue" if r["group"] == "cold" else "red") if r["filtered"] == "winner" else (
            "red" if r["group"] == "cold" else "blue")  # fmt: skip
        assert (arr[2] > arr[0]) if colour == "blue" else (arr[0] > arr[2])
        orig = next(
            s for s in src if (s["ranking_id"], s["source_split"]) == (r["ranking_id"], r["source_split"])
        )
        assert r[side] != orig[side]
    split_map = {("seen", "train"): "train", ("seen", "validation"): "val", ("seen", "test"): "test",
                 ("unseen", "train"): "fewshot", ("unseen", "validation"): "fewshot", ("unseen", "test"): "unseen_test"}  # fmt: skip
    assert all(r["split"] == split_map[(r["user_split"], r["source_split"])] for r in rows)
    t5 = rep["table5"]
    assert sum(v for g in t5.values() for s in g.values() for v in s.values()) == len(rows) == rep["pairs"]
    again = build_pick_a_filter(converted, tmp_path / "paf2", cfg)  # seeded
    assert (tmp_path / "paf2/pairs.jsonl").read_text().count("winner") == (
        tmp_path / "paf/pairs.jsonl"
    ).read_text().count("winner") and again["filtered"] == rep["filtered"]


def test_pick_a_filter_cli_prints_table5_and_refuses_too_few_users(converted, tmp_path):
    r = CliRunner().invoke(
        cli,
        ["build", "pick-a-filter", str(converted), "--out", str(tmp_path / "paf"), "--seen-users", "2",
         "--min-labels", "15", "--mixture-ratio", "1", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "G1 cold (blue), seen" in r.output and "G2 warm (red), total" in r.output
    assert "filtered: loser" in r.output and "none" not in r.output.split("filtered:")[1].splitlines()[0]
    r = CliRunner().invoke(
        cli, ["build", "pick-a-filter", str(converted), "--out", str(tmp_path / "x"), "--min-labels", "500"]
    )
    assert r.exit_code != 0 and "--min-labels" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x/pairs.jsonl").exists()


@pytest.mark.slow
def test_pick_a_filter_output_goes_through_extract_fit_and_eval(converted, tmp_path, tiny_clip_checkpoint):
    """The built folder is self-contained: extract (a real random-init open_clip), fit-head and eval run on it,
    and eval splits the test accuracy by filtered / original pairs and by group."""
    runner = CliRunner()
    paf = tmp_path / "paf"
    r = runner.invoke(
        cli,
        ["build", "pick-a-filter", str(converted), "--out", str(paf), "--seen-users", "3", "--min-labels", "15",
         "--mixture-ratio", "0.75", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    spec = f"open_clip:ViT-S-32:{tiny_clip_checkpoint}"
    r = runner.invoke(cli, ["extract", str(paf / "pairs.jsonl"), "--cache", str(tmp_path / "c"), "--encoder", spec,
                            "--no-progress"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        ["fit-head", "--model", "pal-b", "--K", "2", "--pairs", str(paf / "pairs.jsonl"), "--cache", str(tmp_path / "c"),
         "--encoder", "open_clip", "--out", str(tmp_path / "head"), "--hidden-dim", "32", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["eval", str(tmp_path / "head"), "--pairs", str(paf / "pairs.jsonl"), "--cache",
                            str(tmp_path / "c"), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert set(m["by"]["group"]) == {"cold", "warm"} and "none" in m["by"]["filtered"]
    assert {"winner", "loser"} & set(m["by"]["filtered"])
