"""The papers' qualitative results in miniature (seconds each), so a regression breaks the build: the
full reproductions are benchmarks/repro_*.py and benchmarks/choose_k.py. Beyond the Binary's result (the
margin term raises correlation with p*) has no test here: on the semi-synthetic data it does not hold
reliably (benchmarks/results/repro_beyond_binary.md), and a test would only pin a lucky seed."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.datasets.annotators import AnnotatorsConfig, build_annotators
from embedkit.datasets.synthetic import SyntheticConfig, build_synthetic, fingerprint
from embedkit.heads import create_head, load_pair_data


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    out = {}
    for k_star in (3, 1):
        cfg = SyntheticConfig(
            d=8,
            k_star=k_star,
            setting="partition",
            users_per_prototype=12,
            samples_per_user=60,
            test_per_user=30,
            fewshot_per_unseen_user=20,
            seed=k_star,
        )
        build_synthetic(root / f"k{k_star}", root / "cache", cfg)
        out[k_star] = (root / f"k{k_star}/pairs.jsonl", root / "cache", fingerprint(cfg))
    return out


def test_pal_a_with_k_star_prototypes_beats_one_on_heterogeneous_data(synthetic):
    """PAL Figure 2(b): K > 1 gains over the homogeneous K = 1 (the paper reports ~7 points)."""
    pairs, cache, fp = synthetic[3]
    data = load_pair_data([pairs], cache, encoder=fp)
    acc = {}
    for K in (1, 3):  # the paper's setting: one linear map without bias, hinge loss
        head = create_head(
            "pal-a", K=K, arch="linear", loss="hinge", lr=5e-3, user_lr=5e-2, device="cpu"
        ).fit(data, progress=False)
        acc[K] = head.metrics_["seen"]["test"]["accuracy"]
    assert acc[3] >= acc[1] + 0.05, acc


def test_k_auto_finds_k_star_and_says_one_is_enough_on_homogeneous_data(synthetic, tmp_path):
    """With the paper's linear f K* is identifiable (an MLP f can fit 3 groups with 2 prototypes)."""
    for k_star in (3, 1):
        pairs, cache, fp = synthetic[k_star]
        r = CliRunner().invoke(
            cli,
            ["fit-head", "--model", "pal-a", "--K", "auto", "--K-max", "4", "--pairs", str(pairs), "--cache", str(cache),
             "--encoder", fp.namespace, "--out", str(tmp_path / f"h{k_star}"), "--no-progress", "--arch", "linear",
             "--loss", "hinge", "--lr", "5e-3", "--user-lr", "5e-2"] + (["--json"] if k_star == 1 else []),
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        sel = json.loads((tmp_path / f"h{k_star}/k_selection.json").read_text())
        assert sel["chosen"] == k_star, sel
        assert [row["K"] for row in sel["rows"]] == [1, 2, 3, 4]
        assert all(row["val_loss"] > 0 for row in sel["rows"])
        assert json.loads((tmp_path / f"h{k_star}/config.json").read_text())["config"]["K"] == k_star
        assert (tmp_path / f"h{k_star}/k_selection.png").exists()
        if k_star == 1:  # --json: one object on stdout, the selection included
            summary = json.loads(r.stdout)
            assert summary["config"]["K"] == 1 and summary["k_selection"]["chosen"] == 1
            assert "K = 1 is enough" in summary["k_selection"]["message"]
        else:
            assert f"K = {k_star}: the smallest K" in r.output and "<- chosen" in r.output
    r = CliRunner().invoke(
        cli,
        [
            "fit-head",
            "--model",
            "bt",
            "--K",
            "auto",
            "--pairs",
            str(pairs),
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert r.exit_code == 2 and "pal-a / pal-b" in r.output


def test_annotators_diverge_on_divisive_topics(tmp_path):
    s = build_annotators(tmp_path / "ann", AnnotatorsConfig(statements_per_topic=100, agreed_ties=1, seed=0))
    rows = [json.loads(x) for x in (tmp_path / "ann/pairs.jsonl").read_text().splitlines()]
    div = lambda r: any(x > 0 for x in r["labels"]) and any(x < 0 for x in r["labels"])  # noqa: E731
    share = {k: np.mean([div(r) for r in rows if r["topic_kind"] == k]) for k in ("divisive", "consensual")}
    assert share["divisive"] > 0.5 > 0.2 > share["consensual"], share
    ties = [r for r in rows if r["topic_kind"] == "agreed_tie"]
    assert len(ties) == 100 and np.mean([abs(np.mean(r["labels"])) for r in ties]) < 0.5  # about equal
    assert 0 < s["diverging_share"] < 1 and all(0 <= r["margin"] <= 1 and 0 <= r["p_star"] <= 1 for r in rows)


@pytest.fixture(scope="module")
def annotated(tmp_path_factory, minilm_encoder):
    from embedkit.data.items import collect_texts
    from embedkit.extract import extract

    root = tmp_path_factory.mktemp("ann")
    # 600 statements per topic: at 300 the margin passed on earlier installs and failed on a fresh one
    # (+0.03 at data seed 1; -0.11 with head seed 1 on data seed 3); at 600 each of data seeds 1-3 x
    # head seeds 0-1 clears it (+0.09 to +0.16)
    build_annotators(root / "four", AnnotatorsConfig(statements_per_topic=600, agreed_ties=1, seed=1))
    extract(
        collect_texts([root / "four/texts.jsonl"]),
        root / "cache",
        minilm_encoder,
        progress=False,
    )
    return root


@pytest.mark.slow
def test_mean_variance_flags_diverging_pairs_better_than_bradley_terry(annotated):
    """Diverging Preferences Table 3: distributional heads detect divisive pairs, single-value ones do not."""
    data = load_pair_data([annotated / "four/pairs.jsonl"], annotated / "cache", encoder="minilm")
    kl = create_head("mean-var", loss="kl", device="cpu").fit(data, progress=False).evaluate(data)["test"]
    bt = create_head("bt", labels="aggregate", device="cpu").fit(data, progress=False).evaluate(data)["test"]
    assert kl["diverging_auroc"] > bt["diverging_auroc"] + 0.05, (kl, bt)
