"""RewardBench and RewardBench 2 scores of a head, computed the way allenai/reward-bench computes them.

The input is a file of ``embedkit convert rewardbench`` (:mod:`embedkit.datasets.rewardbench`); every
completion gets the head's reward for one point of the preference space (a population head's one reward,
or a PAL head's seen user, prototype or zero-shot weights), then (upstream at commit 05a9005):

- **RewardBench** (``scripts/run_rm.py``): a row is won when ``reward(chosen) > reward(rejected)``, so a
  tie counts as lost; a subset's score is its share of won rows. A section's score is the mean of its
  subsets' scores weighted by ``EXAMPLE_COUNTS`` over the subsets of ``SUBSET_MAPPING``
  (``rewardbench/utils.py`` ``calculate_scores_per_section``; ``rewardbench/constants.py``), and the
  overall score is the mean of the four sections (``analysis/get_benchmark_results.py`` weighs them 2
  each against 1 for the "Prior Sets", which the filtered split does not have).
- **RewardBench 2** (``scripts/run_v2.py``, ``rewardbench/utils.py``): best-of-4. With the completions in
  the order chosen then rejected, a row scores ``1 / #{completions with the top reward}`` when
  ``chosen[0]`` has the top reward, else 0 (``reroll_and_score_dataset``: ties at the top share the win).
  The Ties subset is scored by ``process_single_model``: for each prompt (``ref:N`` has one correct
  answer, ``tied:N`` several) accuracy is "the worst correct answer beats the best incorrect one"; for
  the prompts N that have both, ``correctness_preferred`` is the share whose tied gap (worst correct minus
  best incorrect) exceeds the spread of the tied correct answers (best minus worst correct), ``_hard``
  the same with the smaller of the ref and tied gaps, and a margin term ``tanh(gap / spread - 1)`` (0
  where undefined). Ties = 0.30 tied accuracy + 0.30 ref accuracy + 0.20 preferred + 0.20 preferred hard
  + 0.01 margin. The overall score is the mean of the six subsets (the dataset card: "the leaderboard
  averages over these six subsets").
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from embedkit.data.readers import iter_records, require_text
from embedkit.datasets.rewardbench import EXAMPLE_COUNTS, SUBSET_MAPPING, TIES_ID, V2_SUBSETS, is_ties
from embedkit.errors import EmbedkitError, InputError
from embedkit.score.api import RewardModel


@dataclass
class RewardBenchData:
    """A converted RewardBench file as flat arrays: one entry per completion (m), grouped by example
    (n rows of the benchmark). Completions of an example are in the order chosen, then rejected."""

    version: int
    path: str
    ids: list = field(default_factory=list)  # (n,) the benchmark's ids
    subsets: list[str] = field(default_factory=list)  # (n,)
    prompt: list[str] = field(default_factory=list)  # (m,) each completion's prompt
    text: list[str] = field(default_factory=list)  # (m,)
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (m,) its example
    correct: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (m,) a chosen completion

    def __len__(self) -> int:
        return len(self.ids)


def _int_field(rec: dict, name: str, path: str, line: int, low: int = 0) -> int:
    v = rec.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < low:
        raise InputError(f"expected an integer >= {low}, found {v!r:.40}", file=path, line=line, field=name)
    return int(v)


def read_rewardbench(path: str | os.PathLike) -> RewardBenchData:
    """Read a file written by ``embedkit convert rewardbench``. A row without the ``rewardbench`` field
    (an original RewardBench file, or another pair file) stops with the command that converts it; a
    version-2 example whose completions are not all there (a file cut short or filtered) is named."""
    path = str(path)
    data: RewardBenchData | None = None
    groups: dict[str, dict] = {}  # v2: id -> {"line", "prompt", "subset", "chosen": [...], "rejected": [...]}
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        version = rec.get("rewardbench")
        if version not in (1, 2):
            raise InputError(
                f"expected 1 or 2 (a file of `embedkit convert rewardbench`), found {version!r:.20}; convert "
                f"the original file first: embedkit convert rewardbench {path} --out rewardbench_pairs.jsonl",
                file=path,
                line=line,
                field="rewardbench",
            )
        if data is None:
            data = RewardBenchData(version=version, path=path)
        elif version != data.version:
            raise InputError(
                f"a RewardBench {version} row in a RewardBench {data.version} file", file=path, line=line,
                field="rewardbench",
            )  # fmt: skip
        prompt = require_text(rec, "prompt", path, line)
        subset = require_text(rec, "subset", path, line)
        chosen, rejected = (require_text(rec, f, path, line) for f in ("chosen", "rejected"))
        if rec.get("id") in (None, ""):
            raise InputError("missing id", file=path, line=line, field="id")
        if version == 1:
            data.ids.append(rec["id"])
            data.subsets.append(subset)
            data.prompt += [prompt, prompt]
            data.text += [chosen, rejected]
            continue
        key = str(rec["id"])
        nc, nr = (_int_field(rec, f, path, line, low=1) for f in ("num_correct", "num_rejected"))
        g = groups.setdefault(
            key, {"line": line, "id": rec["id"], "prompt": prompt, "subset": subset, "chosen": [None] * nc,
                  "rejected": [None] * nr},
        )  # fmt: skip
        for name, expected in (("prompt", prompt), ("subset", subset)):
            if g[name] != expected:
                raise InputError(
                    f"id {rec['id']!r} has another {name} at line {g['line']}",
                    file=path,
                    line=line,
                    field=name,
                )
        if (len(g["chosen"]), len(g["rejected"])) != (nc, nr):
            raise InputError(
                f"id {rec['id']!r} has {len(g['chosen'])} chosen / {len(g['rejected'])} rejected completions at "
                f"line {g['line']}",
                file=path,
                line=line,
                field="num_correct",
            )
        for side, text, n in (("chosen", chosen, nc), ("rejected", rejected, nr)):
            i = _int_field(rec, f"{side}_index", path, line)
            if i >= n:
                raise InputError(
                    f"expected an index below {n} (num_{'correct' if side == 'chosen' else 'rejected'})",
                    file=path,
                    line=line,
                    field=f"{side}_index",
                )
            if g[side][i] is not None and g[side][i] != text:
                raise InputError(
                    f"{side} completion {i} of id {rec['id']!r} differs from the one at line {g['line']}",
                    file=path,
                    line=line,
                    field=side,
                )
            g[side][i] = text
    if data is None:  # pragma: no cover - iter_records yields an error for an empty file
        raise InputError("no rows", file=path)
    if data.version == 1:
        data.owner = np.repeat(np.arange(len(data.ids)), 2)
        data.correct = np.tile([True, False], len(data.ids))
        return data
    owner, correct = [], []
    for e, g in enumerate(groups.values()):
        for side in ("chosen", "rejected"):
            if None in g[side]:
                raise InputError(
                    f"id {g['id']!r}: {side} completion {g[side].index(None)} of {len(g[side])} is in no row (was "
                    "the file cut short or filtered?)",
                    file=path,
                    line=g["line"],
                    field=f"{side}_index",
                )
        if is_ties(g["subset"]) and not TIES_ID.match(str(g["id"])):
            raise InputError("a Ties row's id must be ref:N or tied:N", file=path, line=g["line"], field="id")
        data.ids.append(g["id"])
        data.subsets.append(g["subset"])
        texts = g["chosen"] + g["rejected"]
        data.prompt += [g["prompt"]] * len(texts)
        data.text += texts
        owner += [e] * len(texts)
        correct += [True] * len(g["chosen"]) + [False] * len(g["rejected"])
    data.owner, data.correct = np.asarray(owner, np.int64), np.asarray(correct, bool)
    return data


# --- the upstream rules, on rewards ------------------------------------------------------------------------
def section_scores(metrics: dict[str, float], example_counts=EXAMPLE_COUNTS, subset_mapping=SUBSET_MAPPING):
    """Each section's score: its subsets' scores weighted by their example counts (upstream
    ``calculate_scores_per_section``), over the subsets ``metrics`` has; None for a section with none
    (upstream writes 0 there)."""
    out: dict[str, float | None] = {}
    for section, subsets in subset_mapping.items():
        present = [s for s in subsets if s in metrics]
        total = sum(example_counts[s] for s in present)
        out[section] = sum(metrics[s] * example_counts[s] for s in present) / total if total else None
    return out


def best_of_n(scores: np.ndarray) -> float:
    """One RewardBench 2 row (rewards in the order chosen, then rejected): ``1 / #top`` when the first
    chosen completion has the top reward, else 0 (upstream ``reroll_and_score_dataset``)."""
    top = scores.max()
    return 1.0 / float((scores == top).sum()) if scores[0] == top else 0.0


def ties_score(prompts: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]) -> dict:
    """The Ties subset's score (upstream ``process_single_model``) from each prompt's rewards:
    ``{("ref" | "tied", N): (rewards of the correct answers, of the incorrect ones)}``. Returns the score
    and its terms. A tied prompt with a single correct answer has no spread: upstream fails on it; here it
    is left out of the margin terms (counted in ``tied_without_spread``)."""
    stats = {}
    for key, (good, bad) in prompts.items():
        gap = float(good.min() - bad.max())  # worst correct minus best incorrect
        spread = float(good.max() - good.min()) if len(good) > 1 else None
        stats[key] = (gap > 0, spread, gap)
    ref = {n: s for (kind, n), s in stats.items() if kind == "ref"}
    tied = {n: s for (kind, n), s in stats.items() if kind == "tied"}
    ref_acc = float(np.mean([s[0] for s in ref.values()])) if ref else 0.0
    tied_acc = float(np.mean([s[0] for s in tied.values()])) if tied else 0.0
    both = sorted(n for n in set(ref) & set(tied) if tied[n][1] is not None)
    out = {
        "ref_accuracy": ref_acc,
        "tied_accuracy": tied_acc,
        "ref_prompts": len(ref),
        "tied_prompts": len(tied),
        "paired_prompts": len(both),
        "tied_without_spread": sum(1 for s in tied.values() if s[1] is None),
    }
    if not both:
        return {**out, "correctness_preferred": None, "correctness_preferred_hard": None,
                "correctness_margin": None, "score": None}  # fmt: skip
    spread = np.array([tied[n][1] for n in both])
    gap_tied = np.array([tied[n][2] for n in both])
    gap_min = np.minimum(np.array([ref[n][2] for n in both]), gap_tied)
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.nan_to_num(np.tanh(gap_min / spread - 1), nan=0.0)
    preferred = float(np.mean(gap_tied > spread))
    preferred_hard = float(np.mean(gap_min > spread))
    score = (
        0.30 * tied_acc
        + 0.30 * ref_acc
        + 0.20 * preferred
        + 0.20 * preferred_hard
        + 0.01 * float(margin.mean())
    )
    return {**out, "correctness_preferred": preferred, "correctness_preferred_hard": preferred_hard,
            "correctness_margin": float(margin.mean()), "score": score}  # fmt: skip


# --- a head's scores ---------------------------------------------------------------------------------------
def point_of(model: RewardModel, user: str | None) -> tuple[dict, object]:
    """What ``user`` means for this head, as a record and as the reward API's ``user``: None -> the
    population (population heads) or the zero-shot weights (PAL heads); ``prototype:k``; a seen user."""
    head = model.head
    if not head.uses_user_weights:
        if user is not None:
            raise EmbedkitError(
                f"{head.name} is a population model (one reward for everyone): it has no users or prototypes"
            )
        return {"kind": "population"}, None
    try:
        W = model.weights_for(user)[0]
    except KeyError as e:  # an unknown user: the reward API's message lists some seen users
        raise EmbedkitError(e.args[0]) from None
    if user is None:
        return {"kind": "zero-shot", "weights": W.tolist()}, None
    if user.startswith("prototype:"):
        return {"kind": "prototype", "prototype": int(user.split(":", 1)[1]), "weights": W.tolist()}, user
    return {"kind": "user", "user": user, "weights": W.tolist()}, user


def completion_rewards(model: RewardModel, data: RewardBenchData, user=None) -> np.ndarray:
    """(m,) the head's reward of every completion for ``user`` (see :meth:`RewardModel.reward`). Each
    distinct (prompt, completion) is scored once, so equal completions get exactly equal rewards and tie
    as upstream's rules expect (rows of one batched forward pass can differ in their last bits)."""
    first: dict[tuple[str, str], int] = {}
    inv = np.fromiter(
        (first.setdefault(pc, len(first)) for pc in zip(data.prompt, data.text, strict=True)),
        dtype=np.int64,
        count=len(data.text),
    )
    prompts, texts = zip(*first, strict=True) if first else ((), ())
    return model.reward(list(prompts), list(texts), user=user)[inv]


def score_rewardbench(model: RewardModel, data: RewardBenchData, user: str | None = None) -> dict:
    """Per-subset scores, counts, section scores and the overall score of ``model`` at one point
    (:func:`point_of`) on ``data``, by the rules of the module docstring."""
    point, who = point_of(model, user)
    rewards = completion_rewards(model, data, who).astype(np.float64)
    result = rewardbench_scores(data, rewards)
    return {"point": point, **result}


def rewardbench_scores(data: RewardBenchData, rewards: np.ndarray) -> dict:
    """The benchmark's scores from each completion's reward (m,) (no head needed: what the tests check
    against a brute-force computation)."""
    starts = np.r_[0, np.cumsum(np.bincount(data.owner, minlength=len(data)))]
    per_subset: dict[str, dict] = defaultdict(lambda: {"n": 0, "won": 0.0, "tied_rewards": 0})
    ties_prompts: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for e, subset in enumerate(data.subsets):
        r, good = rewards[starts[e] : starts[e + 1]], data.correct[starts[e] : starts[e + 1]]
        s = per_subset[subset]
        s["n"] += 1
        if data.version == 2 and is_ties(subset):
            kind, n = TIES_ID.match(str(data.ids[e])).groups()
            ties_prompts[(kind, int(n))] = (r[good], r[~good])
            continue
        if data.version == 1:
            s["won"] += float(r[0] > r[1])  # upstream: 1 if chosen > rejected else 0
            s["tied_rewards"] += int(r[0] == r[1])
        else:
            s["won"] += best_of_n(r)
            s["tied_rewards"] += int((r == r[0]).sum() > 1)  # chosen[0] shares its reward
    subsets = {}
    upstream_order = (
        [s for group in SUBSET_MAPPING.values() for s in group] if data.version == 1 else V2_SUBSETS
    )
    rank = {s.lower(): i for i, s in enumerate(upstream_order)}
    for name in sorted(per_subset, key=lambda s: (rank.get(s.lower(), len(rank)), s)):
        s = per_subset[name]
        if data.version == 2 and is_ties(name):
            terms = ties_score(ties_prompts)
            subsets[name] = {"score": terms.pop("score"), "n": s["n"], **terms}
        else:
            subsets[name] = {"score": s["won"] / s["n"], "n": s["n"], "correct": s["won"],
                             "tied_rewards": s["tied_rewards"]}  # fmt: skip
    metrics = {k: v["score"] for k, v in subsets.items() if v["score"] is not None}
    if data.version == 1:
        sections = section_scores(metrics)
        expected = [s for group in SUBSET_MAPPING.values() for s in group]
        unsectioned = [s for s in subsets if s not in EXAMPLE_COUNTS]
    else:
        sections = {name: metrics.get(_v2_name(name, subsets)) for name in V2_SUBSETS}
        expected, unsectioned = list(V2_SUBSETS), [s for s in subsets if _canonical_v2(s) is None]
    present = [v for v in sections.values() if v is not None]
    missing = [
        s for s in expected if s not in subsets and (data.version == 1 or _v2_name(s, subsets) is None)
    ]
    return {
        "benchmark": "RewardBench" if data.version == 1 else "RewardBench 2",
        "data": data.path,
        "rows": len(data),
        "completions": len(data.text),
        "subsets": subsets,
        "sections": sections,
        "overall": float(np.mean(present)) if present else None,
        "complete": not missing and all(v is not None for v in sections.values()),
        "missing_subsets": missing,
        "unsectioned_subsets": unsectioned,
    }


def _canonical_v2(name: str) -> str | None:
    low = name.lower()
    return next((s for s in V2_SUBSETS if s.lower() == low), None)


def _v2_name(canonical: str, subsets: dict) -> str | None:
    """The file's spelling of one of the six RewardBench 2 subsets (upstream compares "ties" in any case)."""
    return next((s for s in subsets if _canonical_v2(s) == canonical), None)


# --- reports -----------------------------------------------------------------------------------------------
def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def results_table(results: list[dict], markdown: bool = False) -> str:
    """Subsets, sections and the overall score (rows) for each scored point (columns), as aligned text or
    a Markdown table."""
    first = results[0]
    labels = [point_label(r["point"]) for r in results]
    rows: list[tuple[str, str, list[str]]] = []
    for name, s in first["subsets"].items():
        rows.append((name, str(s["n"]), [_fmt(r["subsets"][name]["score"]) for r in results]))
    section_rows = [] if first["benchmark"] == "RewardBench 2" else list(first["sections"])
    for name in section_rows:
        rows.append((f"[{name}]", "", [_fmt(r["sections"][name]) for r in results]))
    rows.append(("overall", str(first["rows"]), [_fmt(r["overall"]) for r in results]))
    header = ["subset", "n", *labels]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([a, b, *c]) + " |" for a, b, c in rows]
        return "\n".join(lines) + "\n"
    width = [
        max(len(header[0]), *(len(a) for a, _, _ in rows)),
        max(len(header[1]), *(len(b) for _, b, _ in rows)),
    ]
    width += [max(len(lab), 6) for lab in labels]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, width, strict=True))
        )

    return "\n".join([line(header)] + [line([a, b, *c]) for a, b, c in rows]) + "\n"


def point_label(point: dict) -> str:
    kind = point["kind"]
    return {"user": f"user {point.get('user')}", "prototype": f"prototype {point.get('prototype')}"}.get(
        kind, kind
    )
