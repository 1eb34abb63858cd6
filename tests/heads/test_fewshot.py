"""New users of PAL heads: the sufficient statistics, the MAP prior, kNN cold start, rewards per response,
and the FAISS user / response lookups, each against a direct or brute-force computation."""

import numpy as np
import pytest
import torch

from embedkit.data.splits import rank_within_group
from embedkit.heads import create_head
from embedkit.heads.fewshot import LogitPrior
from embedkit.heads.metrics import preference_accuracy
from tests.heads.conftest import planted

SMALL = dict(hidden_dim=32, epochs=15, device="cpu")


@pytest.fixture(scope="module")
def heads():
    out = {}
    for name, kind in (("pal-a", "a"), ("pal-b", "b")):
        data, _ = planted(kind, users_per_group=8, pairs_per_user=60, unseen_per_group=4)
        out[name] = (create_head(name, K=2, **SMALL).fit(data, progress=False), data)
    return out


@pytest.mark.parametrize("name", ["pal-a", "pal-b"])
def test_stats_give_the_same_delta_as_the_model(heads, name):
    head, data = heads[name]
    seen = data.in_split("test")
    t = head._tensors(seen, head.device)
    W = torch.as_tensor(head.user_weights())
    with torch.no_grad():
        st = head.module_.stats(t["X"], t["prompt"], t["a"], t["b"])
        fast = head.module_.delta_stats(st, W, t["user"])
    np.testing.assert_allclose(fast.numpy(), head.predict_delta(seen), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["pal-a", "pal-b"])
def test_response_rewards_difference_is_the_pair_delta(heads, name):
    head, data = heads[name]
    seen = data.in_split("test")
    uidx = head._user_index(seen.user)
    W = head.user_weights()
    ra = head.response_rewards(seen.X, seen.prompt, seen.a, W, uidx)["reward"]
    rb = head.response_rewards(seen.X, seen.prompt, seen.b, W, uidx)["reward"]
    np.testing.assert_allclose(ra - rb, head.predict_delta(seen), rtol=1e-4, atol=1e-4)


def test_prior_is_centred_at_zero_shot_and_strength_pins_it(heads):
    head, data = heads["pal-b"]
    prior = head.prior_
    zs = head.zero_shot_weights()
    z = torch.log(torch.as_tensor(zs))[None]
    assert float(prior.penalty(z)[0]) == pytest.approx(0, abs=1e-6)
    assert np.allclose(prior.mean.sum(), 0) and np.all(np.linalg.eigvalsh(prior.cov) > 0)
    assert prior.selection and str(prior.strength) in prior.selection
    fs = data.in_split("fewshot")
    _, w_strong = head.fit_new_users(fs, method="map", strength=1e6)
    np.testing.assert_allclose(w_strong, np.broadcast_to(zs, w_strong.shape), atol=2e-3)
    _, w_mle = head.fit_new_users(fs, method="mle")
    assert np.abs(w_mle - zs).max() > 0.05  # the data moves an unregularised fit
    back = LogitPrior.from_dict(prior.to_dict())
    assert np.allclose(back.cov, prior.cov) and back.strength == prior.strength


def test_knn_weights_match_a_brute_force_likelihood(heads):
    head, data = heads["pal-b"]
    fs = data.in_split("fewshot")
    fs = fs.subset(rank_within_group(fs.user.astype(str)) < 3)
    names, W = head.fit_new_users(fs, method="knn", k=3)
    seen = head.user_weights()
    for i, u in enumerate(names[:3]):
        rows = fs.subset(fs.user == u)
        ll = []
        for w in seen:  # each seen user's weights on this user's pairs
            d = head.delta_with_weights(rows, w)
            ll.append(float(np.sum(-np.logaddexp(0, -np.where(rows.y > 0.5, d, -d)))))
        top = np.argsort(-np.array(ll), kind="stable")[:3]
        np.testing.assert_allclose(W[i], seen[top].mean(axis=0), atol=1e-4)


def test_one_prototype_has_nothing_to_fit():
    data, _ = planted("b", users_per_group=3, pairs_per_user=30, unseen_per_group=2)
    head = create_head("pal-b", K=1, hidden_dim=16, epochs=2, device="cpu").fit(data, progress=False)
    names, W = head.fit_new_users(data.in_split("fewshot"))
    assert W.shape == (len(names), 1) and np.all(W == 1) and head.prior_ is None


def test_map_fewshot_never_loses_to_zero_shot_on_noisy_annotators(tmp_path):
    """Noisy users inside the prototypes' hull: the plain fit overfits a few pairs, MAP rises from zero-shot."""
    from embedkit.datasets.synthetic import SyntheticConfig, build_synthetic
    from embedkit.heads import load_pair_data

    cfg = SyntheticConfig(d=8, k_star=3, users_per_prototype=20, samples_per_user=60, flip=(0.2, 0.3), seed=1)
    build_synthetic(tmp_path / "syn", tmp_path / "cache", cfg)
    data = load_pair_data([tmp_path / "syn/pairs.jsonl"], tmp_path / "cache", encoder="synthetic")
    head = create_head("pal-a", K=3, hidden_dim=32, device="cpu").fit(data, progress=False)
    fs, test = data.in_split("fewshot"), data.in_split("unseen_test")
    rank = rank_within_group(fs.user.astype(str))
    zero = preference_accuracy(head.delta_with_weights(test, head.zero_shot_weights()), test.counts, test.y)
    accs = {}
    for method in ("map", "mle"):
        accs[method] = []
        for shots in (1, 2, 5, 10):
            names, W = head.fit_new_users(fs.subset(rank < shots), method=method)
            index = {u: i for i, u in enumerate(names)}
            d = head.delta_with_weights(test, W[[index[u] for u in test.user.astype(str)]])
            accs[method].append(preference_accuracy(d, test.counts, test.y))
    assert min(accs["map"]) >= zero - 0.005, (zero, accs)
    assert accs["map"][-1] >= accs["map"][0] - 0.005, accs  # more shots never make it worse
    assert np.mean(accs["map"]) >= np.mean(accs["mle"]) - 0.005, accs


@pytest.mark.parametrize("name", ["pal-a", "pal-b"])
def test_user_lookup_and_top_k_responses_match_brute_force(heads, name):
    pytest.importorskip("faiss")
    from embedkit.index.users import ResponseIndex, UserLookup

    head, data = heads[name]
    W = np.random.default_rng(0).dirichlet([1, 1], 12).astype(np.float32)
    lk = UserLookup(head)
    nearest, _ = lk.nearest_prototype(W)
    with torch.no_grad():
        pts = head.module_.user_points(torch.as_tensor(W)).numpy()
        protos = head.module_.user_points(torch.eye(2)).numpy()
        seen_pts = head.module_.user_points(torch.as_tensor(head.user_weights())).numpy()
    assert np.array_equal(nearest, ((pts[:, None] - protos[None]) ** 2).sum(-1).argmin(1))
    sim, _ = lk.similar_users(W, k=2)
    ref = np.argsort(((pts[:, None] - seen_pts[None]) ** 2).sum(-1), axis=1, kind="stable")[:, :2]
    assert (sim == np.asarray(head.users_, dtype=object)[ref]).all()
    X = data.X
    ri = ResponseIndex(head, X)
    prompts = np.full(len(W), int(data.prompt[0]))
    rewards, ids = ri.top_k(W, k=5, prompt_X=X[prompts])
    # brute force: every candidate's reward for every user
    users = np.repeat(np.arange(len(W)), len(X))
    cand = np.tile(np.arange(len(X)), len(W))
    Xall = np.vstack([X, X[prompts]])
    r = head.response_rewards(Xall, len(X) + users, cand, W, users)["reward"].reshape(len(W), len(X))
    ref_ids = np.argsort(-r, axis=1, kind="stable")[:, :5]
    np.testing.assert_allclose(rewards, np.take_along_axis(r, ref_ids, 1), rtol=1e-3, atol=1e-3)
    assert (np.take_along_axis(r, ids, 1) >= np.take_along_axis(r, ref_ids, 1)[:, -1:] - 1e-4).all()
