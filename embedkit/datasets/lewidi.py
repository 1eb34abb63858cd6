"""LeWiDi ("Learning With Disagreements") files: real per-annotator labels (``embedkit convert lewidi``).

Two JSON layouts, one object keyed by item id per file:

- **2023** (e.g. MD-Agreement): ``text`` a string, ``annotators`` and ``annotations`` comma-separated
  strings in the same order (``"Ann1,Ann2"`` / ``"0,1"``); a conversation's text may be a JSON-encoded
  object (``'{"prev_agent": ..., "prev_user": ..., "agent": ...}'``), read as the object it encodes;
- **2025** (e.g. CSC): ``text`` an object (``{"context": ..., "response": ...}``; its fields are joined,
  or chosen with ``text_fields``), ``annotations`` an object ``{"Ann216": "2", ...}``.

Both carry ``soft_label`` (the scale's values and their shares), used as the label scale when present
(a label outside it is an error that names the range the files' labels span, for ``scale``),
and ``split`` (``train`` / ``dev`` / ``test``), honoured with ``source_split``: item-disjoint splits, a
pair in a split only when both items are. Each (annotator, item, label) becomes a rating, and the ratings
become pairs exactly as ``convert ratings`` makes them (:mod:`embedkit.data.ratings`). Items that repeat
an earlier item's text and labels exactly (a file given twice under two names) are listed: each annotator's
copies would make tie pairs.

The annotators' metadata that some sets ship (CSC's ``*_annotators_meta.json``), found beside the inputs
and written as a users file: :mod:`embedkit.datasets.lewidi_annotators`.

Source: the LeWiDi shared tasks' public repository (Le-Wi-Di/le-wi-di.github.io); the data sets are
research data under their own terms (MD-Agreement's tweets under Twitter's).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
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
        "Texts with fields (2025: text is an object; 2023 conversations: text is a JSON-encoded object such "
        'as {"prev_agent": ..., "prev_user": ..., "agent": ...}): which fields make the text, in order, '
        "joined by a newline (default: all of them, in the file's order).",
        parse=csv_tuple,
        show=joined,
        metavar="FIELD,...",
    )
    scale: tuple[float, float] | None = opt(
        None,
        "The label scale LO,HI (default: the values of each item's soft_label); a label outside it is an "
        "error that names the range the files' labels span.",
        parse=float_range,
        metavar="LO,HI",
    )
    source_split: bool = opt(
        False,
        "Honour the files' own train/dev/test item split: item-disjoint train/val/test for seen annotators, "
        "fewshot (train+dev items) / unseen_test (test items) for new ones.",
    )
    annotator_meta: str = opt(
        "",
        "The set's annotator metadata (a JSON object keyed by annotator id, as CSC's "
        "CSC_annotators_meta.json), written beside --out as OUT.annotators.jsonl, the users file that "
        "fit-head / eval / score --users read. Default: a *_annotators_meta.json beside the inputs "
        "(none: no file); 'none' skips it.",
        metavar="FILE",
    )


def _ids(value, item: str, path: str, fld: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"item {item!r}: expected a comma-separated string, found {value!r:.40}", file=path, field=fld
        )
    return [v.strip() for v in value.split(",")]


def _fields_of(text: str) -> dict | None:
    """The object a JSON-encoded text stands for (2023 conversations: ``'{"prev_agent": ..., ...}'``),
    or None for plain text."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value else None


def _text(rec: dict, item: str, path: str, cfg: LeWiDiConfig) -> str:
    """The item's text: a string as it is; an object (2025) or a JSON-encoded object (2023 conversations)
    as its ``text_fields`` (default: all fields) joined by a newline, null fields left out."""
    text = rec.get("text")
    if isinstance(text, str) and text.strip():
        fields = _fields_of(text)
        if fields is None:
            if cfg.text_fields:
                raise InputError(
                    f"item {item!r}: --text-fields {','.join(cfg.text_fields)} names fields, but this item's "
                    f"text is plain text, not an object of fields ({text!r:.60})",
                    file=path,
                    field="text",
                )
            return text
        text = fields
    if isinstance(text, dict) and text:
        names = cfg.text_fields or tuple(text)
        missing = [n for n in names if n not in text]
        if missing:
            raise InputError(
                f"item {item!r}: text has no field {missing[0]!r} (it has: {', '.join(text)})",
                file=path,
                field="text",
            )
        parts = [text[n] for n in names if text[n] is not None]
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


def _label_range(files: list[tuple[str, dict, dict]]) -> tuple[float, float] | None:
    """(lowest, highest) numeric label of every file's items, bad items passed over."""
    lo, hi = float("inf"), float("-inf")
    for path, data, _ in files:
        for item, rec in data.items():
            try:
                labels = _labels(rec, item, path)
            except InputError:
                continue
            for _, raw in labels:
                try:
                    v = float(raw)
                except (TypeError, ValueError):
                    continue
                if v == v:  # not nan
                    lo, hi = min(lo, v), max(hi, v)
    return (lo, hi) if lo <= hi else None


def _out_of_scale(
    item: str, raw, who: str, scale: tuple[float, float], cfg: LeWiDiConfig, observed, path: str
) -> InputError:
    """A label outside the scale, with the range the files' labels span and the --scale that fits it."""
    source = "--scale" if cfg.scale is not None else "from its soft_label"
    hint = ""
    if observed is not None:
        lo, hi = observed
        hint = (
            f"; the labels of these files range {lo:g}..{hi:g}: if that is the scale, pass --scale {lo:g},{hi:g} "
            "(and check --prefer: which end is the better one)"
        )
    return InputError(
        f"item {item!r}: annotation {raw!r} of {who} is outside the scale {scale[0]:g}..{scale[1]:g} "
        f"({source}){hint}",
        file=path,
        field="annotations",
    )


def _load(path: str) -> tuple[dict, dict[int, list[str]]]:
    """One LeWiDi file's items, and the keys each parsed object had twice (by the object's id())."""
    repeated: dict[int, list[str]] = {}

    def pairs_hook(kv):
        d = dict(kv)
        if len(d) < len(kv):
            keys = [k for k, _ in kv]
            repeated[id(d)] = sorted({k for k in keys if keys.count(k) > 1})
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
    return data, repeated


def _given_twice(paths: list[str]) -> None:
    """Refuse one file given twice (by any spelling of its path): every item would be read twice."""
    seen: dict[tuple[int, int] | str, int] = {}
    for i, path in enumerate(paths):
        try:
            st = os.stat(path)
            key: tuple[int, int] | str = (st.st_dev, st.st_ino)
        except OSError:
            key = os.path.abspath(path)
        if key in seen:
            raise InputError(
                f"this file is given twice (arguments {seen[key] + 1} and {i + 1}): its items would be read "
                "twice, and every annotator's two copies of an item would make a tie pair",
                file=path,
            )
        seen[key] = i


@dataclass
class LeWiDiRead:
    """What :func:`read_lewidi` found: the ratings, the bad items skipped with ``skip_bad``, and items that
    repeat an earlier item's text and labels exactly (``{"item", "file", "repeats", "repeats_file"}``)."""

    ratings: list[Rating]
    bad: list[InputError] = field(default_factory=list)
    repeated_items: list[dict] = field(default_factory=list)


def read_lewidi(
    paths: Sequence[str | os.PathLike], cfg: LeWiDiConfig = LeWiDiConfig(), prompt: str | None = None,
    skip_bad: bool = False,
) -> LeWiDiRead:  # fmt: skip
    """Every (annotator, item, label) of the files as :class:`Rating`s (``group``: the item's own split,
    mapped to train / val / test), the bad items skipped with ``skip_bad``, and the items that repeat an
    earlier one (same text, annotators and labels under another id or file name). Items are named
    ``<file stem>:<id>`` (LeWiDi ids count from 1 in each file); an id may appear once per file, and a
    file once."""
    paths = [str(p) for p in paths]
    _given_twice(paths)
    files = [(path, *_load(path)) for path in paths]
    out = LeWiDiRead([])
    observed: list = []  # the files' label range, computed at the first label outside the scale
    where: dict[str, str] = {}  # item key -> file it was first seen in
    content: dict[tuple, tuple[str, str]] = {}  # (text, labels) -> (item key, file) of its first item
    for path, data, repeated in files:
        twice = set(repeated.get(id(data), ()))
        for item, rec in data.items():
            try:
                if item in twice:
                    raise InputError(f"item id {item!r} appears twice in this file", file=path, field="id")
                key = f"{Path(path).stem}:{item}"  # ids count from 1 in each file of a data set
                if key in where:
                    raise InputError(
                        f"item id {item!r} appears again: {where[key]} has an item {key!r} too (two files of "
                        "one name?)",
                        file=path,
                        field="id",
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
                        if not observed:
                            observed.append(_label_range(files))
                        raise _out_of_scale(item, raw_label, who, scale, cfg, observed[0], path)
                    if who in found and found[who].score != score:
                        raise InputError(
                            f"item {item!r}: annotator {who} is listed twice, with labels {found[who].score:g} "
                            f"and {score:g}",
                            file=path,
                            field="annotations",
                        )
                    found[who] = Rating(who, key, text, prompt or DEFAULT_PROMPT, score, 0, path, group)
                same = (text, tuple(sorted((r.user, r.score) for r in found.values())))
                if same in content:
                    first, first_file = content[same]
                    out.repeated_items.append(
                        {"item": key, "file": path, "repeats": first, "repeats_file": first_file}
                    )
                else:
                    content[same] = (key, path)
                out.ratings += found.values()
            except InputError as e:
                if not skip_bad:
                    raise
                out.bad.append(e)
    return out


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
    read = read_lewidi(paths, cfg, pairing.prompt, skip_bad)
    ratings, bad = read.ratings, read.bad
    if not ratings:
        raise InputError("no annotations found", file=", ".join(map(str, paths)))
    groups = {r.item: r.group for r in ratings} if cfg.source_split else None
    if groups is not None and split is None:
        split = SplitConfig(seed=pairing.seed)
    rows, report = pairs_from_ratings(
        ratings, pairing, split, item_groups=groups, bad=bad, source=str(paths[0])
    )
    report["files"] = [str(p) for p in paths]
    report["repeated_items"] = read.repeated_items
    report["skipped_items"] = report.pop("skipped_rows")
    return rows, report
