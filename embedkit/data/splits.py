"""Train / validation / test splits a reviewer can trust.

Seen users contribute train, val and test pairs; unseen users contribute only ``fewshot`` pairs (to fit
their weights with everything else frozen) and held-out ``unseen_test`` pairs. A ``split`` column
given in the file is honoured as is; otherwise splits are drawn here, reproducibly from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedkit.data.pairs import SPLITS, PairTable
from embedkit.errors import InputError


@dataclass(frozen=True)
class SplitConfig:
    val_frac: float = 0.1
    test_frac: float = 0.2
    unseen_user_frac: float = 0.2
    fewshot_frac: float = 0.5
    seed: int = 0


def assign_splits(table: PairTable, cfg: SplitConfig = SplitConfig()) -> np.ndarray:
    """The split of each row, (n,) object array. Uses the file's ``split`` column when every row has one."""
    given = table.split != ""
    if given.all():
        return table.split.copy()
    if given.any():
        first = int(np.nonzero(~given)[0][0])
        f, line = table.source[first]
        raise InputError(
            "some rows have a split and some do not; give it on every row or on none",
            file=f,
            line=line,
            field="split",
        )
    for name, v in (
        ("val_frac", cfg.val_frac),
        ("test_frac", cfg.test_frac),
        ("unseen_user_frac", cfg.unseen_user_frac),
        ("fewshot_frac", cfg.fewshot_frac),
    ):
        if not 0 <= v < 1:
            raise ValueError(f"{name} must be in [0, 1), got {v}")
    if cfg.val_frac + cfg.test_frac >= 1:
        raise ValueError("val_frac + test_frac must be < 1")
    rng = np.random.default_rng(cfg.seed)
    users = np.array(sorted(set(table.user.tolist())), dtype=object)
    n_unseen = int(round(cfg.unseen_user_frac * len(users))) if len(users) > 1 else 0
    unseen = set(rng.permutation(users)[:n_unseen].tolist())
    out = np.empty(len(table), dtype=object)
    u = rng.random(len(table))
    is_unseen = np.isin(table.user.astype(str), np.array(sorted(unseen), dtype=str))
    seen_split = np.where(
        u < cfg.test_frac, "test", np.where(u < cfg.test_frac + cfg.val_frac, "val", "train")
    )
    out[:] = seen_split
    # unseen users: the first fewshot_frac of each user's rows (in a seeded random order) are few-shot
    # unseen users: the first fewshot_frac of each user's rows, in a seeded random order, are few-shot
    order = rng.permutation(len(table))
    users_str = table.user.astype(str)
    rank = np.empty(len(table), dtype=np.int64)
    rank[order] = rank_within_group(users_str[order])
    _, inv, totals = np.unique(users_str, return_inverse=True, return_counts=True)
    k = np.maximum(1, np.round(cfg.fewshot_frac * totals[inv.reshape(-1)]).astype(np.int64))
    out[is_unseen] = np.where(rank < k, "fewshot", "unseen_test")[is_unseen]
    return out


def rank_within_group(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... for each group's rows in their order of appearance. (n,) int64, vectorised."""
    order = np.argsort(groups, kind="stable")
    sorted_g = groups[order]
    starts = np.r_[0, np.nonzero(sorted_g[1:] != sorted_g[:-1])[0] + 1]
    run = np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = run
    return rank


def split_summary(split: np.ndarray, users: np.ndarray) -> dict[str, dict[str, int]]:
    """Pairs and users per split."""
    return {
        s: {"pairs": int((split == s).sum()), "users": len(set(users[split == s].tolist()))}
        for s in SPLITS
        if (split == s).any()
    }
