"""Per-item ratings -> preference pairs (``embedkit convert ratings``).

Much pluralistic data is one row per (annotator, item, score): offensiveness or toxicity on 1-5, Likert
helpfulness, from a few hundred annotators who each rate tens of items, each item rated by several of
them. Two ways to turn it into the pair format:

- **per annotator** (default, for PAL heads): pairs are drawn within each annotator, from two items that
  annotator rated; the annotator's scores decide the label (a difference of 1 is a slight preference, 2
  or more a strong one, equal scores a tie), left/right order is random, and ``user`` is the annotator.
  A ``split`` column is drawn like fit-head draws splits (seen and unseen annotators, few-shot share).
- **multi-annotator** (``likert=True``, for mean-variance and Likert heads): pairs of items rated by at
  least one common annotator, with ``labels`` (one graded label per common annotator) and
  ``likert_left`` / ``likert_right`` (every score each item received, on 1-5, turned round with
  ``prefer="lower"`` so that 5 is always the preferred end).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from embedkit.data.readers import iter_records
from embedkit.data.splits import SplitConfig, draw_splits
from embedkit.errors import InputError
from embedkit.options import REQUIRED, float_range, opt

DEFAULT_PROMPT = "Which of these two do you prefer?"


@dataclass(frozen=True)
class RatingsConfig:
    """How per-item ratings become pairs; the options of ``embedkit convert ratings``."""

    user: str = opt(REQUIRED, "Field with the annotator id.")
    item: str = opt(REQUIRED, "Field with the item id (the same item rated by several annotators).")
    text: str = opt(REQUIRED, "Field with the item's text (what gets embedded).")
    score: str = opt(REQUIRED, "Field with the annotator's score (a number).")
    prefer: str = opt(
        "higher",
        "Which end of the scale is preferred (lower for offensiveness or toxicity).",
        choices=("higher", "lower"),
    )
    prompt: str | None = opt(None, f"The prompt of every pair (default: {DEFAULT_PROMPT!r}).")
    prompt_field: str | None = opt(None, "Or: a field with each item's prompt.")
    pairs_per_user: int = opt(
        0, "At most this many pairs per annotator, drawn at random (0 = every pair of their items).", min=0
    )
    ties: str = opt("keep", "Keep equal scores as ties, or drop them.", choices=("keep", "drop"))
    likert: bool = opt(
        False,
        "Multi-annotator pairs instead: items rated by common annotators, with per-annotator labels and "
        "likert_left/likert_right scores (for mean-var, mse, likert-kl).",
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
        if self.prompt is not None and self.prompt_field is not None:
            raise ValueError("give --prompt or --prompt-field, not both")
        if self.pairs_per_user < 0:
            raise ValueError("--pairs-per-user must be >= 0 (0 = all pairs)")


@dataclass
class Rating:
    user: str
    item: str
    text: str
    prompt: str
    score: float
    line: int


def read_ratings(
    path: str | os.PathLike, cfg: RatingsConfig, skip_bad: bool = False
) -> tuple[list[Rating], list[InputError]]:
    """Every rating row, checked: user, item, text present; score a finite number; no annotator rating
    one item twice with different scores, no item id with two different texts (the later row is the bad
    one). A row repeating an earlier one exactly is read once."""
    path = str(path)
    out, bad = [], []
    rated: dict[tuple[str, str], Rating] = {}  # (user, item) -> its rating
    texts: dict[str, Rating] = {}  # item -> the first rating naming it
    n = 0
    for line, rec in iter_records(path):
        n += 1
        try:
            if isinstance(rec, InputError):
                raise rec
            vals = {}
            for name, field in (("user", cfg.user), ("item", cfg.item), ("text", cfg.text)):
                v = rec.get(field)
                if (
                    v is None
                    or (isinstance(v, str) and not v.strip())
                    or isinstance(v, bool)
                    or not isinstance(v, str | int)
                ):
                    raise InputError(
                        "missing" if v is None else f"expected a non-empty string or id, found {v!r:.40}",
                        file=path,
                        line=line,
                        field=field,
                    )
                vals[name] = str(v)
            raw = rec.get(cfg.score)
            if raw is None or raw == "":
                raise InputError("missing score", file=path, line=line, field=cfg.score)
            try:
                score = float(raw) if not isinstance(raw, bool) else math.nan
            except (TypeError, ValueError):
                score = math.nan
            if not math.isfinite(score):
                raise InputError(f"score {raw!r:.40} is not a number", file=path, line=line, field=cfg.score)
            prompt = cfg.prompt or DEFAULT_PROMPT
            if cfg.prompt_field:
                p = rec.get(cfg.prompt_field)
                if not isinstance(p, str) or not p.strip():
                    raise InputError(
                        "expected a non-empty prompt", file=path, line=line, field=cfg.prompt_field
                    )
                prompt = p
            r = Rating(vals["user"], vals["item"], vals["text"], prompt, score, line)
            seen = texts.setdefault(r.item, r)
            if seen.text != r.text:
                raise InputError(
                    f"item {r.item!r} has another text here than on line {seen.line} (an item id must name "
                    "one text)",
                    file=path,
                    line=line,
                    field=cfg.text,
                )
            earlier = rated.setdefault((r.user, r.item), r)
            if earlier is not r:
                if earlier.score != r.score or earlier.prompt != r.prompt:
                    what, field = (
                        (f": {earlier.score:g} on line {earlier.line}, {r.score:g} here", cfg.score)
                        if earlier.score != r.score
                        else (f", under another prompt than on line {earlier.line}", cfg.prompt_field)
                    )
                    raise InputError(
                        f"annotator {r.user!r} rated item {r.item!r} twice{what}; keep one of the two rows",
                        file=path,
                        line=line,
                        field=field,
                    )
                continue  # the same rating again
            out.append(r)
        except InputError as e:
            if not skip_bad:
                raise
            bad.append(e)
    if not n:
        raise InputError("no rows found (empty file?)", file=path)
    return out, bad


def graded(diff: float) -> int:
    """Score difference (preferred direction positive) -> graded label: 0 tie, 1 slight, 2 strong."""
    return 0 if diff == 0 else int(math.copysign(2 if abs(diff) >= 2 else 1, diff))


def ratings_to_pairs(
    path: str | os.PathLike,
    cfg: RatingsConfig,
    split: SplitConfig | None = None,
    skip_bad: bool = False,
) -> tuple[list[dict], dict]:
    """(pair rows, report) from a ratings file; see the module docstring. ``split``: draw a split column
    with these fractions (per-annotator pairs only)."""
    cfg.validate()
    ratings, bad = read_ratings(path, cfg, skip_bad)
    sign = 1 if cfg.prefer == "higher" else -1
    rng = np.random.default_rng(cfg.seed)
    by_user: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        by_user[r.user].append(r)
    lonely = sorted(
        (u for u, rs in by_user.items() if len({r.item for r in rs}) < 2), key=lambda u: by_user[u][0].line
    )
    report = {
        "ratings": len(ratings),
        "annotators": len(by_user),
        "items": len({r.item for r in ratings}),
        "skipped_rows": [{"file": e.file, "line": e.line, "field": e.field, "error": e.reason} for e in bad],
        "annotators_with_one_item": [
            {"user": u, "file": str(path), "line": by_user[u][0].line} for u in lonely
        ],
    }
    rows = (
        _multi_annotator(ratings, cfg, sign, rng) if cfg.likert else _per_annotator(by_user, cfg, sign, rng)
    )
    if not cfg.likert and split is not None and rows:
        for row, s in zip(
            rows, draw_splits(np.array([r["user"] for r in rows], dtype=str), split), strict=True
        ):
            row["split"] = s
    report["pairs"] = len(rows)
    report["ties"] = sum(1 for r in rows if r.get("label") == 0 or r.get("labels") and not any(r["labels"]))
    return rows, report


def _per_annotator(by_user, cfg: RatingsConfig, sign: int, rng) -> list[dict]:
    rows = []
    for user in sorted(by_user, key=lambda u: by_user[u][0].line):
        rs = by_user[user]  # one rating per item (read_ratings refuses an item rated twice)
        if len(rs) < 2:
            continue
        i, j = np.triu_indices(len(rs), 1)
        if cfg.pairs_per_user and len(i) > cfg.pairs_per_user:
            keep = np.sort(rng.choice(len(i), cfg.pairs_per_user, replace=False))
            i, j = i[keep], j[keep]
        flip = rng.random(len(i)) < 0.5
        for a, b, f in zip(i.tolist(), j.tolist(), flip.tolist(), strict=True):
            left, right = (rs[b], rs[a]) if f else (rs[a], rs[b])
            g = graded(sign * (left.score - right.score))
            if g == 0 and cfg.ties == "drop":
                continue
            rows.append(
                {
                    "user": user,
                    "prompt": left.prompt,
                    "left": left.text,
                    "right": right.text,
                    "label": g,  # graded: + left preferred, 2 = strongly (a score difference of 2 or more)
                    "left_item": left.item,
                    "right_item": right.item,
                }
            )
    return rows


def _likert_scores(scores: list[float], cfg: RatingsConfig) -> list[int]:
    out = []
    for s in scores:
        if cfg.likert_range is not None:
            lo, hi = cfg.likert_range
            s = 1 + 4 * (s - lo) / (hi - lo)
        v = int(round(s))
        if not 1 <= v <= 5:
            raise ValueError(
                f"score {s:g} is outside 1..5; give --likert-range LO,HI to map the scale onto 1..5"
            )
        out.append(v if cfg.prefer == "higher" else 6 - v)  # Likert heads take higher = preferred
    return out


def _multi_annotator(ratings: list[Rating], cfg: RatingsConfig, sign: int, rng) -> list[dict]:
    items: dict[str, dict[str, Rating]] = defaultdict(dict)  # item -> user -> rating
    for r in ratings:
        items[r.item][r.user] = r
    names = sorted(items, key=lambda it: min(r.line for r in items[it].values()))
    rows = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            ra, rb = items[names[a]], items[names[b]]
            common = sorted(set(ra) & set(rb))
            if not common:
                continue
            if rng.random() < 0.5:
                ra, rb, na, nb = rb, ra, names[b], names[a]
            else:
                na, nb = names[a], names[b]
            labels = [graded(sign * (ra[u].score - rb[u].score)) for u in common]
            if cfg.ties == "drop" and all(g == 0 for g in labels):
                continue
            first = ra[common[0]]
            rows.append(
                {
                    "prompt": first.prompt,
                    "left": first.text,
                    "right": rb[common[0]].text,
                    "labels": labels,
                    "likert_left": _likert_scores([r.score for r in ra.values()], cfg),
                    "likert_right": _likert_scores([r.score for r in rb.values()], cfg),
                    "left_item": na,
                    "right_item": nb,
                    "annotators": common,
                }
            )
    return rows
