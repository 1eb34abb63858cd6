"""Train / validation / test splits a reviewer can trust.

Seen users contribute train, val and test pairs; unseen users contribute only ``fewshot`` pairs (to fit
their weights with everything else frozen) and held-out ``unseen_test`` pairs. A ``split`` column
given in the file is honoured as is; otherwise splits are drawn here, reproducibly from a seed:

- ``unseen_user_frac`` of the users (a seeded draw) are unseen, or, when the caller knows which users a
  trained head has seen (``seen_users``), every other user is;
- each seen user's pairs are split by ``test_frac`` / ``val_frac`` *within that user* (randomised
  rounding, so shares are exact on average and each user has a train pair whenever they have any);
- the first ``fewshot_frac`` of each unseen user's pairs, in a seeded order, are few-shot.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from embedkit.data.pairs import SPLITS, PairTable
from embedkit.errors import InputError
from embedkit.options import opt

SPLIT_BY = ("user", "item")
_FRACTION = {"min": 0, "max": 1, "max_open": True}  # a share in [0, 1)


@dataclass(frozen=True)
class SplitConfig:
    """How pairs without a ``split`` column are split; its fields are the split options of ``fit-head``,
    ``eval`` and the rating converters (``embedkit.cli.options.split_options``, each command with its own
    help), declared once here."""

    val_frac: float = opt(0.1, "Seen users' pairs for validation (early stopping).", **_FRACTION)
    test_frac: float = opt(0.2, "Seen users' pairs for test.", **_FRACTION)
    unseen_user_frac: float = opt(0.2, "Users held out of training as unseen (new) users.", **_FRACTION)
    fewshot_frac: float = opt(
        0.5,
        "Share of each unseen user's pairs used to fit their weights (few-shot); the rest test.",
        **_FRACTION,
    )
    seed: int = opt(0, "Seed of the draws (users, pairs, items).")
    by: str = opt(
        "user",
        "val/test pairs drawn within each seen user (user; their items may be in training pairs too), or "
        "item-disjoint (item: val/test items held out, a pair in a split only when both its items are; pairs "
        "across splits are left out).",
        SPLIT_BY,
        cli="--split-by",
    )
    """``user``: val/test pairs drawn within each seen user (their items may appear in training pairs);
    ``item``: item-disjoint, val_frac / test_frac of the *items* are held out and a pair is in a split
    only when both its items are (see :func:`split_by_items`)."""

    def validate(self) -> None:
        for name, v in asdict(self).items():
            if name not in ("seed", "by") and not 0 <= v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {v}")
        if self.by not in SPLIT_BY:
            raise ValueError(f"--split-by must be one of {', '.join(SPLIT_BY)}, got {self.by!r}")
        if self.val_frac + self.test_frac >= 1:
            raise ValueError("--val-frac + --test-frac must be < 1 (train needs pairs too)")

    def to_dict(self) -> dict:
        return asdict(self)


def assign_splits(
    table: PairTable, cfg: SplitConfig = SplitConfig(), seen_users: list[str] | None = None
) -> np.ndarray:
    """The split of each row, (n,) object array. Uses the file's ``split`` column when every row has one.

    ``seen_users``: the users a trained head knows; they get train/val/test rows and every other user is
    unseen (how ``eval`` treats a file of new users). Without it, ``unseen_user_frac`` of the users are
    drawn as unseen. The draw is the same either way, so the training file splits exactly as at training.
    With ``cfg.by == "item"`` the split is item-disjoint (:func:`split_by_items`, the items being the
    responses as embedded): rows comparing items of two groups get "" and are left out by the caller.
    """
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
    if cfg.by == "item":
        groups = draw_item_groups(set(table.a) | set(table.b), cfg)
        left = np.array([groups[x] for x in table.a], dtype=object)
        right = np.array([groups[x] for x in table.b], dtype=object)
        return split_by_items(table.user.astype(str), left, right, cfg, seen_users)
    return draw_splits(table.user.astype(str), cfg, seen_users)


def draw_splits(
    users_str: np.ndarray, cfg: SplitConfig = SplitConfig(), seen_users: list[str] | None = None
) -> np.ndarray:
    """The drawn split of each row given each row's user (see ``assign_splits``). (n,) object array."""
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    users = np.array(sorted(set(users_str.tolist())), dtype=str)
    n_unseen = int(round(cfg.unseen_user_frac * len(users))) if len(users) > 1 else 0
    drawn = rng.permutation(users)[:n_unseen]
    unseen = np.setdiff1d(users, np.asarray(seen_users, dtype=str)) if seen_users is not None else drawn
    is_unseen = np.isin(users_str, unseen)
    out = np.empty(len(users_str), dtype=object)

    # seen users: within each user, a seeded order and a random offset place rows on [0, 1) evenly
    _, inv, totals = np.unique(users_str, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    order = rng.permutation(len(users_str))
    rank = np.empty(len(users_str), dtype=np.int64)
    rank[order] = rank_within_group(users_str[order])
    offset = rng.random(len(totals))
    pos = (rank + offset[inv]) / totals[inv]  # in [0, 1), spaced 1/total apart
    out[:] = np.where(
        pos < cfg.test_frac, "test", np.where(pos < cfg.test_frac + cfg.val_frac, "val", "train")
    )
    # a user whose every row landed in val/test gets their last-placed row back for training
    no_train = np.bincount(inv, weights=(out == "train"), minlength=len(totals)) == 0
    last = rank == totals[inv] - 1
    out[last & no_train[inv] & ~is_unseen] = "train"

    # unseen users: the first fewshot_frac of each user's rows, in the seeded order, are few-shot
    k = np.maximum(1, np.round(cfg.fewshot_frac * totals[inv]).astype(np.int64))
    out[is_unseen] = np.where(rank < k, "fewshot", "unseen_test")[is_unseen]
    return out


def draw_item_groups(items, cfg: SplitConfig) -> dict[str, str]:
    """Each item's group for an item-disjoint split: a seeded ``test_frac`` of the items are ``test``,
    ``val_frac`` ``val``, the rest ``train``."""
    cfg.validate()
    items = sorted({str(i) for i in items})
    order = np.random.default_rng(cfg.seed).permutation(len(items))
    n_test = int(round(cfg.test_frac * len(items)))
    n_val = int(round(cfg.val_frac * len(items)))
    groups = np.full(len(items), "train", dtype=object)
    groups[order[:n_test]] = "test"
    groups[order[n_test : n_test + n_val]] = "val"
    return dict(zip(items, groups.tolist(), strict=True))


def split_by_items(
    users: np.ndarray, left_group: np.ndarray, right_group: np.ndarray, cfg: SplitConfig,
    seen_users: list[str] | None = None,
) -> np.ndarray:  # fmt: skip
    """Item-disjoint splits from the groups (train / val / test) of each pair's two items: a seen user's
    pair is in the split of its items when both share it; an unseen user's pair is ``fewshot`` when both
    items are train or val items and ``unseen_test`` when both are test items. A pair whose items are in
    two groups gets "" (the caller drops it). Unseen users are drawn as in :func:`draw_splits`; a seen user
    left with no train pair counts as unseen too."""
    users = np.asarray(users).astype(str)
    same = left_group == right_group
    train_side = np.isin(left_group, ["train", "val"]) & np.isin(right_group, ["train", "val"])
    drawn = draw_splits(users, SplitConfig(0.0, 0.0, cfg.unseen_user_frac, 0.5, cfg.seed), seen_users)
    unseen = np.isin(drawn, ["fewshot", "unseen_test"])
    out = np.where(same, left_group, "").astype(object)
    # a seen user none of whose pairs lands in train (all their items held out) is a new user instead
    trains = set(users[(out == "train") & ~unseen].tolist())
    unseen |= ~np.isin(users, list(trains))
    out[unseen] = np.where(train_side, "fewshot", np.where(same & (left_group == "test"), "unseen_test", ""))[
        unseen
    ]
    return out


def explain_empty_split(name: str, n_seen_pairs: int, n_seen_users: int, cfg: SplitConfig | None) -> str:
    """Why a split needed for training is empty, and what would fill it.

    ``cfg`` is the configuration splits were drawn with, or None when the file's split column was used.
    """
    if cfg is None:
        return (
            f"the {name} split is empty: no pair has split={name} (a head needs train pairs to learn "
            "from and val pairs for early stopping)"
        )
    frac = {"val": cfg.val_frac, "test": cfg.test_frac}.get(name)
    if frac == 0:
        return f"the {name} split is empty because --{name}-frac is 0; early stopping needs validation pairs"
    need = math.ceil(1 / frac) if frac else 2
    return (
        f"too few pairs to split: {n_seen_pairs} pair(s) of {n_seen_users} seen user(s) leave the "
        f"{name} split empty with --val-frac {cfg.val_frac} and --test-frac {cfg.test_frac}. Give at "
        f"least ~{need} pairs of seen users (so that {frac:g} of them is one pair), raise "
        f"--{name}-frac, or give a split column"
    )


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


def write_by_field(paths, field: str, out_dir, overwrite: bool = False) -> dict[str, dict]:
    """One JSONL file per value of ``field`` (e.g. ``split``: OUT/train.jsonl, OUT/fewshot.jsonl,
    OUT/unseen_test.jsonl, ...), each row as it was, in order; a row without the field is an error naming
    file and line. Each file is written atomically. Returns {value: {"file", "rows"}}."""
    import os
    import re
    from pathlib import Path

    from embedkit.data.readers import iter_records, write_jsonl

    out = Path(out_dir)
    values: dict[str, int] = {}
    for path in map(str, paths):
        for line, rec in iter_records(path):
            if isinstance(rec, InputError):
                raise rec
            v = rec.get(field)
            if v is None or v == "":
                raise InputError(
                    f"no {field} (fields present: {', '.join(sorted(map(str, rec))) or 'none'})",
                    file=path,
                    line=line,
                    field=field,
                )
            values[str(v)] = values.get(str(v), 0) + 1
    if not values:
        raise InputError("no rows found (empty file?)", file=", ".join(map(str, paths)))
    names = {v: re.sub(r"[^A-Za-z0-9_.-]+", "_", v) + ".jsonl" for v in values}
    existing = [n for n in names.values() if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out / existing[0]} exists; pass --overwrite or choose another --out")
    os.makedirs(out, exist_ok=True)

    def rows(value):
        for path in map(str, paths):
            for _, rec in iter_records(path):
                if str(rec.get(field)) == value:
                    yield rec

    return {
        v: {"file": str(out / names[v]), "rows": write_jsonl(out / names[v], rows(v), ensure_ascii=False)}
        for v in values
    }
