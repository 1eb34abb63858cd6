import numpy as np
import pytest

from embedkit.fingerprint import Fingerprint
from embedkit.heads.pair_data import PairData

FP = Fingerprint(
    encoder="fake",
    model="synthetic",
    weights="none",
    layer="pooled",
    pooling="mean",
    normalized=False,
    dim=16,
    dtype="float32",
)


def make_data(X, prompt, a, b, y, users, split, counts=None, fp=FP):
    n = len(a)
    if counts is None:
        counts = np.zeros((n, 5))
        counts[np.arange(n), np.where(np.asarray(y) > 0.5, 3, 1)] = 1
    return PairData(
        X=np.asarray(X, np.float32),
        fingerprint=fp,
        prompt=np.asarray(prompt),
        a=np.asarray(a),
        b=np.asarray(b),
        user=np.asarray(users, dtype=object),
        counts=np.asarray(counts, float),
        y=np.asarray(y, float),
        weight=np.ones(n),
        margin=np.full(n, np.nan),
        split=np.asarray(split, dtype=object),
    )


def planted(model: str, seed=0, users_per_group=15, pairs_per_user=80, unseen_per_group=5, noise=4.0):
    """Two planted preference groups. 'a': ideal points (PAL-A's generating model); 'b': prompt-
    conditioned directions z_k(c) = G_k c (PAL-B's). Labels drawn from a logistic link, so the
    generating model's own accuracy is below 1; returns (data, bayes accuracy on each split)."""
    rng = np.random.default_rng(seed)
    D, n_items, n_prompts = 16, 400, 8
    X = rng.standard_normal((n_items, D)) / np.sqrt(D) * 3
    protos = rng.standard_normal((2, D))
    G = rng.standard_normal((2, D, D)) / np.sqrt(D)
    rows = {k: [] for k in ("prompt", "a", "b", "y", "user", "split", "true")}
    for kind, n_users in (("seen", users_per_group), ("unseen", unseen_per_group)):
        for group in range(2):
            for u in range(n_users):
                user = f"{kind}-{group}-{u}"
                for j in range(pairs_per_user):
                    i, k = rng.choice(n_items - n_prompts, 2, replace=False) + n_prompts
                    c = rng.integers(n_prompts)  # the first rows of X are the prompts
                    if model == "a":
                        score = np.sum((X[k] - protos[group]) ** 2) - np.sum((X[i] - protos[group]) ** 2)
                    else:
                        z = G[group] @ X[c]
                        unit = X / np.linalg.norm(X, axis=1, keepdims=True)
                        score = (unit[i] - unit[k]) @ (z / np.linalg.norm(z)) * 3
                    p = 1 / (1 + np.exp(-noise * score))
                    if kind == "seen":
                        split = "test" if j % 5 == 0 else "val" if j % 5 == 1 else "train"
                    else:
                        split = "fewshot" if j < 20 else "unseen_test"
                    for key, v in zip(
                        rows, (c, i, k, float(rng.random() < p), user, split, float(score > 0)), strict=True
                    ):
                        rows[key].append(v)
    data = make_data(X, rows["prompt"], rows["a"], rows["b"], rows["y"], rows["user"], rows["split"])
    true = np.array(rows["true"])
    bayes = {s: float(((true > 0.5) == (data.y > 0.5))[data.split == s].mean()) for s in set(rows["split"])}
    return data, bayes


@pytest.fixture(scope="session")
def planted_a():
    return planted("a")


@pytest.fixture(scope="session")
def planted_b():
    return planted("b", pairs_per_user=200)
