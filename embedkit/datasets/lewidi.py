"""LeWiDi ("Learning With Disagreements") files: real per-annotator labels (``embedkit convert lewidi``).

Two JSON layouts, one object keyed by item id per file:

- **2023** (e.g. MD-Agreement): ``text`` a string, ``annotators`` and ``annotations`` comma-separated
  strings in the same order (``"Ann1,Ann2"`` / ``"0,1"``);
- **2025** (e.g. CSC): ``text`` an object (``{"context": ..., "response": ...}``; its fields are joined,
  or chosen with ``text_fields``), ``annotations`` an object ``{"Ann216": "2", ...}``.

Both carry ``soft_label`` (the scale's values and their shares), used as the label scale when present,
and ``split`` (``train`` / ``dev`` / ``test``), honoured with ``source_split``: item-disjoint splits, a
pair in a split only when both items are. Each (annotator, item, label) becomes a rating, and the ratings
become pairs exactly as ``convert ratings`` makes them (:mod:`embedkit.data.ratings`).

Source: the LeWiDi shared tasks' public repository (Le-Wi-Di/le-wi-di.github.io); the data sets are
research data under their own terms (MD-Agreement's tweets under Twitter's).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from embedkit.data.ratings import DEFAULT_PROMPT, PairingConfig, Rating, pairs_from_ratings
from embedkit.data.splits import SplitConfig
from embedkit.errors import InputError
from embedkit.options import csv_tuple, float_range, joined, opt

SOURCE_SPLITS = {"train": "train", "dev": "val", "val": "val", "validation": "val", "test": "test"}


@dataclass(frozen=True)
class LeWiDiConfig:
    """How LeWiDi items are read (``embedkit convert lewidi``)."""

    text_fields: tuple[str, ...] = opt(
        (),
        "2025 files (text is an object): which of its fields make the text, in order, joined by a newline "
        "(default: all of them, e.g. context then response).",
        parse=csv_tuple,
        show=joined,
        metavar="FIELD,...",
    )
    scale: tuple[float, float] | None = opt(
        None,
        "The label scale LO,HI (default: the values of each item's soft_label); a label outside it is an error.",
        parse=float_range,
        metavar="LO,HI",
    )
    source_split: bool = opt(
        False,
        "Honour the files' own train/dev/test item split: item-disjoint train/val/test for seen annotators, "
        "fewshot (train+dev items) / unseen_test (test items) for new ones.",
    )


def _ids(value, item: str, path: str, fld: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"item {item!r}: expected a comma-separated string, found {value!r:.40}", file=path, field=fld
        )
    return [v.strip() for v in value.split(",")]


def _text(rec: dict, item: str, path: str, cfg: LeWiDiConfig) -> str:
    text = rec.get("text")
    if isinstance(text, str) and text.strip():
        return text
    if isinstance(text, dict) and text:
        names = cfg.text_fields or tuple(text)
        missing = [n for n in names if n not in text]
        if missing:
            raise InputError(
                f"item {item!r}: text has no field {missing[0]!r} (it has: {', '.join(text)})",
                file=path,
                field="text",
            )
        parts = [text[n] for n in names]
        if not all(isinstance(p, str) for p in parts) or not any(p.strip() for p in parts):
            raise InputError(f"item {item!r}: expected text fields that are strings", file=path, field="text")
        return "\n".join(parts)
    raise InputError(
        f"item {item!r}: expected text as a string or an object of strings", file=path, field="text"
    )


def _labels(rec: dict, item: str, path: str) -> list[tuple[str, str]]:
    """(annotator, raw label) of one item, in either layout."""
    anns = rec.get("annotations")
    if isinstance(anns, dict):  # 2025
        if not anns:
            raise InputError(f"item {item!r}: no annotations", file=path, field="annotations")
        pairs = [(str(k), v) for k, v in anns.items()]
        if "annotators" in rec:
            listed = _ids(rec["annotators"], item, path, "annotators")
            if sorted(listed) != sorted(k for k, _ in pairs):
                raise InputError(
                    f"item {item!r}: annotators lists {len(listed)} annotator(s), annotations has {len(pairs)} "
                    "(or other ids)",
                    file=path,
                    field="annotations",
                )
        return pairs
    if "annotators" not in rec or "annotations" not in rec:
        missing = "annotators" if "annotators" not in rec else "annotations"
        raise InputError(
            f"item {item!r}: not a LeWiDi item (no {missing}; fields present: {', '.join(sorted(rec))})",
            file=path,
            field=missing,
        )
    who = _ids(rec["annotators"], item, path, "annotators")
    labels = _ids(rec["annotations"], item, path, "annotations")
    if len(who) != len(labels):
        raise InputError(
            f"item {item!r}: {len(who)} annotator(s) but {len(labels)} annotation(s)",
            file=path,
            field="annotations",
        )
    return list(zip(who, labels, strict=True))


def _scale(rec: dict, cfg: LeWiDiConfig) -> tuple[float, float] | None:
    if cfg.scale is not None:
        return cfg.scale
    soft = rec.get("soft_label")
    if isinstance(soft, dict) and soft:
        try:
            values = [float(k) for k in soft]
        except ValueError:
            return None
        return min(values), max(values)
    return None


def read_lewidi(
    paths: Sequence[str | os.PathLike], cfg: LeWiDiConfig = LeWiDiConfig(), prompt: str | None = None,
    skip_bad: bool = False,
) -> tuple[list[Rating], list[InputError]]:  # fmt: skip
    """Every (annotator, item, label) of the files as :class:`Rating`s (``group``: the item's own split,
    mapped to train / val / test), and the bad items skipped with ``skip_bad``. Items are named
    ``<file stem>:<id>`` (LeWiDi ids count from 1 in each file); an id may appear once per file."""
    ratings: list[Rating] = []
    bad: list[InputError] = []
    where: dict[str, str] = {}  # item id -> file it was first seen in
    for path in map(str, paths):
        repeated: dict[int, list[str]] = {}  # id() of a parsed object -> keys it had twice

        def pairs_hook(kv, _repeated=repeated):
            d = dict(kv)
            if len(d) < len(kv):
                keys = [k for k, _ in kv]
                _repeated[id(d)] = sorted({k for k in keys if keys.count(k) > 1})
            return d

        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh, object_pairs_hook=pairs_hook)
        except FileNotFoundError:
            raise InputError("no such file", file=path) from None
        except (UnicodeDecodeError, ValueError) as e:
            raise InputError(f"not a LeWiDi file: not JSON ({e})", file=path) from None
        if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
            raise InputError(
                "not a LeWiDi file: expected one JSON object of items keyed by id "
                '({"1": {"text": ..., "annotators": ..., "annotations": ...}, ...})',
                file=path,
            )
        twice = set(repeated.get(id(data), ()))
        for item, rec in data.items():
            try:
                if item in twice:
                    raise InputError(f"item id {item!r} appears twice in this file", file=path, field="id")
                key = f"{Path(path).stem}:{item}"  # ids count from 1 in each file of a data set
                if key in where:
                    raise InputError(
                        f"item id {item!r} appears again (is this file given twice?)", file=path, field="id"
                    )
                where[key] = path
                text = _text(rec, item, path, cfg)
                scale = _scale(rec, cfg)
                group = ""
                if cfg.source_split:
                    raw = str(rec.get("split", "")).lower()
                    if raw not in SOURCE_SPLITS:
                        raise InputError(
                            f"item {item!r}: split {rec.get('split')!r} is not one of train, dev, test "
                            "(needed by --source-split)",
                            file=path,
                            field="split",
                        )
                    group = SOURCE_SPLITS[raw]
                anns = rec.get("annotations")
                if isinstance(anns, dict) and id(anns) in repeated:
                    raise InputError(
                        f"item {item!r}: annotator {repeated[id(anns)][0]!r} appears twice in annotations",
                        file=path,
                        field="annotations",
                    )
                found: dict[str, Rating] = {}
                for who, raw_label in _labels(rec, item, path):
                    try:
                        score = float(raw_label)
                    except (TypeError, ValueError):
                        raise InputError(
                            f"item {item!r}: annotation {raw_label!r} of {who} is not a number",
                            file=path,
                            field="annotations",
                        ) from None
                    if scale is not None and not scale[0] <= score <= scale[1]:
                        raise InputError(
                            f"item {item!r}: annotation {raw_label!r} of {who} is outside the scale "
                            f"{scale[0]:g}..{scale[1]:g}",
                            file=path,
                            field="annotations",
                        )
                    if who in found and found[who].score != score:
                        raise InputError(
                            f"item {item!r}: annotator {who} is listed twice, with labels {found[who].score:g} "
                            f"and {score:g}",
                            file=path,
                            field="annotations",
                        )
                    found[who] = Rating(who, key, text, prompt or DEFAULT_PROMPT, score, 0, path, group)
                ratings += found.values()
            except InputError as e:
                if not skip_bad:
                    raise
                bad.append(e)
    return ratings, bad


def lewidi_to_pairs(
    paths: Sequence[str | os.PathLike],
    cfg: LeWiDiConfig = LeWiDiConfig(),
    pairing: PairingConfig | None = None,
    split: SplitConfig | None = None,
    skip_bad: bool = False,
) -> tuple[list[dict], dict]:
    """(pair rows, report): the files' ratings paired as ``convert ratings`` pairs them. With
    ``cfg.source_split`` the split column is item-disjoint along the files' own item split. ``pairing``
    defaults to ``prefer="lower"``: the less offensive / less sarcastic item is preferred."""
    pairing = pairing or PairingConfig(prefer="lower")
    pairing.validate()
    ratings, bad = read_lewidi(paths, cfg, pairing.prompt, skip_bad)
    if not ratings:
        raise InputError("no annotations found", file=", ".join(map(str, paths)))
    groups = {r.item: r.group for r in ratings} if cfg.source_split else None
    if groups is not None and split is None:
        split = SplitConfig(seed=pairing.seed)
    rows, report = pairs_from_ratings(
        ratings, pairing, split, item_groups=groups, bad=bad, source=str(paths[0])
    )
    report["files"] = [str(p) for p in paths]
    report["skipped_items"] = report.pop("skipped_rows")
    return rows, report
