"""A PAL head's users (embedkit.heads.pal_users): new users' weights fitted in one batch with the networks
frozen, and the evaluation of new users by shot count."""

import numpy as np

from embedkit.heads import PALBHead
from tests.heads.test_pal import FAST


def test_fit_new_users_is_vectorised_and_only_moves_user_weights(planted_b):
    data, _ = planted_b
    head = PALBHead(K=2, **{**FAST, "epochs": 3}).fit(data, progress=False)
    before = {k: v.clone() for k, v in head.module_.state_dict().items()}
    users, w = head.fit_new_users(data.in_split("fewshot"))
    assert w.shape == (len(users), 2) and np.allclose(w.sum(1), 1) and (w >= 0).all()
    for k, v in head.module_.state_dict().items():
        assert (v == before[k]).all(), k
    assert np.allclose(head.zero_shot_weights(), head.user_weights().mean(0))


def test_each_shot_count_is_evaluated_over_the_users_who_have_that_many(planted_b):
    """A shot count that some (or all) new users cannot reach is never an error: it is evaluated over the
    users who have that many few-shot pairs, with their count and their own zero-shot accuracy."""
    data, _ = planted_b
    head = PALBHead(K=2, **{**FAST, "epochs": 1}).fit(data, progress=False)
    fewshot = data.in_split("fewshot")
    first = fewshot.user[0]
    keep = ~((data.split == "fewshot") & (data.user == first)) | (np.cumsum(data.user == first) <= 1)
    short = data.subset(keep)  # one user keeps a single few-shot pair
    unseen = head.evaluate(short, shots=[1, 5, 50])["unseen"]
    n_users = len(set(short.in_split("fewshot").user.tolist()))
    assert unseen["shots"]["1"]["users"] == n_users and unseen["shots"]["5"]["users"] == n_users - 1
    assert unseen["shots"]["50"] == {"users": 0, "pairs": 0, "note": "no unseen user has 50 few-shot pairs"}
    assert 0 <= unseen["shots"]["5"]["zero_shot"] <= 1 and "50" not in unseen["by_shots"]
