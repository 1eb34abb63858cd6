"""Choosing the few-shot prior (embedkit.heads.fewshot_calibration): the strength that gains most without
losing at any shot count, gains with errors clustered by user, the calibration on seen users held out of
training, and the in-sample choice without them."""

import numpy as np
import pytest

from embedkit.heads import create_head
from embedkit.heads.base import RewardHead
from embedkit.heads.fewshot_calibration import (
    STRENGTH_GRID,
    mean_gain_error,
    paired_gain,
    pick_in_sample,
    select_strength,
)
from tests.heads.conftest import planted
from tests.heads.test_fewshot import SMALL


def test_strength_is_the_best_mean_gain_among_those_that_never_lose():
    gains = {
        0.0: {1: -0.02, 20: 0.05},
        1.0: {1: 0.001, 20: 0.03},
        10.0: {1: 0.004, 20: 0.02},
        100.0: {1: 0.0, 20: 0.0},
    }
    assert select_strength(gains) == 1.0  # 0.0 has the best mean but loses 2 points at one shot
    assert select_strength({0.0: {1: -0.01}, 1.0: {1: -0.003}}) is None  # every strength loses: zero-shot
    assert select_strength({1.0: {1: 0.01}, 3.0: {1: 0.01}}) == 3.0  # a tie goes to the stronger prior
    assert select_strength({1.0: {1: 0.0}, 100.0: {1: 0.0}}) is None  # no gain: the zero-shot point itself
    # ranked by the lower bound: gain minus two standard errors of the mean gain
    assert select_strength(gains, {0.0: 0.0, 1.0: 0.02, 10.0: 0.001, 100.0: 0.0}) == 10.0


def test_paired_gain_errors_are_clustered_by_user():
    labels = np.ones(6)
    users = np.array([0, 0, 0, 1, 1, 1])
    zero = np.array([1, 0, 1, 0, 1, 0], float)
    hits = np.array([1, 1, 1, 0, 1, 0], float)  # user 0 gains a pair, user 1 nothing
    gain, infl = paired_gain(hits, zero, labels, users, 2)
    assert gain == pytest.approx(1 / 6) and infl.sum() == pytest.approx(0)
    by_user = np.array([1 - 3 * gain, 0 - 3 * gain]) / 6  # brute force: each user's excess over the mean
    np.testing.assert_allclose(infl, by_user)
    assert mean_gain_error([infl]) == pytest.approx(np.sqrt((by_user**2).sum() * 2))
    assert mean_gain_error([np.zeros(2)]) == 0.0  # identical to zero-shot: no uncertainty


def test_the_prior_is_calibrated_on_seen_users_held_out_of_training(monkeypatch):
    """prior_users of the seen users never reach the first training run; the prior's spread and strength
    come from them as new users, then everyone trains on, and they stay seen users."""
    data, _ = planted("b", users_per_group=30, pairs_per_user=40, unseen_per_group=4)
    calls = []
    real = RewardHead._train_on

    def spy(self, train_d, val_d, desc):
        calls.append((set(train_d.user.astype(str)), set(val_d.user.astype(str))))
        return real(self, train_d, val_d, desc)

    monkeypatch.setattr(RewardHead, "_train_on", spy)
    head = create_head("pal-b", K=2, **SMALL).fit(data, progress=False)
    held = set(head.prior_users_)
    assert len(held) == 9 and held <= set(head.users_)  # 15% of 60 seen users
    (first_train, first_val), (then_train, _) = calls
    assert not held & first_train and not held & first_val and held <= then_train
    sel = head.prior_.selection
    assert sel["users"] == 9 and sel["chosen"] == head.prior_.strength and sel["shots"][0] == 1
    assert set(sel["accuracy"]) >= {"0.0", "100.0"} and "with_prior_users" in head.history_
    np.testing.assert_allclose(head.zero_shot_weights(), head.user_weights().mean(axis=0), atol=1e-6)
    held_test = data.subset((data.split == "test") & np.isin(data.user.astype(str), list(held)))
    assert len(head.predict_delta(held_test)) == len(held_test) > 0  # they are scored as seen users
    assert head.metrics_["seen"]["test"]["pairs"] == int((data.split == "test").sum())
    head.prior_.fallback = True  # as when no strength beats zero-shot: MAP returns the zero-shot point
    _, W = head.fit_new_users(data.in_split("fewshot"))
    np.testing.assert_allclose(W, np.broadcast_to(head.zero_shot_weights(), W.shape), atol=1e-6)
    _, W_mle = head.fit_new_users(data.in_split("fewshot"), method="mle")
    assert not np.allclose(W_mle, W, atol=1e-3)  # the other methods still fit


def test_no_held_out_users_without_an_auto_prior_or_with_few_users():
    data, _ = planted("b", users_per_group=30, pairs_per_user=40, unseen_per_group=4)
    fixed = create_head("pal-b", K=2, fewshot_prior=1.0, **SMALL).fit(data, progress=False)
    assert fixed.prior_users_ == [] and fixed.prior_.strength == 1.0
    off = create_head("pal-b", K=2, prior_users=0, **SMALL).fit(data, progress=False)
    assert off.prior_users_ == [] and str(off.prior_.strength) in off.prior_.selection  # in-sample choice
    assert off.prior_.strength >= 1 and set(off.prior_.selection) == {str(t) for t in STRENGTH_GRID}


def test_the_in_sample_choice_never_makes_the_prior_weaker_than_the_seen_users_spread():
    """Seen users' pairs were fitted by the networks, so in-sample their shots look telling and weak priors
    win; below strength 1 new users' weights went to the simplex's corners after a few pairs."""
    weak_wins = {0.0: (0.700, 0.60), 0.1: (0.710, 0.59), 0.3: (0.705, 0.59), 1.0: (0.690, 0.61),
                 3.0: (0.689, 0.60), 10.0: (0.680, 0.62), 30.0: (0.670, 0.63)}  # fmt: skip
    assert pick_in_sample(weak_wins) == 3.0  # within 0.002 of the best allowed (1.0), the lower loss
    assert pick_in_sample({**weak_wins, 10.0: (0.720, 0.65)}) == 10.0  # a stronger prior may still win
    assert pick_in_sample({0.0: (0.9, 0.1), 1.0: (0.5, 0.7)}) == 1.0
