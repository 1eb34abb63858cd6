"""Per-item ratings -> preference pairs (``embedkit convert ratings``; ``convert lewidi`` goes through the
same pairing).

Much pluralistic data is one row per (annotator, item, score): offensiveness or toxicity on 1-5, Likert
helpfulness, from a few hundred annotators who each rate tens of items, each item rated by several of
them. Two ways to turn it into the pair format:

- **per annotator** (default, for PAL heads): pairs are drawn within each annotator, from two items that
  annotator rated; the annotator's scores decide the label (a difference of 1 is a slight preference, 2
  or more a strong one, equal scores a tie), left/right order is random, and ``user`` is the annotator.
  ``ties="drop"`` drops ties *before* ``pairs_per_user`` samples, so a user asking for 60 pairs gets 60
  (or all the untied pairs they have).
- **multi-annotator** (``likert=True``, for mean-variance and Likert heads): pairs of items rated by at
  least one common annotator, with ``labels`` (one graded label per common annotator) and
  ``likert_left`` / ``likert_right`` (every score each item received, on 1-5, turned round with
  ``prefer="lower"`` so that 5 is always the preferred end). ``pairs_per_user`` then draws that many item
  pairs from each annotator's items (their union is written).

Either way ``max_pairs`` caps the total (a uniform sample), and the report says how many pairs were
possible before any cap, so that a crowd data set never silently becomes a multi-GB file.

Reading and checking the ratings file (fields, bad rows, repeats): :mod:`embedkit.data.ratings_reader`.

Splits: drawn as fit-head draws them (seen and unseen annotators, few-shot share), or, with items given a
group (``item_groups``: drawn with ``by="item"``, or a data set's own train/dev/test split), item-disjoint:
a pair belongs to a split only when both its items are in that split's items (see
:func:`embedkit.data.splits.split_by_items`), so test pairs compare items no training pair touched.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from embedkit.data.ratings_reader import DEFAULT_PROMPT, Rating, RatingsFields, read_ratings
from embedkit.data.splits import SplitConfig, draw_item_groups, draw_splits, split_by_items
from embedkit.errors import InputError
from embedkit.options import float_range, opt

DEFAULT_MAX_PAIRS = 1_000_000
SMALL_SPLIT = 100
"""A held-out split with fewer pairs is reported as too small: an accuracy on n pairs has a standard error
of up to 0.5 / sqrt(n), 0.05 at 100."""


@dataclass(frozen=True)
class PairingConfig:
    """How ratings become pairs (``convert ratings`` and ``convert lewidi``)."""

    prefer: str = opt(
        "higher",
        "Which end of the scale is preferred (lower for offensiveness or toxicity).",
        choices=("higher", "lower"),
    )
    prompt: str | None = opt(None, f"The prompt of every pair (default: {DEFAULT_PROMPT!r}).")
    ties: str = opt(
        "keep",
        "Keep equal scores as ties, or drop them (before --pairs-per-user counts).",
        choices=("keep", "drop"),
    )
    pairs_per_user: int = opt(
        0,
        "At most this many pairs per annotator, drawn at random after ties are dropped (0 = every pair of "
        "their items). With --likert: item pairs drawn from each annotator's items.",
        min=0,
    )
    max_pairs: int = opt(
        DEFAULT_MAX_PAIRS,
        "At most this many pairs in all, a uniform sample (0 = no cap); the run says how many were possible.",
        min=0,
    )
    likert: bool = opt(
        False,
        "Multi-annotator pairs instead: items rated by common annotators, with per-annotator labels and "
        "likert_left/likert_right scores (for mean-var, mse, likert-kl).",
    )
    min_annotators: int = opt(
        1,
        "With --likert: only item pairs that at least this many annotators rated both of (the pairs of the "
        "Diverging Preferences paper have several; with one there is no disagreement to see).",
        min=1,
    )
    likert_range: tuple[float, float] | None = opt(
        None,
        "With --likert: map scores from LO,HI onto 1..5 (default: they are 1..5).",
        parse=float_range,
        metavar="LO,HI",
    )
    seed: int = opt(0, "Seed of pair sampling, left/right order and splits.")

    def validate(self) -> None:
        if self.prefer not in ("higher", "lower"):
            raise ValueError(f"--prefer must be higher or lower, got {self.prefer!r}")
        if self.ties not in ("keep", "drop"):
            raise ValueError(f"--ties must be keep or drop, got {self.ties!r}")
        if self.min_annotators < 1:
            raise ValueError("--min-annotators must be >= 1")
        if self.pairs_per_user < 0 or self.max_pairs < 0:
            raise ValueError("--pairs-per-user and --max-pairs must be >= 0 (0 = no limit)")
        if self.likert_range is not None and not self.likert_range[0] < self.likert_range[1]:
            raise ValueError(f"--likert-range LO,HI needs LO < HI, got {self.likert_range}")


def graded(diff: float) -> int:
    """Score difference (preferred direction positive) -> graded label: 0 tie, 1 slight, 2 strong."""
    return 0 if diff == 0 else int(math.copysign(2 if abs(diff) >= 2 else 1, diff))


def _graded(diff: np.ndarray) -> np.ndarray:
    """:func:`graded` of an array."""
    return (np.sign(diff) * np.where(np.abs(diff) >= 2, 2, 1)).astype(np.int64) * (diff != 0)


def ratings_to_pairs(
    path: str | os.PathLike,
    fields: RatingsFields,
    pairing: PairingConfig = PairingConfig(),
    split: SplitConfig | None = None,
    skip_bad: bool = False,
) -> tuple[list[dict], dict]:
    """(pair rows, report) from a ratings file; see the module docstring. ``split``: draw a split column
    with these fractions (``split.by="item"``: item-disjoint)."""
    pairing.validate()
    read = read_ratings(path, fields, pairing.prompt, skip_bad)
    return pairs_from_ratings(
        read.ratings, pairing, split, bad=read.bad, repeats=read.repeats, source=str(path)
    )


def pairs_from_ratings(
    ratings: list[Rating],
    pairing: PairingConfig,
    split: SplitConfig | None = None,
    *,
    item_groups: dict[str, str] | None = None,
    bad: list[InputError] = (),
    repeats: list[dict] = (),
    source: str = "",
) -> tuple[list[dict], dict]:
    """(pair rows, report) from checked ratings. ``split``: fractions and seed of the split column
    (None: no column). ``item_groups``: each item's train / val / test group, for an item-disjoint split
    (drawn here when ``split.by == "item"`` and none are given)."""
    pairing.validate()
    sign = 1 if pairing.prefer == "higher" else -1
    rng = np.random.default_rng(pairing.seed)
    by_user: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        by_user[r.user].append(r)
    lonely = sorted((u for u, rs in by_user.items() if len(rs) < 2), key=lambda u: by_user[u][0].line)
    report = {
        "ratings": len(ratings),
        "annotators": len(by_user),
        "items": len({r.item for r in ratings}),
        "skipped_rows": [{"file": e.file, "line": e.line, "field": e.field, "error": e.reason} for e in bad],
        "repeated_rows": list(repeats),
        "annotators_with_one_item": [
            {"user": u, "file": by_user[u][0].file or source, "line": by_user[u][0].line} for u in lonely
        ],
    }
    if split is not None and split.by == "item" and item_groups is None:
        item_groups = draw_item_groups(sorted({r.item for r in ratings}), split)
    pairs = _Pairs(ratings, by_user)
    if pairing.likert:
        a, b = pairs.item_pairs(pairing, rng, report)
        rows = pairs.likert_rows(a, b, pairing, sign, rng, report)
    else:
        u, a, b, g = pairs.user_pairs(pairing, sign, rng, report)
        rows = pairs.user_rows(u, a, b, g, rng)
    if split is not None and rows:
        _add_split(rows, split, item_groups, report)
        report["splits"] = dict(sorted(Counter(r["split"] for r in rows).items()))
        report["small_splits"] = [
            {"split": s, "pairs": n, "accuracy_se": round(0.5 / math.sqrt(n), 3)}
            for s, n in report["splits"].items()
            if s != "train" and n < SMALL_SPLIT
        ]
    report["preferred"] = _preferred(rows, by_user, pairing)
    report["pairs"] = len(rows)
    report["ties"] = sum(1 for r in rows if r.get("label") == 0 or r.get("labels") and not any(r["labels"]))
    return rows, report


class _Pairs:
    """Ratings as arrays (items and users by first appearance) and the pair enumeration over them."""

    def __init__(self, ratings: list[Rating], by_user: dict[str, list[Rating]]):
        self.items = list(dict.fromkeys(r.item for r in ratings))
        self.index = {it: i for i, it in enumerate(self.items)}
        self.first = {}
        for r in ratings:
            self.first.setdefault(r.item, r)
        self.users = sorted(by_user, key=lambda u: by_user[u][0].line)
        self.by_user = by_user
        self.prompts = {(r.user, self.index[r.item]): r.prompt for r in ratings}

    def _within(self, user: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every pair of one annotator's items: (item a, item b, score a, score b), a before b."""
        rs = self.by_user[user]
        idx = np.fromiter((self.index[r.item] for r in rs), np.int64, len(rs))
        s = np.fromiter((r.score for r in rs), np.float64, len(rs))
        i, j = np.triu_indices(len(rs), 1)
        return idx[i], idx[j], s[i], s[j]

    def user_pairs(self, pairing: PairingConfig, sign: int, rng, report: dict):
        """Per-annotator pairs: (user index, item a, item b, graded label for a), ties dropped first, then
        ``pairs_per_user`` and ``max_pairs`` sampled."""
        parts, possible = [], 0
        for k, user in enumerate(self.users):
            a, b, sa, sb = self._within(user)
            g = _graded(sign * (sa - sb))
            if pairing.ties == "drop":
                a, b, g = a[g != 0], b[g != 0], g[g != 0]
            possible += len(a)
            keep = _sample(len(a), pairing.pairs_per_user, rng)
            parts.append((np.full(len(keep), k), a[keep], b[keep], g[keep]))
        if parts:
            u, a, b, g = (np.concatenate(x) for x in zip(*parts, strict=True))
        else:
            u = a = b = g = np.zeros(0, np.int64)
        keep = _sample(len(a), pairing.max_pairs, rng)
        report["possible_pairs"] = possible
        report["capped"] = _capped(possible, len(a), len(keep), pairing)
        return u[keep], a[keep], b[keep], g[keep]

    def user_rows(self, u, a, b, g, rng) -> list[dict]:
        flip = rng.random(len(a)) < 0.5
        rows = []
        for k, i, j, lab, f in zip(
            u.tolist(), a.tolist(), b.tolist(), g.tolist(), flip.tolist(), strict=True
        ):
            left, right, lab = (j, i, -lab) if f else (i, j, lab)
            rl, rr = self.first[self.items[left]], self.first[self.items[right]]
            rows.append(
                {
                    "user": self.users[k],
                    "prompt": self.prompts[(self.users[k], left)],
                    "left": rl.text,
                    "right": rr.text,
                    "label": int(
                        lab
                    ),  # graded: + left preferred, 2 = strongly (a score difference of 2 or more)
                    "left_item": rl.item,
                    "right_item": rr.item,
                }
            )
        return rows

    def item_pairs(self, pairing: PairingConfig, rng, report: dict) -> tuple[np.ndarray, np.ndarray]:
        """Distinct pairs of items rated by at least ``min_annotators`` common annotators (``pairs_per_user``
        drawn per annotator), capped at ``max_pairs``: (item a, item b) with a < b."""
        n = len(self.items)
        drawn, every = [], []
        for user in self.users:
            a, b, _, _ = self._within(user)
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            ids = lo * n + hi
            every.append(ids)
            drawn.append(ids[_sample(len(ids), pairing.pairs_per_user, rng)])
        if every:  # a pair id appears once per annotator who rated both items
            uniq, common = np.unique(np.concatenate(every), return_counts=True)
            enough = uniq[common >= pairing.min_annotators]
        else:
            enough = np.zeros(0, np.int64)
        possible = len(enough)
        ids = np.unique(np.concatenate(drawn)) if drawn else np.zeros(0, np.int64)
        ids = ids[np.isin(ids, enough)]
        keep = np.sort(_sample(len(ids), pairing.max_pairs, rng))
        report["possible_pairs"] = possible
        report["capped"] = _capped(possible, len(ids), len(keep), pairing)
        return ids[keep] // n, ids[keep] % n

    def likert_rows(self, a, b, pairing: PairingConfig, sign: int, rng, report: dict) -> list[dict]:
        scores: dict[int, dict[str, Rating]] = defaultdict(dict)
        for user in self.users:
            for r in self.by_user[user]:
                scores[self.index[r.item]][r.user] = r
        rows = []
        flip = rng.random(len(a)) < 0.5
        for i, j, f in zip(a.tolist(), b.tolist(), flip.tolist(), strict=True):
            if f:
                i, j = j, i
            ra, rb = scores[i], scores[j]
            common = sorted(set(ra) & set(rb))
            labels = [graded(sign * (ra[u].score - rb[u].score)) for u in common]
            if pairing.ties == "drop" and not any(labels):
                continue
            first = ra[common[0]]
            rows.append(
                {
                    "prompt": first.prompt,
                    "left": first.text,
                    "right": rb[common[0]].text,
                    "labels": labels,
                    "likert_left": _likert_scores([r.score for r in ra.values()], pairing),
                    "likert_right": _likert_scores([r.score for r in rb.values()], pairing),
                    "left_item": self.items[i],
                    "right_item": self.items[j],
                    "annotators": common,
                }
            )
        return rows


def _sample(n: int, cap: int, rng) -> np.ndarray:
    """Indices of a uniform sample of ``cap`` of ``n`` (all of them, in order, when ``cap`` is 0 or >= n)."""
    if not cap or n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, cap, replace=False))


def _capped(possible: int, after_per_user: int, kept: int, pairing: PairingConfig) -> str:
    """Which cap cut the pairs down, in words ("" when none did)."""
    why = []
    if pairing.pairs_per_user and after_per_user < possible:
        why.append(f"--pairs-per-user {pairing.pairs_per_user}")
    if pairing.max_pairs and kept < after_per_user:
        why.append(f"--max-pairs {pairing.max_pairs}")
    return " and ".join(why)


def _add_split(
    rows: list[dict], split: SplitConfig, item_groups: dict[str, str] | None, report: dict
) -> None:
    """Give every row a split: item-disjoint when items have groups (rows whose items fall in two groups are
    dropped, and counted), else drawn per user as fit-head draws them."""
    users = np.array([r.get("user", "") for r in rows], dtype=str)
    if item_groups is None:
        for row, s in zip(rows, draw_splits(users, split), strict=True):
            row["split"] = s
        return
    left = np.array([item_groups.get(r["left_item"], "") for r in rows], dtype=object)
    right = np.array([item_groups.get(r["right_item"], "") for r in rows], dtype=object)
    splits = split_by_items(users, left, right, split)
    kept = [dict(row, split=s) for row, s in zip(rows, splits, strict=True) if s]
    report["dropped_across_item_splits"] = len(rows) - len(kept)
    rows[:] = kept


def _preferred(rows: list[dict], by_user: dict[str, list[Rating]], pairing: PairingConfig) -> dict:
    """Which end of the scale is preferred (``pairing.prefer``), shown on the first pair that prefers a side:
    its annotator, the preferred item and the other, each with that annotator's score and its text."""
    out: dict = {"prefer": pairing.prefer, "rule": f"the item with the {pairing.prefer} score is preferred"}
    for r in rows:
        if r.get("label"):
            user, lab = r["user"], r["label"]
        elif r.get("labels") and any(r["labels"]):
            k = next(i for i, v in enumerate(r["labels"]) if v)
            user, lab = r["annotators"][k], r["labels"][k]
        else:
            continue
        scores = {x.item: x.score for x in by_user[user]}
        sides = [(r["left_item"], r["left"]), (r["right_item"], r["right"])]
        won, lost = sides if lab > 0 else sides[::-1]
        out["example"] = {
            "user": user,
            "preferred": {"item": won[0], "score": scores[won[0]], "text": won[1][:200]},
            "other": {"item": lost[0], "score": scores[lost[0]], "text": lost[1][:200]},
        }
        break
    return out


def _likert_scores(scores: list[float], pairing: PairingConfig) -> list[int]:
    out = []
    for s in scores:
        if pairing.likert_range is not None:
            lo, hi = pairing.likert_range
            s = 1 + 4 * (s - lo) / (hi - lo)
        v = int(round(s))
        if not 1 <= v <= 5:
            raise ValueError(
                f"score {s:g} is outside 1..5; give --likert-range LO,HI to map the scale onto 1..5"
            )
        out.append(v if pairing.prefer == "higher" else 6 - v)  # Likert heads take higher = preferred
    return out
