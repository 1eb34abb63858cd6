"""Tie shares and Krippendorff's alpha against hand-computed and brute-force references."""

import itertools

import numpy as np
import pytest

from embedkit.data.agreement import agreement, krippendorff_alpha_nominal, pair_outcome_counts, tie_share

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C (the example Wikipedia
# reproduces): 4 observers, 12 units, values 1..5, None = missing. Nominal alpha = 0.743.
RELIABILITY_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def value_counts(data, values):
    """(units, values) counts from observers x units data with None for missing."""
    units = list(zip(*data, strict=True))
    return np.array([[sum(v == c for v in unit) for c in values] for unit in units], float)


def brute_force_alpha(data):
    """Nominal alpha straight from its definition: every ordered pair of two different observers' values
    within a unit, weighted 1 / (m_u - 1), for observed disagreement; every ordered pair of two different
    pairable values anywhere for expected disagreement."""
    units = [[v for v in unit if v is not None] for unit in zip(*data, strict=True)]
    units = [u for u in units if len(u) >= 2]
    pooled = [v for u in units for v in u]
    n = len(pooled)
    observed = sum(
        (u[i] != u[j]) / (len(u) - 1) for u in units for i, j in itertools.permutations(range(len(u)), 2)
    )
    expected = sum(pooled[i] != pooled[j] for i, j in itertools.permutations(range(n), 2))
    return 1 - (observed / n) / (expected / (n * (n - 1)))


def test_alpha_matches_krippendorffs_worked_example():
    counts = value_counts(RELIABILITY_DATA, [1, 2, 3, 4, 5])
    alpha = krippendorff_alpha_nominal(counts)
    assert alpha == pytest.approx(0.743, abs=5e-4)
    assert alpha == pytest.approx(brute_force_alpha(RELIABILITY_DATA), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_alpha_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 3, size=(5, 20)).astype(object)
    data[rng.random(data.shape) < 0.3] = None
    data = data.tolist()
    assert krippendorff_alpha_nominal(value_counts(data, [0, 1, 2])) == pytest.approx(
        brute_force_alpha(data), abs=1e-12
    )


def test_alpha_extremes_and_undefined():
    assert krippendorff_alpha_nominal([[3, 0], [0, 2], [2, 0]]) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha_nominal([[1, 0], [0, 1]]))  # no unit with two labels
    assert np.isnan(krippendorff_alpha_nominal([[2, 0], [3, 0]]))  # one value only: no variation
    assert krippendorff_alpha_nominal([[1, 1], [1, 1], [1, 1]]) < 0  # always split: worse than chance
    with pytest.raises(ValueError, match="shape"):
        krippendorff_alpha_nominal([1, 2, 3])


def rows_counts(labels):
    """(n, 5) LABEL_BINS counts of single graded labels (-2..2)."""
    out = np.zeros((len(labels), 5))
    out[np.arange(len(labels)), np.asarray(labels) + 2] = 1
    return out


def test_mirrored_pairs_are_one_unit_and_outcomes_turn_round():
    # users 1-3 label the pair (x, y), user 2 sees it as (y, x); a second pair (x, z) is labelled once
    prompt = ["p", "p", "p", "p"]
    a = ["x", "y", "x", "x"]
    b = ["y", "x", "y", "z"]
    labels = [1, -2, 0, 1]  # x preferred; (y, x) with B>>A: x preferred again; a tie; x over z
    counts, unit = pair_outcome_counts(prompt, a, b, rows_counts(labels))
    assert unit[0] == unit[1] == unit[2] != unit[3]
    np.testing.assert_array_equal(counts[unit[0]], [2, 1, 0])  # first (x) twice, one tie
    np.testing.assert_array_equal(counts[unit[3]], [1, 0, 0])
    # the same pair under another prompt is another unit
    counts2, unit2 = pair_outcome_counts(["p", "q"], ["x", "x"], ["y", "y"], rows_counts([1, 1]))
    assert unit2[0] != unit2[1]


def test_agreement_of_pairs_against_reference():
    # three item pairs labelled by several users: outcomes as value counts
    prompt = ["p"] * 7
    a = ["x", "y", "x", "u", "v", "u", "s"]
    b = ["y", "x", "y", "v", "u", "v", "t"]
    labels = [1, -1, 1, 2, 0, 1, 1]
    got = agreement(prompt, a, b, rows_counts(labels))
    # units: {x,y}: first x3 ; {u,v}: first, tie, first ; {s,t}: one label, left out
    ref = krippendorff_alpha_nominal([[3, 0, 0], [2, 1, 0]])
    assert got["units"] == 2 and got["labels"] == 6
    assert got["alpha_nominal"] == pytest.approx(ref)
    assert got["units_all_agree"] == pytest.approx(0.5)
    assert np.isnan(agreement(["p"], ["x"], ["y"], rows_counts([1]))["alpha_nominal"])
    assert agreement([], [], [], np.zeros((0, 5)))["units"] == 0


def test_tie_share_counts_rows_and_labels():
    counts = rows_counts([0, 1, 0, -1])
    multi = np.array([[0, 1, 2, 0, 0], [0, 0, 3, 0, 0], [0, 0, 0, 0, 0]], float)  # last: a soft-label row
    t = tie_share(np.concatenate([counts, multi]))
    assert t["pairs"] == 6 and t["tie_pairs"] == 3  # two single ties and the all-tie multi row
    assert t["share_of_pairs"] == pytest.approx(0.5)
    assert t["labels"] == 10 and t["tie_labels"] == 7
    assert t["share_of_labels"] == pytest.approx(0.7)
