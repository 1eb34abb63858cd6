"""RewardBench (allenai/reward-bench) and RewardBench 2 (allenai/reward-bench-2) -> pair rows
(``embedkit convert rewardbench``), and the upstream constants their section scores use.

Where the files come from: the Hugging Face data sets ``allenai/reward-bench`` (split ``filtered``, 2,985
rows: ``prompt``, ``chosen``, ``chosen_model``, ``rejected``, ``rejected_model``, ``subset``, ``id``) and
``allenai/reward-bench-2`` (split ``test``, 1,865 rows: ``id``, ``prompt``, ``chosen`` and ``rejected``
lists, ``num_correct``, ``num_rejected``, ``total_completions``, ``models``, ``subset``). Their Parquet
files, or a JSONL export, are read as they are.

Each converted row is a pair (``prompt``, ``chosen``, ``rejected``) that ``embedkit extract`` embeds and
any head scores, plus what the benchmark's scores need: ``rewardbench`` (1 or 2), ``subset`` and ``id``;
for version 2 also ``chosen_index`` / ``rejected_index`` (the completions' positions in the source row's
lists) and ``num_correct`` / ``num_rejected``. A version-2 row of c chosen and r rejected completions
gives the c + r - 1 pairs that compare ``chosen[0]`` with every rejected completion and every other chosen
completion with ``rejected[0]``: every completion is in some pair, so each one's reward is known and
best-of-4 (and the Ties rule) can be recomputed by ``id`` (:mod:`embedkit.score.rewardbench`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from embedkit.data.readers import iter_records, require_text
from embedkit.errors import InputError
from embedkit.options import opt

# From allenai/reward-bench, rewardbench/constants.py (commit 05a9005): the weight of each subset in its
# section (``math-prm`` has 447 rows but is weighted 984, "upweighting to be equal to code").
EXAMPLE_COUNTS = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "math-prm": 984,
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "xstest-should-refuse": 250,
    "xstest-should-respond": 154,
    "donotanswer": 136,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}

# From the same file: which subsets make each of the four sections.
SUBSET_MAPPING = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": [
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ],
    "Safety": [
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}

# RewardBench 2's six subsets (the allenai/reward-bench-2 dataset card: "the leaderboard averages over
# these six subsets"); scripts/run_v2.py scores the one whose name is "ties" in any case by the Ties rule.
V2_SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")

TIES_ID = re.compile(r"^(ref|tied):(\d+)$")
"""Ties rows' ids: ``ref:N`` (the prompt with one correct answer) or ``tied:N`` (its variant with several),
as rewardbench/utils.py ``process_single_model`` splits them."""


def is_ties(subset: str) -> bool:
    return subset.lower() == "ties"


@dataclass(frozen=True)
class RewardBenchConfig:
    """The options of ``embedkit convert rewardbench`` (the keywords of :func:`from_rewardbench`)."""

    version: str = opt(
        "auto",
        "Layout of the file: 1 (allenai/reward-bench filtered: chosen and rejected strings), 2 "
        "(allenai/reward-bench-2: chosen and rejected lists), or auto (from the first row).",
        choices=("auto", "1", "2"),
    )


def _completions(rec: dict, name: str, path: str, line: int) -> list[str]:
    """A version-2 list of completions (a JSON list in a CSV cell too), each a non-empty string."""
    value = rec.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, list | tuple) or not value:
        raise InputError(
            f"expected a non-empty list of completions (RewardBench 2), found {rec.get(name)!r:.60}",
            file=path,
            line=line,
            field=name,
        )
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise InputError(
                f"completion {i} of the list is not a non-empty string: {v!r:.40}",
                file=path,
                line=line,
                field=name,
            )
    return list(value)


def _count(rec: dict, name: str, expected: int, what: str, path: str, line: int) -> None:
    """An optional count field (num_correct, num_rejected, total_completions) must match the lists."""
    if rec.get(name) in (None, ""):
        return
    try:
        found = int(rec[name])
    except (TypeError, ValueError):
        found = None
    if found != expected:
        raise InputError(
            f"expected {expected} ({what}), found {rec[name]!r:.40}", file=path, line=line, field=name
        )


def _version_of(rec: dict) -> str:
    chosen = rec.get("chosen")
    if isinstance(chosen, str):
        return "2" if chosen.lstrip().startswith("[") else "1"
    return "1" if chosen is None else "2"


def from_rewardbench(path: str | os.PathLike, version: str = "auto") -> Iterator[dict]:
    """Pair rows of a RewardBench (``version`` 1) or RewardBench 2 (``version`` 2) file, as the module
    docstring describes; ``auto`` reads the layout from the first row. Stops at the first bad row with an
    :class:`InputError` naming file, line, field and what was expected (missing or empty prompt /
    completion, no subset or id, an id twice, a Ties id that is not ``ref:N`` / ``tied:N``, counts that do
    not match the lists, a row in the other version's layout)."""
    path = str(path)
    seen: dict[str, int] = {}
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        if version == "auto":
            version = _version_of(rec)
        prompt = require_text(rec, "prompt", path, line)
        subset = require_text(rec, "subset", path, line)
        if rec.get("id") in (None, ""):
            raise InputError("missing id (each RewardBench row has one)", file=path, line=line, field="id")
        key = str(rec["id"])
        if key in seen:
            raise InputError(
                f"id {rec['id']!r} is already the id of line {seen[key]}", file=path, line=line, field="id"
            )
        seen[key] = line
        base = {"rewardbench": int(version), "subset": subset, "id": rec["id"]}
        if _version_of(rec) != version:
            other = "2" if version == "1" else "1"
            expected, found = (
                ("a string", "a list") if version == "1" else ("a list of completions", "a string")
            )
            raise InputError(
                f"expected {expected} (RewardBench {version} layout), found {found}: is this a RewardBench "
                f"{other} file? (--version {other})",
                file=path,
                line=line,
                field="chosen",
            )
        if version == "1":
            chosen, rejected = (require_text(rec, f, path, line) for f in ("chosen", "rejected"))
            yield {"prompt": prompt, "chosen": chosen, "rejected": rejected, **base}
            continue
        chosen, rejected = (_completions(rec, f, path, line) for f in ("chosen", "rejected"))
        _count(rec, "num_correct", len(chosen), "the length of chosen", path, line)
        _count(rec, "num_rejected", len(rejected), "the length of rejected", path, line)
        _count(rec, "total_completions", len(chosen) + len(rejected), "chosen + rejected", path, line)
        if is_ties(subset) and not TIES_ID.match(key):
            raise InputError(
                f"a Ties row's id must be ref:N or tied:N (RewardBench 2 scores ref and tied prompts as pairs), "
                f"found {rec['id']!r:.40}",
                file=path,
                line=line,
                field="id",
            )
        counts = {"num_correct": len(chosen), "num_rejected": len(rejected)}
        for i, c in enumerate(chosen):
            for j, r in enumerate(rejected):
                if i == 0 or j == 0:
                    yield {"prompt": prompt, "chosen": c, "rejected": r, **base,
                           "chosen_index": i, "rejected_index": j, **counts}  # fmt: skip
