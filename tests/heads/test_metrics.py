"""Metrics against brute force."""

import itertools

import numpy as np
import pytest

from embedkit.heads.metrics import auroc, diverging_pairs, pearson, per_user_accuracy, preference_accuracy


def test_preference_accuracy_against_every_label():
    delta = np.array([1.0, -2.0, 0.0, 0.5])
    counts = np.array([[0, 1, 0, 2, 0], [0, 0, 3, 1, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]], float)
    y = np.array([2 / 3, 1.0, 0.5, 0.8])  # last row: a soft label only
    # brute force: one vote per annotation (ties skipped), delta == 0 scores 1/2
    votes = [(1.0, "B"), (1.0, "A"), (1.0, "A"), (-2.0, "A"), (0.0, "B"), (0.0, "A"), (0.5, "A")]
    score = [(0.5 if d == 0 else float((d > 0) == (side == "A"))) for d, side in votes]
    assert np.isclose(preference_accuracy(delta, counts, y), np.mean(score))


def test_auroc_matches_pair_counting():
    rng = np.random.default_rng(0)
    score = rng.standard_normal(40).round(1)
    pos = rng.random(40) < 0.4
    wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(score[pos], score[~pos])]
    assert np.isclose(auroc(score, pos), np.mean(wins))
    assert np.isnan(auroc(score, np.ones(40, bool)))


def test_diverging_pairs_and_pearson_and_per_user():
    counts = np.array([[1, 0, 0, 1, 0], [0, 0, 2, 1, 0], [0, 1, 0, 0, 3]], float)
    assert diverging_pairs(counts).tolist() == [True, False, True]
    a, b = np.array([1.0, 2, 3, 5]), np.array([2.0, 1, 4, 4])
    assert np.isclose(pearson(a, b), np.corrcoef(a, b)[0, 1])
    delta = np.array([1.0, -1, 1, 1, -1])
    y = np.array([1.0, 1, 0, 1, 0])
    users = np.array(["u", "u", "v", "v", "v"], dtype=object)
    res = per_user_accuracy(delta, y, users)
    assert res["users"] == 2 and np.isclose(res["mean"], (0.5 + 2 / 3) / 2) and res["min"] == 0.5


def test_item_overlap_matches_a_brute_force_count():
    from embedkit.heads.pair_data import item_overlap
    from tests.heads.conftest import make_data

    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.integers(0, 40, n), rng.integers(0, 40, n)
    split = rng.choice(["train", "val", "test", "fewshot", "unseen_test"], n, p=[0.5, 0.1, 0.2, 0.1, 0.1])
    data = make_data(rng.standard_normal((40, 4)), np.zeros(n, int), a, b, np.ones(n), ["u"] * n, split)
    got = item_overlap(data)
    train_items = set(a[split == "train"]) | set(b[split == "train"])
    for s in ("val", "test", "fewshot", "unseen_test"):
        rows = [(x, y) for x, y, sp in zip(a, b, split, strict=True) if sp == s]
        both = np.mean([x in train_items and y in train_items for x, y in rows])
        anyone = np.mean([x in train_items or y in train_items for x, y in rows])
        assert got[s]["pairs"] == len(rows)
        assert got[s]["both_items_in_train"] == pytest.approx(both) and got[s][
            "any_item_in_train"
        ] == pytest.approx(anyone)


def test_partial_spearman_against_a_hand_computation():
    from scipy.stats import spearmanr

    from embedkit.heads.metrics import likert_spread, partial_spearman, spearman

    rng = np.random.default_rng(1)
    g = rng.standard_normal(200)
    a = g + rng.standard_normal(200)
    b = g + rng.standard_normal(200)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    r_ab, r_ag, r_bg = (spearmanr(x, y).statistic for x, y in ((a, b), (a, g), (b, g)))
    expected = (r_ab - r_ag * r_bg) / np.sqrt((1 - r_ag**2) * (1 - r_bg**2))
    assert partial_spearman(a, b, g) == pytest.approx(expected)
    assert abs(partial_spearman(a, b, g)) < abs(spearman(a, b))  # the shared part came out
    counts = np.array([[2, 0, 0, 0, 2], [0, 0, 4, 0, 0]])
    np.testing.assert_allclose(likert_spread(counts), [np.std([1, 1, 5, 5]), 0.0])
