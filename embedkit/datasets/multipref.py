"""MultiPref (allenai/multipref; Diverging Preferences section 2): comparisons of two completions with the
annotations of several crowd and expert annotators (``embedkit convert multipref``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

from embedkit.data.readers import iter_records
from embedkit.errors import InputError
from embedkit.options import opt

MULTIPREF_LABELS = {
    "A-is-clearly-better": 2,
    "A-is-slightly-better": 1,
    "Tie": 0,
    "B-is-slightly-better": -1,
    "B-is-clearly-better": -2,
}


@dataclass(frozen=True)
class MultiPrefConfig:
    """The options of ``embedkit convert multipref`` (the keywords of :func:`from_multipref`)."""

    per_annotator: bool = opt(
        False,
        "One row per annotation with user = its evaluator (for PAL) instead of one row per comparison with "
        "all labels.",
    )
    annotators: str = opt("all", "Whose annotations to keep.", choices=("all", "normal", "expert"))


def from_multipref(
    path: str | os.PathLike, per_annotator: bool = False, annotators: str = "all"
) -> Iterator[dict]:
    """MultiPref (allenai/multipref; the layout of its dataset card): ``text``, ``completion_a``,
    ``completion_b`` and lists of annotation dicts in ``normal_worker_annotations`` /
    ``expert_worker_annotations`` whose ``overall_pref`` is A-is-clearly-better ... B-is-clearly-better.

    One row per comparison with the graded ``labels`` of its annotators (mean-variance, BT over all
    labels), or with ``per_annotator`` one row per annotation with ``user`` = its ``evaluator`` (PAL).
    ``annotators``: all, normal or expert.
    """
    fields = {
        "all": ("normal_worker_annotations", "expert_worker_annotations"),
        "normal": ("normal_worker_annotations",),
        "expert": ("expert_worker_annotations",),
    }[annotators]
    path = str(path)
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        base = {}
        for ours, theirs in (("prompt", "text"), ("left", "completion_a"), ("right", "completion_b")):
            if not isinstance(rec.get(theirs), str) or not rec[theirs].strip():
                raise InputError("expected a non-empty string", file=path, line=line, field=theirs)
            base[ours] = rec[theirs]
        if rec.get("comparison_id") is not None:
            base["comparison_id"] = rec["comparison_id"]
        anns = []
        for f in fields:
            values = rec.get(f) or []
            if isinstance(values, str):
                values = json.loads(values)
            if not isinstance(values, list):
                raise InputError("expected a list of annotations", file=path, line=line, field=f)
            for a in values:
                pref = a.get("overall_pref") if isinstance(a, dict) else None
                if pref not in MULTIPREF_LABELS:
                    raise InputError(
                        f"overall_pref {pref!r} is not one of {', '.join(MULTIPREF_LABELS)}",
                        file=path,
                        line=line,
                        field=f,
                    )
                anns.append((MULTIPREF_LABELS[pref], str(a.get("evaluator") or f"{f}-{len(anns)}")))
        if not anns:
            raise InputError("no annotations", file=path, line=line, field=fields[0])
        if per_annotator:
            for label, who in anns:
                yield {**base, "user": who, "label": label}
        else:
            yield {**base, "labels": [label for label, _ in anns]}
