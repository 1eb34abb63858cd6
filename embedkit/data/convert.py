"""Converters from layouts users already have to the embedkit pair format (docs/pairs-format.md).

- ``trl``: TRL preference data. ``chosen``/``rejected`` as strings or as conversations (lists of
  ``{"role", "content"}`` messages), with an explicit ``prompt`` (string or messages) or an implicit one
  (the shared beginning of chosen and rejected).
- ``columns``: any layout with one row per pair, mapped field by field: ``--prompt``, ``--left``,
  ``--right`` and one of ``--label`` / ``--labels`` (per-annotator list), label values translated by
  ``--map`` (e.g. ``A-is-clearly-better=2,Tie=0``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from embedkit.data.pairs import graded_label
from embedkit.data.readers import iter_records, write_jsonl
from embedkit.errors import InputError

PASS_THROUGH = ("user", "split", "weight", "margin")


def render_messages(messages: list, path: str, line: int, field: str) -> str:
    """A conversation as text: one ``role: content`` block per message, separated by blank lines."""
    parts = []
    for m in messages:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("content"), str)
            or not isinstance(m.get("role"), str)
        ):
            raise InputError(
                'expected messages like {"role": ..., "content": ...}', file=path, line=line, field=field
            )
        parts.append(f"{m['role']}: {m['content']}")
    return "\n\n".join(parts)


def _text_or_messages(v, path, line, field) -> tuple[str, list | None]:
    if isinstance(v, str) and v.strip():
        return v, None
    if isinstance(v, list) and v:
        return render_messages(v, path, line, field), v
    raise InputError("expected a non-empty string or list of messages", file=path, line=line, field=field)


def from_trl(path: str | os.PathLike) -> Iterator[dict]:
    """Pair rows from a TRL preference file."""
    path = str(path)
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        for f in ("chosen", "rejected"):
            if f not in rec:
                raise InputError("missing field", file=path, line=line, field=f)
        chosen, chosen_msgs = _text_or_messages(rec["chosen"], path, line, "chosen")
        rejected, rejected_msgs = _text_or_messages(rec["rejected"], path, line, "rejected")
        if rec.get("prompt") is not None:
            prompt, _ = _text_or_messages(rec["prompt"], path, line, "prompt")
            if chosen_msgs is not None:  # conversational completions: the messages after the prompt
                chosen, rejected = (
                    render_messages(chosen_msgs, path, line, "chosen"),
                    render_messages(rejected_msgs, path, line, "rejected"),
                )
        elif chosen_msgs is not None:
            if rejected_msgs is None or len(chosen_msgs) < 2 or chosen_msgs[:-1] != rejected_msgs[:-1]:
                raise InputError(
                    "implicit-prompt conversations must share every message but the last",
                    file=path,
                    line=line,
                    field="rejected",
                )
            prompt = render_messages(chosen_msgs[:-1], path, line, "chosen")
            chosen, rejected = chosen_msgs[-1]["content"], rejected_msgs[-1]["content"]
        else:
            cut = len(os.path.commonprefix([chosen, rejected]))
            prompt, chosen, rejected = chosen[:cut], chosen[cut:], rejected[cut:]
            if not prompt.strip() or not chosen.strip() or not rejected.strip():
                raise InputError(
                    "implicit prompt: chosen and rejected must share a non-empty beginning and then differ",
                    file=path,
                    line=line,
                )
        yield {
            "prompt": prompt,
            "chosen": chosen,
            "rejected": rejected,
            **{k: rec[k] for k in PASS_THROUGH if rec.get(k) is not None},
        }


def parse_label_map(spec: str | None) -> dict[str, str | int]:
    """``"A=left,B=right,Tie=tie"`` or graded ``"A-much=2,A=1"`` -> dict."""
    out: dict[str, str | int] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"--map entries look like RAW=LABEL, got {part!r}")
        raw, label = (x.strip() for x in part.rsplit("=", 1))
        value = int(label) if label.lstrip("-").isdigit() else label
        if graded_label(value) is None:
            raise ValueError(
                f"--map {raw}={label}: the target {label!r} is not a label; map to left, right, tie or an "
                "integer -2..2 (positive = left preferred)"
            )
        out[raw] = value
    return out


def from_columns(
    path: str | os.PathLike,
    *,
    prompt: str,
    left: str,
    right: str,
    label: str | None = None,
    labels: str | None = None,
    user: str | None = None,
    split: str | None = None,
    label_map: dict | None = None,
) -> Iterator[dict]:
    """Pair rows from a file with arbitrary field names (one row per pair)."""
    if (label is None) == (labels is None):
        raise ValueError("give exactly one of --label (one per row) or --labels (a list per row)")
    path = str(path)
    label_map = label_map or {}
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        row = {}
        for ours, theirs in (("prompt", prompt), ("left", left), ("right", right)):
            if theirs not in rec:
                raise InputError("missing field", file=path, line=line, field=theirs)
            row[ours] = rec[theirs]
        field = label or labels
        if field not in rec:
            raise InputError("missing field", file=path, line=line, field=field)
        values = rec[field]
        if labels is not None and isinstance(values, str):
            try:
                values = json.loads(values)  # CSV cells hold lists as JSON
            except ValueError:
                raise InputError("expected a list of labels", file=path, line=line, field=field) from None
        if labels is not None and not isinstance(values, list):
            raise InputError(
                f"expected a list of labels, found {values!r:.40}", file=path, line=line, field=field
            )
        mapped = [label_map.get(str(v), v) for v in (values if labels is not None else [values])]
        for raw, v in zip(values if labels is not None else [values], mapped, strict=True):
            if graded_label(v) is None:
                raise InputError(
                    f"label {raw!r} is not left, right, tie or -2..2; translate it with --map {raw}=LABEL",
                    file=path,
                    line=line,
                    field=field,
                )
        row["labels" if labels is not None else "label"] = mapped if labels is not None else mapped[0]
        for ours, theirs in (("user", user), ("split", split)):
            if theirs is not None and rec.get(theirs) not in (None, ""):
                row[ours] = rec[theirs]
        yield row


def write_pairs(rows: Iterator[dict], out: str | os.PathLike) -> int:
    """Write converted rows as JSONL (UTF-8, atomically; nothing is left if a row fails). Returns the count."""
    return write_jsonl(out, rows, ensure_ascii=False)


MULTIPREF_LABELS = {
    "A-is-clearly-better": 2,
    "A-is-slightly-better": 1,
    "Tie": 0,
    "B-is-slightly-better": -1,
    "B-is-clearly-better": -2,
}


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
