import numpy as np
import pytest

from embedkit.errors import InputError
from embedkit.heads import PALAHead, PALBHead

FAST = dict(hidden_dim=64, dropout=0.0, lr=3e-3, batch_size=128, epochs=40, patience=8, device="cpu")


def test_pal_a_recovers_planted_ideal_points(planted_a):
    data, bayes = planted_a
    head = PALAHead(K=2, **FAST).fit(data, progress=False)
    acc = head.metrics_["seen"]["test"]["accuracy"]
    assert acc >= bayes["test"] - 0.06, (acc, bayes["test"])
    homogeneous = PALAHead(K=1, **FAST).fit(data, progress=False).metrics_["seen"]["test"]["accuracy"]
    assert acc > homogeneous + 0.05
    w = head.user_weights()
    groups = np.array([u.split("-")[1] == "1" for u in head.users_])
    # users of one planted group lean to one prototype, the other group to the other
    assert abs(w[groups, 0].mean() - w[~groups, 0].mean()) > 0.3


def test_pal_b_recovers_planted_groups_and_localises_new_users(planted_b):
    data, bayes = planted_b
    head = PALBHead(K=2, **FAST).fit(data, progress=False)
    m = head.metrics_
    assert m["seen"]["test"]["accuracy"] >= bayes["test"] - 0.06, (m["seen"]["test"], bayes["test"])
    unseen = m["unseen"]
    assert unseen["by_shots"]["20"] >= bayes["unseen_test"] - 0.08
    assert unseen["by_shots"]["20"] > unseen["zero_shot"] + 0.05
    homogeneous = PALBHead(K=1, **FAST).fit(data, progress=False).metrics_["seen"]["test"]["accuracy"]
    assert m["seen"]["test"]["accuracy"] > homogeneous + 0.05


def test_users_with_eval_pairs_but_no_train_pairs_are_refused(planted_b):
    data, _ = planted_b
    bad = data.subset(~((data.user == "seen-0-0") & (data.split == "train")))
    with pytest.raises(InputError, match="no train pairs"):
        PALBHead(K=2, **{**FAST, "epochs": 1}).fit(bad, progress=False)


def test_k_below_one_is_refused():
    with pytest.raises(ValueError, match="K must be >= 1"):
        PALBHead(K=0)
