"""Leakage-free splits (``embedkit split --dedup-against``): which pairs of a file share items with
another file, exactly or nearly (PAL section 4.3 splits the Pick-a-Pic v2 test set by overlap with v1
train into "leakage" and "no-leakage" subsets).

Items are compared like with like: prompts against the other file's prompts, responses (texts as
embedded, or images) against its responses. An item is an **exact** duplicate when its content key is
one of the other file's (the cache key: a text's content, an image file's bytes), and a **near**
duplicate when the cosine similarity of its cached embedding to the nearest item of the other file is at
least ``threshold``. A pair leaks when its prompt or either response is a duplicate of either kind
(``fields`` narrows that to prompts or responses only). The nearest neighbours come from FAISS: an exact
flat index by default, or an approximate IVF one (``exact=False``) for very large files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedkit.cache import EmbeddingCache
from embedkit.data.pairs import read_pairs
from embedkit.data.readers import iter_records, write_jsonl
from embedkit.errors import InputError
from embedkit.options import opt

FIELDS = ("prompt", "responses")


@dataclass
class Matches:
    """Per item of the checked file (3n: prompts, responses A, responses B): the best match in the other
    file of the same kind, its cosine, and whether the key is identical."""

    exact: np.ndarray  # (3n,) bool
    cosine: np.ndarray  # (3n,) float32, nan where not searched
    match: (
        np.ndarray
    )  # (3n,) int64: index into the other file's items of the same kind (3m layout), -1 if none
    other_items: list[str] = field(default_factory=list)  # the other file's items (texts / image paths), 3m


def _vectors(ns, keys: np.ndarray, what: str, responses: str) -> np.ndarray:
    from embedkit.errors import MissingKeysError
    from embedkit.hints import extract_command

    rows = ns.lookup(keys)
    if (rows < 0).any():
        raise MissingKeysError(
            f"{int((rows < 0).sum())} items of {what} are not in the cache under {ns.fingerprint.describe()}: "
            f"extract them first: {extract_command([what], ns.root, ns.fingerprint, spec=ns.spec, responses=responses)}",
            missing_indices=np.nonzero(rows < 0)[0],
        )
    return ns.get_rows(rows, dtype=np.float32)


def find_matches(
    pairs,
    other,
    cache,
    encoder="minilm",
    exact_index: bool = True,
    responses="in-context",
) -> tuple:
    """(table, other table, Matches) for ``pairs`` against ``other`` (paths)."""
    from embedkit.heads.pair_data import item_keys
    from embedkit.index.search import VectorIndex

    cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    ns = cache.namespace(encoder=encoder) if isinstance(encoder, str) else cache.namespace(encoder)
    ta, tb = read_pairs([pairs], responses=responses), read_pairs([other], responses=responses)
    ka, kb = item_keys(ta), item_keys(tb)
    n, m = len(ta), len(tb)
    exact = np.zeros(3 * n, bool)
    cosine = np.full(3 * n, np.nan, np.float32)
    match = np.full(3 * n, -1, np.int64)
    for sa, sb in ((slice(0, n), slice(0, m)), (slice(n, 3 * n), slice(m, 3 * m))):  # prompts; responses
        qa, qb = ka[sa], kb[sb]
        if not len(qa) or not len(qb):
            continue
        ua, inv_a = np.unique(qa, return_inverse=True)
        ub, first_b = np.unique(qb, return_index=True)
        exact[sa] = np.isin(qa, ub)
        index = VectorIndex.build(
            _vectors(ns, ub, str(other), tb.responses),
            metric="cosine",
            kind="flat" if exact_index else "auto",
        )
        scores, ids = index.search(_vectors(ns, ua, str(pairs), ta.responses), 1)
        best = np.where(ids[:, 0] >= 0, first_b[np.maximum(ids[:, 0], 0)] + sb.start, -1)
        cosine[sa] = scores[inv_a, 0]
        match[sa] = best[inv_a]
        # an exact duplicate's match is itself, whatever the index returns among equal vectors
        pos = {k: int(i) for k, i in zip(ub.tolist(), (first_b + sb.start).tolist(), strict=True)}
        for j in np.nonzero(exact[sa])[0].tolist():
            match[sa.start + j] = pos[qa[j]]
            cosine[sa.start + j] = 1.0
    return ta, tb, Matches(exact, cosine, match, tb.prompt + tb.a + tb.b)


@dataclass(frozen=True)
class LeakageConfig:
    """What counts as leakage (``embedkit split``'s options)."""

    threshold: float = opt(
        0.98,
        "Cosine similarity at or above which two items are near-duplicates.",
        min=0,
        max=1,
        min_open=True,
    )
    fields: str = opt(
        "all", "Which items make a pair leak: its prompt, its responses, or either.", choices=("all", *FIELDS)
    )
    approximate: bool = opt(
        False,
        "Search near-duplicates with an approximate FAISS index beyond 200k items (faster, may miss some).",
    )
    responses: str = opt(
        "in-context",
        "How text responses were extracted (image responses are detected).",
        choices=("in-context", "alone"),
    )

    def keywords(self) -> dict:
        """The keywords of :func:`split_leakage`."""
        return {
            "threshold": self.threshold,
            "fields": FIELDS if self.fields == "all" else (self.fields,),
            "exact_index": not self.approximate,
            "responses": self.responses,
        }


def split_leakage(
    pairs: str | os.PathLike,
    other: str | os.PathLike,
    cache,
    out_dir: str | os.PathLike,
    encoder="minilm",
    threshold: float = 0.98,
    fields: tuple[str, ...] = FIELDS,
    exact_index: bool = True,
    examples: int = 5,
    responses: str = "in-context",
) -> dict:
    """Write ``out_dir/leakage.jsonl``, ``out_dir/no_leakage.jsonl`` and ``out_dir/report.json``."""
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold must be in (0, 1], got {threshold}")
    ta, tb, mt = find_matches(pairs, other, cache, encoder, exact_index, responses=responses)
    n = len(ta)
    dup = mt.exact | (np.nan_to_num(mt.cosine, nan=-1.0) >= threshold)
    per_field = {"prompt": dup[:n], "responses": dup[n : 2 * n] | dup[2 * n :]}
    leak = np.zeros(n, bool)
    for f in fields:
        leak |= per_field[f]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = ta.responses == "images"
    store = None
    if images:
        from embedkit.datasets.pick_a_pic import ImageStore

        store = ImageStore(out)
    names = ("prompt", "left", "right")
    leaking, clean, shown = [], [], []
    src = Path(pairs)
    for i, (_, rec) in enumerate(iter_records(src)):
        if isinstance(rec, InputError):
            raise rec
        rec = dict(rec)
        if store is not None:  # image paths must stay under the output file's folder: link them there
            layout = ("left", "right") if "left" in rec else ("chosen", "rejected")
            for fld, path in zip(layout, (ta.a[i], ta.b[i]), strict=True):
                rec[fld] = store.put_file(Path(path))
        if leak[i]:
            hits = []
            for j, name in enumerate(names):
                k = j * n + i
                wanted = ("prompt" if name == "prompt" else "responses") in fields
                if dup[k] and wanted:
                    hits.append(
                        {
                            "field": name,
                            "type": "exact" if mt.exact[k] else "near",
                            "cosine": round(float(mt.cosine[k]), 6),
                            "match": mt.other_items[mt.match[k]] if mt.match[k] >= 0 else None,
                        }
                    )
            rec["leak"] = hits
            leaking.append(rec)
            if len(shown) < examples:
                item = [ta.prompt[i], ta.a[i], ta.b[i]]
                shown.append(
                    {
                        "line": i + 1,
                        **{h["field"]: {"item": item[names.index(h["field"])], **h} for h in hits},
                    }
                )
        else:
            clean.append(rec)
    write_jsonl(out / "leakage.jsonl", leaking, ensure_ascii=False)
    write_jsonl(out / "no_leakage.jsonl", clean, ensure_ascii=False)
    kinds = {
        f: {
            "exact": int(sum(mt.exact[j * n : (j + 1) * n].sum() for j in idx)),
            "near_only": int(sum((dup & ~mt.exact)[j * n : (j + 1) * n].sum() for j in idx)),
        }
        for f, idx in (("prompt", [0]), ("responses", [1, 2]))
    }
    report = {
        "pairs": str(pairs),
        "against": str(other),
        "encoder": str(encoder),
        "threshold": threshold,
        "fields": list(fields),
        "index": "exact (flat)" if exact_index else "approximate (IVF beyond 200k items)",
        "total": n,
        "leakage": int(leak.sum()),
        "no_leakage": int(n - leak.sum()),
        "duplicate_items": kinds,
        "examples": shown,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    return report
