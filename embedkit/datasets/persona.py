"""The semi-synthetic persona preference dataset of PAL (section 4.2.1, Table 1).

K* personas (Table 1's order: art, literature, math, music, science, sports). Each persona rho_j has
N seen and N unseen synthetic users. Each query asks whether the user would say a statement drawn from
the K* persona files; the prompt is the question, the two responses are "Yes" and "No", and a user
prefers "Yes" exactly when the statement agrees with their persona (it is in S(rho_j): a statement of
rho_j's file whose answer_matching_behavior is " Yes").
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedkit.atomic import write_text
from embedkit.data.pairs import join_in_context
from embedkit.data.readers import iter_records, write_jsonl
from embedkit.errors import InputError
from embedkit.options import opt

TABLE1_ORDER = ("art", "literature", "math", "music", "science", "sports")
DEFAULT_PERSONA_DIR = Path(__file__).resolve().parents[2] / "data" / "persona"


@dataclass(frozen=True)
class PersonaConfig:
    """PAL section 4.2.1's persona set; the options of ``embedkit build persona``."""

    k_star: int = opt(
        2,
        "Number of personas, in PAL Table 1's order (art, literature, math, music, science, sports).",
        min=1,
        max=6,
        cli="--K-star",
    )
    users_per_persona: int = opt(100, "N: seen users per persona, and as many unseen users.", min=1)
    queries_per_user: int = opt(50, "n_p: pairs per seen user (split into train/val/test).", min=1)
    queries_per_unseen_user: int = opt(
        50, "n_p,unseen: pairs per unseen user (few-shot + held-out test).", min=2
    )
    fewshot_per_unseen_user: int = opt(
        20, "Of an unseen user's pairs, how many are few-shot (the rest are unseen_test).", min=1
    )
    val_frac: float = opt(0.1, "Share of a seen user's pairs for validation.", min=0, max=1)
    test_frac: float = opt(0.2, "Share of a seen user's pairs for test.", min=0, max=1)
    seed: int = opt(0, "Seed of the users' queries and of the seen users' train/val/test split.")


def load_personas(persona_dir: str | os.PathLike, names: list[str]) -> dict[str, list[dict]]:
    """Statements of each persona file ``interest-in-<name>.jsonl`` (or ``<name>.jsonl``)."""
    persona_dir = Path(persona_dir)
    out = {}
    for name in names:
        cands = [persona_dir / f"interest-in-{name}.jsonl", persona_dir / f"{name}.jsonl"]
        path = next((p for p in cands if p.exists()), None)
        if path is None:
            have = sorted(p.stem.removeprefix("interest-in-") for p in persona_dir.glob("*.jsonl"))
            raise InputError(f"no persona file for {name!r} in {persona_dir}; available: {', '.join(have)}")
        rows = []
        for line, rec in iter_records(path):
            if isinstance(rec, InputError):
                raise rec
            for f in ("question", "statement", "answer_matching_behavior"):
                if not isinstance(rec.get(f), str):
                    raise InputError("expected a string", file=str(path), line=line, field=f)
            rows.append(rec)
        out[name] = rows
    return out


def build_persona(
    out_dir: str | os.PathLike,
    cfg: PersonaConfig = PersonaConfig(),
    persona_dir: str | os.PathLike = DEFAULT_PERSONA_DIR,
    personas: list[str] | None = None,
) -> dict:
    """Write ``out_dir/pairs.jsonl`` (with a split per row), ``out_dir/texts.jsonl``, and the unseen users'
    pairs again as ``fewshot.jsonl`` and ``unseen_test.jsonl`` (for ``embedkit score``); return a summary."""
    names = list(personas) if personas else list(TABLE1_ORDER[: cfg.k_star])
    if personas is None and not 1 <= cfg.k_star <= len(TABLE1_ORDER):
        raise ValueError(f"--K-star must be in 1..{len(TABLE1_ORDER)} for the default personas")
    data = load_personas(persona_dir, names)
    questions, agree = [], {n: set() for n in names}
    seen_q: dict[str, int] = {}
    for n in names:
        for rec in data[n]:
            q = rec["question"]
            if q not in seen_q:
                seen_q[q] = len(questions)
                questions.append(q)
            if rec["answer_matching_behavior"].strip().lower() == "yes":
                agree[n].add(seen_q[q])
    nq = len(questions)
    for need, what in (
        (cfg.queries_per_user, "--queries-per-user"),
        (cfg.queries_per_unseen_user, "--queries-per-unseen-user"),
    ):
        if not 1 <= need <= nq:
            raise ValueError(f"{what} must be in 1..{nq} (the statements of the chosen personas)")
    if not 1 <= cfg.fewshot_per_unseen_user < cfg.queries_per_unseen_user:
        raise ValueError("--fewshot-per-unseen-user must be >= 1 and leave unseen-user pairs to test on")
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for kind, n_q in (("seen", cfg.queries_per_user), ("unseen", cfg.queries_per_unseen_user)):
        for name in names:
            for u in range(cfg.users_per_persona):
                user = f"{kind}-{name}-{u:05d}"
                qs = rng.choice(nq, size=n_q, replace=False)
                r = rng.random(n_q)
                for t, qi in enumerate(qs):
                    yes = int(qi) in agree[name]
                    if kind == "seen":
                        split = (
                            "test"
                            if r[t] < cfg.test_frac
                            else "val"
                            if r[t] < cfg.test_frac + cfg.val_frac
                            else "train"
                        )
                    else:
                        split = "fewshot" if t < cfg.fewshot_per_unseen_user else "unseen_test"
                    rows.append(
                        {
                            "user": user,
                            "persona": name,
                            "prompt": questions[qi],
                            "chosen": "Yes" if yes else "No",
                            "rejected": "No" if yes else "Yes",
                            "split": split,
                        }
                    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = []
    for q in questions:
        texts += [q, join_in_context(q, "Yes"), join_in_context(q, "No")]
    write_jsonl(out / "texts.jsonl", [{"text": t} for t in texts])
    # the unseen users alone, as a new user would bring them to `embedkit score`: few-shot pairs to fit
    # their weights from, and held-out pairs to score (no split column in either)
    for split in ("fewshot", "unseen_test"):
        write_jsonl(
            out / f"{split}.jsonl",
            ({k: v for k, v in r.items() if k != "split"} for r in rows if r["split"] == split),
        )
    summary = {
        "personas": names,
        "statements": nq,
        "pairs": len(rows),
        "texts": len(texts),
        "seen_users": cfg.users_per_persona * len(names),
        "unseen_users": cfg.users_per_persona * len(names),
        "config": cfg.__dict__,
    }
    write_text(out / "persona.json", json.dumps(summary, indent=1) + "\n")
    write_jsonl(out / "pairs.jsonl", rows)  # last: a folder with pairs.jsonl is a complete build
    return summary


def summary_lines(s: dict, cfg: PersonaConfig, out_dir: str | os.PathLike, **_) -> list[str]:
    """What ``embedkit build persona`` prints about the summary of :func:`build_persona`."""
    return [
        f"{s['pairs']} pairs from {s['statements']} statements of {', '.join(s['personas'])}; "
        f"{s['seen_users']} seen + {s['unseen_users']} unseen users; {s['texts']} texts to extract",
        f"wrote {out_dir}/pairs.jsonl, {out_dir}/texts.jsonl (and the unseen users' fewshot.jsonl, unseen_test.jsonl)",
    ]
