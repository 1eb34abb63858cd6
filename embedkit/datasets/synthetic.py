"""The synthetic ideal-point preference data of PAL (section 4.1, appendix C.1).

Items x ~ N(0, I/d); K* prototypes p_k ~ N(0, I/d), redrawn until every two are at least delta apart; a
true linear map f*(x) = W x with W ~ N(0, I). Users sit at ideal points a_i:

- **mixture** setting: inside the convex hull of the prototypes, a_i = P w_i with w_i ~ Dirichlet(1);
- **partition** setting: on the prototypes themselves, N users spread evenly over the K*.

A sample draws two fresh items and prefers the one whose f* is closer to f*(a_i) (the paper's label
sign(||f*(x_l) - f*(a_i)|| - ||f*(x_r) - f*(a_i)||), negative = left). ``flip`` makes annotators noisy:
each user flips each label with a probability drawn uniformly from the (low, high) range.

The items are vectors, not texts: they are written straight into an embedding cache under a
``synthetic`` fingerprint (each item keyed as a response in context, ``PROMPT + "\n" + "item 17"``, which is
how the pair file's responses are looked up by default), next to a pair file in the
embedkit pair format, so ``fit-head --encoder synthetic`` trains on them like on any cached encoder.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embedkit.atomic import write_text
from embedkit.cache.keys import text_keys
from embedkit.data.pairs import join_in_context
from embedkit.data.readers import write_jsonl
from embedkit.fingerprint import Fingerprint, format_options
from embedkit.options import float_range, joined, opt

PROMPT = "which item is closer to your ideal point?"
SETTINGS = ("mixture", "partition")


@dataclass(frozen=True)
class SyntheticConfig:
    """PAL's synthetic ideal-point data (section 4.1); the options of ``embedkit build synthetic``."""

    setting: str = opt(
        "mixture",
        "Users inside the prototypes' convex hull (mixture) or on the prototypes (partition).",
        choices=SETTINGS,
    )
    d: int = opt(16, "Dimension of items and ideal points.", min=1)
    k_star: int = opt(3, "True number of prototypes K*.", min=1, cli="--K-star")
    users_per_prototype: int = opt(
        50, "Seen users = this x K* (PAL: N = 50 K*); as many unseen users.", min=1
    )
    samples_per_user: int = opt(
        100, "n: training comparisons per seen user (a tenth become validation).", min=2
    )
    test_per_user: int = opt(50, "Held-out comparisons per user (PAL: 50).", min=1)
    fewshot_per_unseen_user: int = opt(
        50, "Comparisons of each unseen user available to fit their weights.", min=1
    )
    delta: float = opt(1.0, "Minimum distance between prototypes.")
    flip: tuple[float, float] = opt(
        (0.0, 0.0),
        "Noisy annotators: each user flips labels with a probability drawn from LOW,HIGH (e.g. 0.2,0.3), "
        "or one value.",
        parse=float_range,
        show=lambda v: f"{v[0]:g}" if v[0] == v[1] else joined(v),
        metavar="LOW,HIGH",
    )
    seed: int = opt(0, "Seed of everything drawn.")

    def validate(self) -> None:
        if self.setting not in SETTINGS:
            raise ValueError(f"--setting must be one of {', '.join(SETTINGS)}, got {self.setting!r}")
        if self.d < 1 or self.k_star < 1 or self.users_per_prototype < 1:
            raise ValueError("d, K* and users per prototype must be >= 1")
        if self.samples_per_user < 2 or self.test_per_user < 1 or self.fewshot_per_unseen_user < 1:
            raise ValueError("need >= 2 samples per seen user, and >= 1 test and few-shot pair")
        lo, hi = self.flip
        if not 0 <= lo <= hi < 0.5:
            raise ValueError(f"--flip must satisfy 0 <= low <= high < 0.5, got {lo}, {hi}")


def draw_prototypes(
    rng: np.random.Generator, k: int, d: int, delta: float, tries: int = 10_000
) -> np.ndarray:
    """K points from N(0, I/d) with pairwise distance >= delta (rejection sampling)."""
    for _ in range(tries):
        p = rng.normal(0, 1 / np.sqrt(d), (k, d))
        dist = np.linalg.norm(p[:, None] - p[None], axis=-1)
        if k < 2 or dist[np.triu_indices(k, 1)].min() >= delta:
            return p
    raise ValueError(
        f"could not place {k} prototypes at least {delta} apart in {d} dimensions; lower --delta or raise --d"
    )


def fingerprint(cfg: SyntheticConfig) -> Fingerprint:
    """One namespace per generated dataset: the item names repeat across datasets, their vectors do not."""
    digest = hashlib.sha256(
        json.dumps({**asdict(cfg), "flip": list(cfg.flip)}, sort_keys=True).encode()
    ).hexdigest()
    return Fingerprint(
        encoder="synthetic",
        model="pal-ideal-points",
        weights="none",
        layer="items",
        pooling="none",
        normalized=False,
        dim=cfg.d,
        dtype="float32",
        options=format_options(dataset=digest[:12], setting=cfg.setting, k_star=cfg.k_star, seed=cfg.seed),
    )


def build_synthetic(
    out_dir: str | os.PathLike, cache: str | os.PathLike, cfg: SyntheticConfig = SyntheticConfig()
) -> dict:
    """Write ``out_dir/pairs.jsonl`` (+ ``truth.json``: prototypes, f*, users' ideal points and weights) and
    put the item vectors into ``cache``. Returns a summary."""
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    d, k = cfg.d, cfg.k_star
    P = draw_prototypes(rng, k, d, cfg.delta)  # (K*, d)
    W = rng.normal(0, 1, (d, d))  # f*(x) = W x
    n_users = cfg.users_per_prototype * k
    users = []
    for kind in ("seen", "unseen"):
        if cfg.setting == "mixture":
            weights = rng.dirichlet(np.ones(k), n_users)
        else:
            weights = np.eye(k)[np.arange(n_users) % k]
        flips = rng.uniform(*cfg.flip, n_users)
        users += [
            (f"{kind}-{i:04d}", kind, w, f) for i, (w, f) in enumerate(zip(weights, flips, strict=True))
        ]
    rows, items = [], []
    for name, kind, w, flip in users:
        ideal = W @ (w @ P)
        if kind == "seen":
            n_val = max(1, cfg.samples_per_user // 10)
            splits = (
                ["train"] * (cfg.samples_per_user - n_val) + ["val"] * n_val + ["test"] * cfg.test_per_user
            )
        else:
            splits = ["fewshot"] * cfg.fewshot_per_unseen_user + ["unseen_test"] * cfg.test_per_user
        x = rng.normal(0, 1 / np.sqrt(d), (len(splits), 2, d))
        dist = np.linalg.norm(x @ W.T - ideal, axis=-1)  # (n, 2)
        left_wins = dist[:, 0] < dist[:, 1]
        left_wins ^= rng.random(len(splits)) < flip
        for j, split in enumerate(splits):
            i = len(items)
            items += [x[j, 0], x[j, 1]]
            rows.append(
                {
                    "user": name,
                    "prompt": PROMPT,
                    "left": f"item {i}",
                    "right": f"item {i + 1}",
                    "label": "left" if left_wins[j] else "right",
                    "split": split,
                }
            )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(cfg)
    # keyed as embedkit reads pair files by default: a response in context (prompt + newline + item)
    names = [PROMPT] + [join_in_context(PROMPT, f"item {i}") for i in range(len(items))]
    vectors = np.vstack([np.zeros((1, d)), np.asarray(items)]).astype(np.float32)
    from embedkit.cache.store import EmbeddingCache  # here, not at import: the CLI reads the config above

    store = EmbeddingCache(cache)
    with store.writer(fp, spec="synthetic") as w:
        keys = text_keys(names)
        new = ~w.contains(keys)
        if new.any():
            w.add(keys[new], vectors[new], extra_attrs={"modality": "synthetic"})
    truth = {
        "config": {**asdict(cfg), "flip": list(cfg.flip)},
        "prototypes": P.tolist(),
        "f_star": W.tolist(),
        "users": {
            name: {"weights": w.tolist(), "ideal_point": (w @ P).tolist(), "flip": float(f)}
            for name, _, w, f in users
        },
        "namespace": fp.namespace,
    }
    write_text(out / "truth.json", json.dumps(truth) + "\n")
    write_jsonl(out / "pairs.jsonl", rows)  # last: a folder with pairs.jsonl is a complete build
    return {
        "pairs": len(rows),
        "items": len(items),
        "seen_users": n_users,
        "unseen_users": n_users,
        "namespace": fp.namespace,
        "bayes_accuracy": float(1 - np.mean([f for *_, f in users])),
    }


def summary_lines(s: dict, cfg: SyntheticConfig, out_dir: str | os.PathLike, cache, **_) -> list[str]:
    """What ``embedkit build synthetic`` prints about the summary of :func:`build_synthetic`."""
    return [
        f"{s['pairs']} pairs over {s['items']} items; {s['seen_users']} seen + {s['unseen_users']} unseen users "
        f"({cfg.setting}, K*={cfg.k_star}, d={cfg.d}); label noise leaves a Bayes accuracy of ~{s['bayes_accuracy']:.3f}",
        f"wrote {out_dir}/pairs.jsonl and truth.json; item vectors in {cache}, namespace {s['namespace']}",
    ]
