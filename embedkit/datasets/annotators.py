"""A semi-synthetic multi-annotator preference set from the persona statements (``embedkit build annotators``).

MultiPref and HelpSteer2 (Diverging Preferences) are not available here; this builds data with the same
shape from real text, so that distributional reward models can be compared on it:

- **Topics**: the persona files (art, literature, math, music by default). A pair is one statement's
  question with the responses "Yes" and "No" (in random left/right order).
- **Annotators**: a pool of simulated people. On each topic a person is a fan (+1), a critic (-1) or
  indifferent (0). The first ``divisive`` topics split the population (45% fans, 45% critics, 10%
  indifferent); the last ``agreed_ties`` topics leave nearly everyone indifferent (90%; 5% fans, 5%
  critics), so annotators agree that the two answers are about equal (high-agreement ties, the case
  Diverging Preferences shows single-value reward models confuse with disagreement); on the others
  nearly everyone agrees on a side (85% fans, 15% indifferent).
- **Judgments**: a fan prefers the answer a person with that interest would give (the statement's
  ``answer_matching_behavior``), a critic the other one, with a strength u = stance x intensity + noise
  (intensity uniform on [0.5, 2.5], noise N(0, sigma)). The graded label is u rounded to -2..2 (0 = tie,
  +-1 slight, +-2 significant, as in Diverging Preferences), and each annotator's Likert-5 scores of the
  two responses are 3 +- u/2, rounded to 1..5.
- **Diverging pairs**: at least one annotator on each side (the metric's definition); they concentrate
  on the divisive topics, which a model can learn from the statements' text.

Every row also carries what the Beyond-the-Binary reproduction needs: ``original_label`` (the first
annotator's binary choice, a tie broken at random), ``margin`` (eq. 3 over all judgments) and ``p_star``
(the share of annotators preferring left, ties counting 1/2), and the ground truth ``topic`` and
``divisive``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embedkit.atomic import write_text
from embedkit.data.pairs import join_in_context
from embedkit.data.readers import write_jsonl
from embedkit.datasets.persona import DEFAULT_PERSONA_DIR, TABLE1_ORDER, load_personas
from embedkit.options import csv_tuple, joined, opt


@dataclass(frozen=True)
class AnnotatorsConfig:
    """The semi-synthetic multi-annotator set; the options of ``embedkit build annotators``."""

    personas: tuple[str, ...] = opt(
        TABLE1_ORDER[:4], "Comma-separated persona topics.", parse=csv_tuple, show=joined
    )
    divisive: int = opt(2, "How many of the topics (the first ones) split the population.", min=0)
    agreed_ties: int = opt(
        0,
        "How many of the topics (the last ones) leave nearly everyone indifferent: high-agreement ties, "
        "which single-value reward models confuse with disagreement.",
        min=0,
    )
    pool: int = opt(200, "Simulated annotators in the population.", min=1)
    per_pair: int = opt(4, "Annotators per pair (MultiPref: 4).", min=1)
    noise: float = opt(0.5, "Standard deviation of the noise on each judgment's strength.", min=0)
    statements_per_topic: int = opt(1000, "Statements (pairs) per topic.", min=1)
    val_frac: float = opt(0.1, "Share of pairs for validation.", min=0, max=1)
    test_frac: float = opt(0.2, "Share of pairs for test.", min=0, max=1)
    seed: int = opt(0, "Seed of the population, the judgments and the splits.")

    def validate(self) -> None:
        if not 0 <= self.divisive <= len(self.personas):
            raise ValueError(f"--divisive must be in 0..{len(self.personas)}")
        if not 0 <= self.agreed_ties <= len(self.personas) - self.divisive:
            raise ValueError(
                f"--agreed-ties must be in 0..{len(self.personas) - self.divisive} (topics left after --divisive)"
            )
        if self.per_pair < 1 or self.pool < self.per_pair:
            raise ValueError("need --per-pair >= 1 annotators per pair and a --pool at least that large")
        if not 0 <= self.val_frac + self.test_frac < 1:
            raise ValueError("--val-frac + --test-frac must be < 1")


def build_annotators(
    out_dir: str | os.PathLike, cfg: AnnotatorsConfig = AnnotatorsConfig(), persona_dir=DEFAULT_PERSONA_DIR
) -> dict:
    """Write ``out_dir/pairs.jsonl`` and ``texts.jsonl``; return a summary (see the module docstring)."""
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    data = load_personas(persona_dir, list(cfg.personas))
    T = len(cfg.personas)
    stance = np.zeros((cfg.pool, T), dtype=np.int64)
    kinds = []
    for t in range(T):
        kind = "divisive" if t < cfg.divisive else "agreed_tie" if t >= T - cfg.agreed_ties else "consensual"
        kinds.append(kind)
        probs = {
            "divisive": (0.45, 0.45, 0.10),
            "agreed_tie": (0.05, 0.05, 0.90),
            "consensual": (0.85, 0.0, 0.15),
        }
        stance[:, t] = rng.choice([1, -1, 0], size=cfg.pool, p=probs[kind])  # fan, critic, indifferent
    rows, texts = [], {}
    for t, name in enumerate(cfg.personas):
        recs = data[name][: cfg.statements_per_topic]
        for rec in recs:
            q = rec["question"]
            matching = rec["answer_matching_behavior"].strip()  # "Yes" or "No"
            other = "No" if matching == "Yes" else "Yes"
            who = rng.choice(cfg.pool, cfg.per_pair, replace=False)
            intensity = rng.uniform(0.5, 2.5, cfg.per_pair)
            u = stance[who, t] * intensity + rng.normal(0, cfg.noise, cfg.per_pair)  # > 0: prefers matching
            swap = rng.random() < 0.5  # left/right order
            left, right = (other, matching) if swap else (matching, other)
            u_left = -u if swap else u
            labels = np.clip(np.rint(u_left), -2, 2).astype(int)
            lik_left = np.clip(np.rint(3 + u_left / 2), 1, 5).astype(int)
            lik_right = np.clip(np.rint(3 - u_left / 2), 1, 5).astype(int)
            j = np.where(labels > 0, 1.0, np.where(labels < 0, 0.0, 0.5))
            first = labels[0] > 0 if labels[0] != 0 else rng.random() < 0.5
            n = len(j)
            rows.append(
                {
                    "prompt": q,
                    "left": left,
                    "right": right,
                    "labels": labels.tolist(),
                    "likert_left": lik_left.tolist(),
                    "likert_right": lik_right.tolist(),
                    "annotators": [f"annotator-{a:04d}" for a in who.tolist()],
                    "original_label": "left" if first else "right",
                    "margin": float(abs(j.sum() - n / 2) / (n / 2)),
                    "p_star": float(j.mean()),
                    "topic": name,
                    "divisive": t < cfg.divisive,
                    "topic_kind": kinds[t],
                }
            )
            texts[q] = None
            texts[join_in_context(q, "Yes")] = None
            texts[join_in_context(q, "No")] = None
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    r = rng.random(len(rows))
    for row, x in zip(rows, r.tolist(), strict=True):
        row["split"] = "test" if x < cfg.test_frac else "val" if x < cfg.test_frac + cfg.val_frac else "train"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "texts.jsonl", [{"text": t} for t in texts])
    labels = [row["labels"] for row in rows]
    diverging = sum(1 for ls in labels if any(x > 0 for x in ls) and any(x < 0 for x in ls))
    summary = {
        "pairs": len(rows),
        "texts": len(texts),
        "diverging_pairs": diverging,
        "diverging_share": diverging / max(len(rows), 1),
        "config": {**asdict(cfg), "personas": list(cfg.personas)},
    }
    write_text(out / "annotators.json", json.dumps(summary, indent=1) + "\n")
    write_jsonl(out / "pairs.jsonl", rows)  # last: a folder with pairs.jsonl is a complete build
    return summary


def summary_lines(s: dict, cfg: AnnotatorsConfig, out_dir: str | os.PathLike, **_) -> list[str]:
    """What ``embedkit build annotators`` prints about the summary of :func:`build_annotators`."""
    return [
        f"{s['pairs']} pairs ({s['diverging_pairs']} diverging, {100 * s['diverging_share']:.0f}%) judged by "
        f"{cfg.per_pair} of {cfg.pool} simulated annotators; {s['texts']} texts to extract; wrote {out_dir}/pairs.jsonl"
    ]
