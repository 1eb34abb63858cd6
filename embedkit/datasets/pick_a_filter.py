"""Pick-a-Filter (PAL appendix B; ``embedkit build pick-a-filter``), built from a Pick-a-Pic pair file
converted by ``embedkit.datasets.pick_a_pic``. Appendix B step by step:

1. keep the pairs without a tie;
2. keep the users with pairs in both the source train and test splits, and of those the users with more
   than ``min_labels`` (50) pairs;
3. sort those users by their number of pairs (most first; ties by user id) and split them into two
   groups of equal size by alternating ranks — ranks 1, 3, 5, ... form G1, ranks 2, 4, 6, ... G2 — so
   both groups have similar totals (the paper's Table 5: 68,358 and 66,602 training pairs), rather than
   the most active half against the rest; G1 prefers cold tones (the blue filter), G2 warm tones (red);
4. the first ``seen_users`` users of each group (by count) are seen, the rest unseen;
5. for each user a fraction beta (``mixture_ratio``) of their pairs is shortlisted at random; in half of
   the shortlist (chosen at random) the winning image gets the group's winning filter, in the other half
   the losing image gets the losing filter (the other colour). Labels are unchanged, so the user's
   choices now agree with their group's colour taste; the other pairs are untouched.

The filter is a colour overlay: every pixel becomes ``(1 - s) * pixel + s * colour`` with colour pure
blue ``(0, 0, 255)`` or pure red ``(255, 0, 0)`` and strength ``s`` = ``tint`` (default 0.3), applied
with numpy to the decoded RGB image and saved as PNG under ``images/`` of the output by content hash; the
unfiltered images are hard-linked (or copied) there too, so the output folder is self-contained.

Every output row records ``group`` (``cold`` / ``warm``), ``filtered`` (``none``, ``winner`` or
``loser``), ``user_split`` (``seen`` / ``unseen``) and an embedkit ``split``: a seen user's source train
/ validation / test pairs become ``train`` / ``val`` / ``test``; an unseen user's train and validation
pairs become ``fewshot`` (to fit their weights) and their test pairs ``unseen_test``. A report
(``report.json``) gives the counts of the paper's Table 5: pairs per group, seen/unseen and source split.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embedkit.atomic import write_text
from embedkit.data.readers import iter_records, write_jsonl
from embedkit.datasets.pick_a_pic import SOURCE_SPLITS, ImageStore
from embedkit.errors import InputError
from embedkit.options import opt

COLOURS = {"blue": (0.0, 0.0, 255.0), "red": (255.0, 0.0, 0.0)}
GROUPS = {"cold": ("blue", "red"), "warm": ("red", "blue")}  # group: (winning filter, losing filter)


@dataclass(frozen=True)
class PickAFilterConfig:
    """PAL appendix B's construction; the options of ``embedkit build pick-a-filter``."""

    mixture_ratio: float = opt(
        0.5, "beta: the share of each user's pairs that get a colour filter.", min=0, max=1
    )
    seen_users: int = opt(
        50, "The most active users of each group who are seen (the rest are new users).", min=0
    )
    min_labels: int = opt(50, "Keep users with more than this many non-tie pairs.", min=0)
    tint: float = opt(
        0.3,
        "Filter strength s: pixel -> (1 - s) pixel + s colour (pure blue or pure red).",
        min=0,
        max=1,
        min_open=True,
    )
    seed: int = opt(0, "Seed of the shortlists.")

    def validate(self) -> None:
        if not 0 <= self.mixture_ratio <= 1:
            raise ValueError(f"--mixture-ratio must be in [0, 1], got {self.mixture_ratio}")
        if not 0 < self.tint <= 1:
            raise ValueError(f"--tint must be in (0, 1], got {self.tint}")
        if self.seen_users < 0 or self.min_labels < 0:
            raise ValueError("--seen-users and --min-labels must be >= 0")


def apply_filter(img, colour: str, strength: float):
    """The colour overlay of the module docstring, on a PIL image; returns an RGB PIL image."""
    from PIL import Image

    arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    out = (1.0 - strength) * arr + strength * np.asarray(COLOURS[colour], dtype=np.float32)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def assign_groups(counts: dict[str, int], seen_users: int) -> dict[str, tuple[str, bool]]:
    """user -> (group, seen): sort by count (most first, then id), alternate ranks into cold / warm, the
    first ``seen_users`` of each group seen."""
    order = sorted(counts, key=lambda u: (-counts[u], u))
    out, taken = {}, Counter()
    for rank, u in enumerate(order):
        group = "cold" if rank % 2 == 0 else "warm"
        out[u] = (group, taken[group] < seen_users)
        taken[group] += 1
    return out


def _embedkit_split(source_split: str, seen: bool) -> str:
    if seen:
        return {"train": "train", "validation": "val", "test": "test"}[source_split]
    return "unseen_test" if source_split == "test" else "fewshot"


def build_pick_a_filter(
    pairs_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: PickAFilterConfig = PickAFilterConfig(),
    progress: bool = False,
) -> dict:
    """Write ``out_dir/pairs.jsonl`` (with ``images/`` of the filtered images) and ``report.json`` from a
    converted Pick-a-Pic pair file; returns the report. See the module docstring for the construction."""
    from PIL import Image
    from tqdm.auto import tqdm

    from embedkit.data.images import resolve_image_path

    cfg.validate()
    src = Path(pairs_path)
    out = Path(out_dir)
    rows = []
    for line, rec in iter_records(src):
        if isinstance(rec, InputError):
            raise rec
        for f in ("user", "left", "right", "label", "source_split"):
            if rec.get(f) in (None, ""):
                raise InputError(
                    "expected a pair file written by `embedkit convert pick-a-pic`",
                    file=str(src),
                    line=line,
                    field=f,
                )
        if rec["label"] not in ("left", "right", "tie"):
            raise InputError(
                f"label must be left, right or tie, got {rec['label']!r}",
                file=str(src),
                line=line,
                field="label",
            )
        if rec["source_split"] not in SOURCE_SPLITS:
            raise InputError(
                f"source_split must be one of {', '.join(SOURCE_SPLITS)}, got {rec['source_split']!r}",
                file=str(src),
                line=line,
                field="source_split",
            )
        rec["_line"] = line
        rows.append(rec)
    kept = [r for r in rows if r["label"] != "tie"]  # 1. no ties
    splits_of = defaultdict(set)
    for r in kept:
        splits_of[str(r["user"])].add(r["source_split"])
    both = {u for u, s in splits_of.items() if {"train", "test"} <= s}  # 2. in train and test
    counts = Counter(str(r["user"]) for r in kept if str(r["user"]) in both)
    active = {u: c for u, c in counts.items() if c > cfg.min_labels}  # ... with more than 50 labels
    if len(active) < 2:
        raise InputError(
            f"only {len(active)} user(s) have pairs in both train and test and more than {cfg.min_labels} non-tie "
            f"pairs ({len(both)} are in both splits; {len(kept)} of {len(rows)} pairs are not ties); two groups "
            "need at least 2: lower --min-labels or give more data",
            file=str(src),
        )
    groups = assign_groups(active, cfg.seen_users)  # 3. + 4.
    rng = np.random.default_rng(cfg.seed)
    by_user = defaultdict(list)
    for r in kept:
        if str(r["user"]) in groups:
            by_user[str(r["user"])].append(r)
    # 5. per user: shortlist beta of the pairs; half of them filter the winner, the other half the loser
    plan = {}
    for u in sorted(by_user):
        user_rows = by_user[u]
        n_short = int(round(cfg.mixture_ratio * len(user_rows)))
        short = rng.permutation(len(user_rows))[:n_short]
        winners = set(rng.permutation(short)[: n_short // 2 + (n_short % 2) * int(rng.integers(2))].tolist())
        for i in short.tolist():
            plan[id(user_rows[i])] = "winner" if i in winners else "loser"
    store = ImageStore(out)
    filtered_cache: dict[tuple[str, str], str] = {}

    def filtered(rel: str, colour: str, line: int, field: str) -> str:
        key = (rel, colour)
        if key not in filtered_cache:
            path = resolve_image_path(rel, src, line, field)
            with Image.open(path) as img:
                buf = io.BytesIO()
                apply_filter(img, colour, cfg.tint).save(buf, format="PNG")
            filtered_cache[key] = store.put(buf.getvalue(), ".png")
        return filtered_cache[key]

    copied: dict[str, str] = {}

    def rel_to_out(rel: str, line: int, field: str) -> str:
        """Unfiltered images are linked (or copied) under OUT too: image paths must stay under the pair
        file's folder."""
        if rel not in copied:
            copied[rel] = store.put_file(resolve_image_path(rel, src, line, field))
        return copied[rel]

    out.mkdir(parents=True, exist_ok=True)
    table: Counter = Counter()
    out_rows = []
    for u in tqdm(sorted(by_user), desc="pick-a-filter", unit="user", disable=not progress):
        group, seen = groups[u]
        win_colour, lose_colour = GROUPS[group]
        for r in by_user[u]:
            what = plan.get(id(r), "none")
            line = r["_line"]
            left, right = rel_to_out(r["left"], line, "left"), rel_to_out(r["right"], line, "right")
            winner_side = r["label"]  # left or right
            if what == "winner":
                if winner_side == "left":
                    left = filtered(r["left"], win_colour, line, "left")
                else:
                    right = filtered(r["right"], win_colour, line, "right")
            elif what == "loser":
                if winner_side == "left":
                    right = filtered(r["right"], lose_colour, line, "right")
                else:
                    left = filtered(r["left"], lose_colour, line, "left")
            row = {k: v for k, v in r.items() if k != "_line"}
            row.update(
                left=left,
                right=right,
                group=group,
                filtered=what,
                user_split="seen" if seen else "unseen",
                split=_embedkit_split(r["source_split"], seen),
            )
            out_rows.append(row)
            table[(group, "seen" if seen else "unseen", r["source_split"])] += 1
    report = {
        "source": str(src),
        "config": asdict(cfg),
        "pairs_in": len(rows),
        "ties_dropped": len(rows) - len(kept),
        "users_in_train_and_test": len(both),
        "users_kept": len(groups),
        "users": {
            g: {
                s: sum(1 for gg, ss in groups.values() if gg == g and ss == (s == "seen"))
                for s in ("seen", "unseen")
            }
            for g in GROUPS
        },
        "pairs": len(out_rows),
        "filtered": dict(Counter(r["filtered"] for r in out_rows)),
        "images_written": store.written,
        "table5": {
            g: {s: {sp: table[(g, s, sp)] for sp in SOURCE_SPLITS} for s in ("seen", "unseen")}
            for g in GROUPS
        },
    }
    write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    write_jsonl(out / "pairs.jsonl", out_rows, ensure_ascii=False)  # last: pairs.jsonl = a complete build
    return report


def table5_lines(report: dict) -> list[str]:
    """The report's counts as the rows of PAL's Table 5 (pairs per group, seen / unseen and split)."""
    lines = [f"{'pairs':<26}{'train':>8}{'val':>8}{'test':>8}{'users':>8}"]
    for g, label in (("cold", "G1 cold (blue)"), ("warm", "G2 warm (red)")):
        total: Counter = Counter()
        for s in ("seen", "unseen"):
            c = report["table5"][g][s]
            total.update(c)
            lines.append(
                f"{label + ', ' + s:<26}{c['train']:>8}{c['validation']:>8}{c['test']:>8}{report['users'][g][s]:>8}"
            )
        users = sum(report["users"][g].values())
        lines.append(
            f"{label + ', total':<26}{total['train']:>8}{total['validation']:>8}{total['test']:>8}{users:>8}"
        )
    return lines


def summary_lines(report: dict, cfg: PickAFilterConfig, out_dir: str | os.PathLike, **_) -> list[str]:
    """What ``embedkit build pick-a-filter`` prints: the counts, Table 5 (:func:`table5_lines`), the files."""
    counts = (
        f"{report['users_kept']} users ({report['users_in_train_and_test']} with pairs in train and test), "
        f"{report['pairs']} pairs ({report['ties_dropped']} ties dropped); filtered: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report["filtered"].items()))
    )
    return [counts, *table5_lines(report), f"wrote {out_dir}/pairs.jsonl, images/ and report.json"]
