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
import re
from collections.abc import Iterator
from dataclasses import dataclass

from embedkit.data.pairs import graded_label
from embedkit.data.readers import iter_records, write_jsonl
from embedkit.errors import InputError
from embedkit.options import REQUIRED, opt

PASS_THROUGH = ("user", "split", "weight", "margin")


ROLE_PREFIX = re.compile(r"^(system|user|assistant|tool|developer): ", re.IGNORECASE)


def rendering_of(texts) -> str:
    """``messages`` when most texts are conversations rendered by :func:`render_messages` (they start with
    ``role: ``), else ``plain``: how a head's training prompts or responses were written, so that the
    reward API renders a conversation the same way."""
    texts = [t for t in texts if isinstance(t, str)]
    if not texts:
        return "plain"
    rendered = sum(1 for t in texts if ROLE_PREFIX.match(t))
    return "messages" if rendered > len(texts) / 2 else "plain"


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


@dataclass(frozen=True)
class ColumnsConfig:
    """Which field is which (``embedkit convert columns``; the keywords of :func:`from_columns`)."""

    prompt: str = opt(REQUIRED, "Field holding the prompt.")
    left: str = opt(REQUIRED, "Field holding the first response.")
    right: str = opt(REQUIRED, "Field holding the second response.")
    label: str | None = opt(None, "Field with one label per row.")
    labels: str | None = opt(None, "Field with a list of per-annotator labels.")
    user: str | None = opt(None, "Field with the user / annotator id.")
    split: str | None = opt(None, "Field with the split (train, val, test, fewshot, unseen_test).")
    label_map: dict = opt(
        {},
        "Translate label values: RAW=LABEL,... where LABEL is left, right, tie or -2..2 "
        "(e.g. 'A-is-clearly-better=2,A-is-slightly-better=1,Tie=0').",
        cli="--map",
        parse=lambda spec: parse_label_map(spec),
        metavar="RAW=LABEL,...",
    )

    def validate(self) -> None:
        if (self.label is None) == (self.labels is None):
            raise ValueError("give exactly one of --label (one per row) or --labels (a list per row)")


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
