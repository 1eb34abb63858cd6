"""The headroom report's oracle per-user fit (embedkit.score.headroom_oracle): its folds by items within each
user. The oracle on simulated people, against the population point: tests/score/test_headroom.py."""

import numpy as np

from embedkit.score.headroom_oracle import oracle_folds


def test_oracle_folds_never_fit_on_a_scored_item():
    """Against a brute-force reading of the rule: per fold and user, the scored rows are scorable rows within
    one half of the user's items, and the fitted rows are exactly that user's rows showing none of the
    scored rows' items."""
    rng = np.random.default_rng(3)
    n = 400
    users = rng.choice(["ann", "bo", "cy", "di"], n).astype(object)
    a, b = rng.integers(0, 25, n), rng.integers(25, 50, n)
    scorable = rng.random(n) < 0.5
    folds = oracle_folds(users, a, b, scorable, seed=1)
    assert not (folds[0][0] & folds[1][0]).any()
    for score, fit in folds:
        assert score.any() and fit.any() and not (score & fit).any() and not (score & ~scorable).any()
        for u in set(users):
            mine = users == u
            shown = set(a[score & mine]) | set(b[score & mine])
            expect = mine & ~np.isin(a, list(shown)) & ~np.isin(b, list(shown))
            np.testing.assert_array_equal(fit & mine, expect)
    # every scorable row within one half is scored in one fold: the rest are pairs across the halves
    assert (folds[0][0] | folds[1][0]).sum() < scorable.sum()
