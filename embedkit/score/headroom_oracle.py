"""The ceiling of personalisation in the headroom report (:mod:`embedkit.score.headroom`): an oracle
per-user fit of a PAL head's new users.

Each new user's weights are fitted on all their *other* items: a user's items fall in two halves at
random, fold f scores the user's test pairs whose two items both lie in half f, with weights fitted on
every pair of that user that touches no item scored in fold f, under a weak prior (isotropic logit
variance ``prior_var`` around the population point) rather than the head's calibrated one. With the
encoder, f, g and the prototypes frozen, this is about the best any per-user weighting can do; it is
reported next to the population point on the same pairs, with the gain's standard error clustered by
user.
"""

from __future__ import annotations

import copy

import numpy as np


def weak_prior_head(head, prior_var: float):
    """A shallow copy of a fitted PAL ``head`` (the same networks) whose new-user prior is weak: N(the
    population point, ``prior_var`` I) on centred logits, strength 1. The head itself is not changed."""
    from embedkit.heads.fewshot import LogitPrior

    zero = np.asarray(head.zero_shot_weights(), dtype=np.float64)
    mu = np.log(np.clip(zero, 1e-6, None))
    weak = copy.copy(head)
    weak.prior_ = LogitPrior(
        mean=mu - mu.mean(), cov=prior_var * np.eye(len(zero)), strength=1.0, zero_shot=zero
    )
    return weak


def oracle_folds(
    users: np.ndarray, a: np.ndarray, b: np.ndarray, scorable: np.ndarray, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The oracle's two folds by items within each user: for f = 0, 1, (rows scored, rows fitted), (n,)
    bool each. Each (user, item) falls in half 0 or 1 at random; fold f scores the ``scorable`` rows whose
    two items both lie in half f, and fits on every row of the same user that touches none of the items
    those scored rows show. ``users``, ``a``, ``b``: each row's user and item ids (n,)."""
    n = len(a)
    _, inv = np.unique(np.asarray(users).astype(str), return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    _, items = np.unique(np.concatenate([a, b]), return_inverse=True)
    m = int(items.max()) + 1 if n else 1
    user_item, where = np.unique(
        np.concatenate([inv * m + items[:n], inv * m + items[n:]]), return_inverse=True
    )
    half = np.random.default_rng(seed).random(len(user_item)) < 0.5  # (user, item) -> half 1 or 0
    ha, hb = half[where[:n]], half[where[n:]]
    out = []
    for side in (False, True):
        score = scorable & (ha == side) & (hb == side)
        shown = np.zeros(len(user_item), dtype=bool)  # the (user, item)s this fold scores
        shown[where[:n][score]] = True
        shown[where[n:][score]] = True
        out.append((score, ~shown[where[:n]] & ~shown[where[n:]]))
    return out


def oracle_fit(head, data, prior_var: float = 10.0, seed: int = 0) -> dict:
    """Each new user's accuracy on their test pairs with weights fitted on all their other items.

    Two folds by items within each user: a user's items are split in two halves at random, and fold f
    scores the user's ``unseen_test`` pairs whose two items both lie in half f, with weights fitted (under
    a weak prior, :func:`weak_prior_head`) on every pair of that user, few-shot or test, that touches no
    item scored in fold f. Test pairs across the halves are not scored. Returns the oracle's accuracy,
    the population point's on the same pairs, the gain with its standard error (clustered by user), and
    how many users and pairs took part."""
    from embedkit.heads.fewshot_calibration import mean_gain_error, paired_gain
    from embedkit.heads.metrics import preference_accuracy, preference_hits

    folds = oracle_folds(data.user, data.a, data.b, data.split == "unseen_test", seed)
    users, inv = np.unique(data.user.astype(str), return_inverse=True)
    inv = inv.reshape(-1)
    test = data.split == "unseen_test"
    fit_rows, fit_users, scored, scored_fold = [], [], [], []
    for f, (score_f, fit_f) in enumerate(folds):
        fit_rows.append(np.nonzero(fit_f)[0])
        fit_users.append(np.char.add(data.user[fit_f].astype(str), f"\x1f{f}"))
        scored.append(np.nonzero(score_f)[0])
        scored_fold.append(np.full(int(score_f.sum()), f))
    rows, scored = np.concatenate(fit_rows), np.concatenate(scored)
    fold = np.concatenate(scored_fold)
    if not len(scored):
        return {"users": 0, "pairs": 0, "note": "no new user has a test pair within one half of their items"}
    fit_data = data.subset(rows)
    fit_data.user = np.concatenate(fit_users).astype(object)
    names, W = weak_prior_head(head, prior_var).fit_new_users(fit_data, method="map", strength=1.0)
    zero = np.asarray(head.zero_shot_weights(), dtype=np.float32)
    index = {u: i for i, u in enumerate(names)}
    keys = np.char.add(data.user[scored].astype(str), np.char.add("\x1f", fold.astype(str)))
    pos = np.array([index.get(k, -1) for k in keys.tolist()])
    weights = np.where(pos[:, None] >= 0, W[np.maximum(pos, 0)], zero[None])  # no other items: zero-shot
    sub = data.subset(scored)
    d_oracle = head.delta_with_weights(sub, weights)
    d_zero = head.delta_with_weights(sub, zero)
    hits, labels = preference_hits(d_oracle, sub.counts, sub.y)
    zero_hits, _ = preference_hits(d_zero, sub.counts, sub.y)
    gain, influence = paired_gain(hits, zero_hits, labels, inv[scored], len(users))
    return {
        "users": len(set(sub.user.tolist())),
        "pairs": len(sub),
        "pairs_not_scored": int(test.sum() - len(sub)),
        "fit_pairs_per_user": float(len(rows) / max(len(names), 1)),
        "users_without_other_items": len(set(keys[pos < 0].tolist())),
        "accuracy": preference_accuracy(d_oracle, sub.counts, sub.y),
        "population": preference_accuracy(d_zero, sub.counts, sub.y),
        "gain": gain,
        "gain_se": mean_gain_error([influence]),
        "prior_var": prior_var,
    }
