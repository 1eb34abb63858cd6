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
    is_unseen = np.array([x in unseen for x in table.user], dtype=bool)
    seen_split = np.where(
        u < cfg.test_frac, "test", np.where(u < cfg.test_frac + cfg.val_frac, "val", "train")
    )
    out[:] = seen_split
    # unseen users: the first fewshot_frac of each user's rows (in a seeded random order) are few-shot
    order = rng.permutation(len(table))
    rank = np.empty(len(table), dtype=np.int64)
    counts: dict[str, int] = {}
    totals: dict[str, int] = {}
    for i in order:
        if is_unseen[i]:
            totals[table.user[i]] = totals.get(table.user[i], 0) + 1
    for i in order:
        if is_unseen[i]:
            rank[i] = counts.get(table.user[i], 0)
            counts[table.user[i]] = rank[i] + 1
    for i in np.nonzero(is_unseen)[0]:
        k = max(1, int(round(cfg.fewshot_frac * totals[table.user[i]])))
        out[i] = "fewshot" if rank[i] < k else "unseen_test"
    return out


def split_summary(split: np.ndarray, users: np.ndarray) -> dict[str, dict[str, int]]:
    """Pairs and users per split."""
    return {
        s: {"pairs": int((split == s).sum()), "users": len(set(users[split == s].tolist()))}
        for s in SPLITS
        if (split == s).any()
    }
