"""HelpSteer2 with per-annotator scores (nvidia/HelpSteer2 ``disagreements``; Diverging Preferences section 2):
pairs of responses with each annotator's score difference (``embedkit convert helpsteer2``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from embedkit.data.readers import iter_records
from embedkit.errors import InputError
from embedkit.options import opt


@dataclass(frozen=True)
class HelpSteer2Config:
    """The options of ``embedkit convert helpsteer2`` (the keywords of :func:`from_helpsteer2`)."""

    attribute: str = opt("helpfulness", "Which per-annotator score decides the preference.")


def from_helpsteer2(path: str | os.PathLike, attribute: str = "helpfulness") -> Iterator[dict]:
    """HelpSteer2 with per-annotator scores (the layout of nvidia/HelpSteer2's ``disagreements``): one row
    per response with ``prompt``, ``response`` and a list of 0-4 scores per attribute; the two responses
    to one prompt come one after the other. Each pair becomes one row: ``labels`` from each annotator's
    score difference (1 = slight, 2 or more = significant, as in Diverging Preferences section 2) and
    ``likert_left`` / ``likert_right`` (the scores on 1-5) for the MSE and Likert heads.
    """
    path = str(path)
    pending = None
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        for f in ("prompt", "response"):
            if not isinstance(rec.get(f), str) or not rec[f].strip():
                raise InputError("expected a non-empty string", file=path, line=line, field=f)
        scores = rec.get(attribute)
        scores = scores if isinstance(scores, list) else [scores]
        if not scores or any(
            isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s <= 4 for s in scores
        ):
            raise InputError(
                f"expected scores 0..4 (one per annotator), found {rec.get(attribute)!r:.60}",
                file=path,
                line=line,
                field=attribute,
            )
        if pending is None or pending[1]["prompt"] != rec["prompt"]:
            if pending is not None:
                raise InputError(
                    "a response without its pair: HelpSteer2 rows come two per prompt, one after the other",
                    file=path,
                    line=pending[0],
                )
            pending = (line, rec, scores)
            continue
        _, first, s1 = pending
        pending = None
        n = min(len(s1), len(scores))  # annotator i scored both responses of the pair
        yield {
            "prompt": rec["prompt"],
            "left": first["response"],
            "right": rec["response"],
            "labels": [max(-2, min(2, int(round(a - b)))) for a, b in zip(s1[:n], scores[:n], strict=True)],
            "likert_left": [int(round(s)) + 1 for s in s1],
            "likert_right": [int(round(s)) + 1 for s in scores],
        }
    if pending is not None:
        raise InputError("the last response has no pair", file=path, line=pending[0])
