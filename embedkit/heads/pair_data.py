"""Training tensors: pairs resolved to rows of one embedding matrix (no copies, no per-sample files)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedkit.cache.keys import as_key_array, file_key, text_keys
from embedkit.cache.store import EmbeddingCache, Namespace
from embedkit.data.convert import rendering_of
from embedkit.data.hf import as_paths
from embedkit.data.pairs import PairTable, read_pairs
from embedkit.data.repeats import RepeatedRows, find_repeated, table_hashes
from embedkit.data.splits import SplitConfig, assign_splits
from embedkit.errors import MissingKeysError, NamespaceNotFoundError
from embedkit.fingerprint import Fingerprint
from embedkit.heads.provenance import DataSetup
from embedkit.hints import extract_command

log = logging.getLogger(__name__)


@dataclass(repr=False)
class PairData:
    """Pairs as index arrays into ``X`` (m, D): the unique texts the pairs use, gathered once."""

    X: np.ndarray  # (m, D) float32
    fingerprint: Fingerprint
    prompt: np.ndarray  # (n,) int64 rows of X: the prompt alone (conditioning x_c)
    a: np.ndarray  # (n,) int64: response A (chosen / left)
    b: np.ndarray  # (n,) int64: response B (rejected / right)
    user: np.ndarray  # (n,) object: user ids
    counts: np.ndarray  # (n, 5) annotator labels per bin
    y: np.ndarray  # (n,) P(A preferred)
    weight: np.ndarray  # (n,)
    margin: np.ndarray  # (n,), nan where unknown
    split: np.ndarray  # (n,) object
    likert_a: np.ndarray | None = None  # (n, 5) Likert-5 score counts of A, or None
    likert_b: np.ndarray | None = None
    setup: DataSetup | None = None  # where the rows came from (load_pair_data sets it)
    tags: dict[str, np.ndarray] = field(default_factory=dict)  # TAG_FIELDS columns of the file, (n,) each

    def __len__(self) -> int:
        return len(self.a)

    @property
    def has_users(self) -> bool:
        """Whether any row names a user (PAL heads need users to tell preferences apart)."""
        return bool(len(self)) and bool((self.user.astype(str) != "").any())

    def __repr__(self) -> str:
        splits = ", ".join(
            f"{s}={int(n)}"
            for s, n in zip(*np.unique(self.split.astype(str), return_counts=True), strict=True)
        )
        users = len(set(self.user.tolist())) if len(self) else 0
        return (
            f"PairData({len(self)} pairs, {users} users, {self.X.shape[0]} texts x {self.X.shape[1]}-d "
            f"{self.fingerprint.encoder}; {splits or 'no rows'})"
        )

    def subset(self, mask: np.ndarray) -> PairData:
        return PairData(
            self.X,
            self.fingerprint,
            self.prompt[mask],
            self.a[mask],
            self.b[mask],
            self.user[mask],
            self.counts[mask],
            self.y[mask],
            self.weight[mask],
            self.margin[mask],
            self.split[mask],
            None if self.likert_a is None else self.likert_a[mask],
            None if self.likert_b is None else self.likert_b[mask],
            self.setup,
            {k: v[mask] for k, v in self.tags.items()},
        )

    def in_split(self, *names: str) -> PairData:
        return self.subset(np.isin(self.split, list(names)))


def item_keys(table: PairTable) -> np.ndarray:
    """Cache keys of every item of the table: prompts, then responses A, then B (3n keys). Texts are keyed by
    content; image responses by the bytes of their files."""
    if table.responses == "images":  # prompts are texts, responses image files keyed by their bytes
        hashes: dict[str, str] = {}
        image_keys = [hashes.get(p) or hashes.setdefault(p, file_key(p)) for p in table.a + table.b]
        return np.concatenate([text_keys(table.prompt), as_key_array(image_keys)])
    return _distinct_text_keys(table.prompt + table.a + table.b)


def _distinct_text_keys(texts: list[str]) -> np.ndarray:
    """``text_keys(texts)``, hashing each distinct text once (pairs reuse their texts: the official PAL
    benchmark's 75,000 items are 6,000 texts)."""
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
    return text_keys(list(first))[inverse]


def resolve_pairs(
    table: PairTable,
    namespace: Namespace,
    split: np.ndarray,
    inputs: list[str] | None = None,
    cache_root: str | os.PathLike = "CACHE",
    responses: str = "in-context",
) -> PairData:
    """Look every text of ``table`` up in ``namespace``; raise naming what is missing and the complete
    ``embedkit extract`` command that adds it (``inputs``: the pair files, for that command)."""
    texts = table.prompt + table.a + table.b
    keys = item_keys(table)
    uniq, inverse = np.unique(keys, return_inverse=True)
    rows = namespace.lookup(uniq)
    missing = np.nonzero(rows < 0)[0]
    if len(missing):
        first = {int(np.nonzero(inverse == m)[0][0]) for m in missing[:3]}
        examples = "; ".join(repr(texts[i][:70]) for i in sorted(first))
        cmd = extract_command(
            inputs or ["PAIRS"], cache_root, namespace.fingerprint, spec=namespace.spec, responses=responses
        )
        raise MissingKeysError(
            f"{len(missing)} of {len(uniq)} items (texts or images) of the pairs are not in the cache under "
            f"{namespace.fingerprint.describe()} (e.g. {examples}). Extract them first: {cmd}",
            missing_indices=missing,
        )
    X = namespace.get_rows(rows, dtype=np.float32)
    n = len(table)
    idx = inverse.astype(np.int64)
    return PairData(
        X=X,
        fingerprint=namespace.fingerprint,
        prompt=idx[:n],
        a=idx[n : 2 * n],
        b=idx[2 * n :],
        user=table.user,
        counts=table.counts,
        y=table.y,
        weight=table.weight,
        margin=table.margin,
        split=split,
        likert_a=table.likert_a,
        likert_b=table.likert_b,
        tags=table.tags,
    )


def _raw_responses(table: PairTable, n: int) -> list[str]:
    """Up to ``n`` responses as written in the file (a response in context has its prompt in front)."""
    if table.responses == "images":
        return []
    out = []
    for p, a in zip(table.prompt[:n], table.a[:n], strict=True):
        out.append(a[len(p) + 1 :] if table.responses == "in-context" and a.startswith(p + "\n") else a)
    return out


def group_identical_pairs(data: PairData, return_inverse: bool = False):
    """One row per distinct (split, prompt, {A, B}) with the label counts of all its rows summed.

    Orientation is made canonical (A is the lower row index); swapped rows have their bins reversed.
    Soft-label rows (no counts) keep their y averaged. Used by mean-variance and aggregate Bradley-Terry.
    With ``return_inverse`` also returns the group of each input row, (n,).
    """
    swap = data.a > data.b
    a = np.where(swap, data.b, data.a)
    b = np.where(swap, data.a, data.b)
    counts = np.where(swap[:, None], data.counts[:, ::-1], data.counts)
    y = np.where(swap, 1 - data.y, data.y)
    split_codes, split_idx = np.unique(data.split.astype(str), return_inverse=True)
    key = np.stack([split_idx, data.prompt, a, b], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    g = len(uniq)
    summed = np.zeros((g, 5))
    np.add.at(summed, inv, counts)
    ysum = np.zeros(g)
    np.add.at(ysum, inv, y * data.weight)
    wsum = np.zeros(g)
    np.add.at(wsum, inv, data.weight)
    n_lab = summed.sum(axis=1)
    y_g = np.where(
        n_lab > 0, (summed[:, 3] + summed[:, 4] + 0.5 * summed[:, 2]) / np.maximum(n_lab, 1), ysum / wsum
    )
    margin = np.full(g, np.nan)
    has_m = ~np.isnan(data.margin)
    if has_m.any():
        msum = np.zeros(g)
        mcnt = np.zeros(g)
        np.add.at(msum, inv[has_m], data.margin[has_m])
        np.add.at(mcnt, inv[has_m], 1)
        margin = np.where(mcnt > 0, msum / np.maximum(mcnt, 1), np.nan)
    grouped = PairData(
        X=data.X,
        fingerprint=data.fingerprint,
        prompt=uniq[:, 1],
        a=uniq[:, 2],
        b=uniq[:, 3],
        user=np.full(g, "", dtype=object),
        counts=summed,
        y=y_g,
        weight=np.ones(g),
        margin=margin,
        split=split_codes[uniq[:, 0]].astype(object),
    )
    return (grouped, inv) if return_inverse else grouped


def repeated_rows(table: PairTable) -> RepeatedRows:
    """Rows of the table equal to an earlier row (user, prompt, responses, label and split), with the file
    and line of the first few."""
    hashes = table_hashes(table.prompt, table.a, table.b, table.user, table.counts, table.y, table.split)
    return find_repeated(hashes, lambda rows: [table.source[r] for r in rows])


def load_pair_data(
    pairs: list[str | os.PathLike],
    cache: str | os.PathLike | EmbeddingCache,
    encoder: str | Fingerprint = "minilm",
    split: SplitConfig | None = None,
    responses: str = "in-context",
    seen_users: list[str] | None = None,
    encoder_spec: str = "",
) -> PairData:
    """Read pair files, assign splits and resolve every text to the cache (nothing is encoded here).

    ``seen_users``: the users a trained head knows (see ``assign_splits``); others become unseen users.
    ``encoder_spec``: the ``--encoder`` value behind ``encoder`` when known (for the extract hint).
    The result's ``setup`` records files, hashes, splits and responses mode for the head to store.
    """
    cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
    pairs = as_paths(pairs)  # a datasets.Dataset: a Parquet file
    table = read_pairs(pairs, responses=responses)
    repeated = repeated_rows(table)
    if repeated:
        log.warning("%s", repeated.message())
    split = split or SplitConfig()
    try:
        ns = (
            cache.namespace(encoder, verify=True)
            if isinstance(encoder, Fingerprint)
            else cache.namespace(encoder=encoder, verify=True)
        )
    except NamespaceNotFoundError as e:
        if not e.hint:  # ambiguous: nothing to extract
            raise
        fp = encoder if isinstance(encoder, Fingerprint) else None
        cmd = extract_command(
            pairs, cache.root, fp, encoder=None if fp else encoder, spec=encoder_spec, responses=responses
        )
        raise NamespaceNotFoundError(e.problem, f"Extract the pairs' texts first: {cmd}") from None
    data = resolve_pairs(
        table,
        ns,
        assign_splits(table, split, seen_users=seen_users),
        inputs=pairs,
        cache_root=cache.root,
        responses=table.responses,
    )
    across = data.split == ""
    if across.any():  # an item-disjoint split: pairs whose two items fall in different splits
        log.info(
            "item-disjoint split: %d pair(s) compare items of two splits and are left out", int(across.sum())
        )
        data = data.subset(~across)
    counts: dict[str, int] = {}
    for f, _ in table.source:
        counts[f] = counts.get(f, 0) + 1
    data.setup = DataSetup(
        pairs=[
            {"file": p, "name": Path(p).name, "sha256": file_key(p), "rows": counts.get(p, 0)} for p in pairs
        ],
        responses=table.responses,
        split_source="file" if (table.split != "").all() else "drawn",
        split=split.to_dict(),
        namespace=ns.name,
        encoder_spec=ns.spec,
        prompt_rendering=rendering_of(table.prompt[:1000]),
        response_rendering=rendering_of(_raw_responses(table, 1000)),
    )
    return data


def item_overlap(data: PairData) -> dict:
    """How much each evaluation split's pairs reuse items (responses) of the training pairs: per split,
    the share of pairs with both items, and with at least one, among the train split's items. High shares
    mean that split measures memory of items as much as generalisation (per-annotator pairs of a crowd
    data set: other annotators, or the same one, labelled those items in training)."""
    train = data.split == "train"
    seen = np.zeros(len(data.X), dtype=bool)
    seen[data.a[train]] = True
    seen[data.b[train]] = True
    out = {}
    for s in ("val", "test", "fewshot", "unseen_test"):
        m = data.split == s
        if m.any():
            a, b = seen[data.a[m]], seen[data.b[m]]
            out[s] = {
                "pairs": int(m.sum()),
                "both_items_in_train": float((a & b).mean()),
                "any_item_in_train": float((a | b).mean()),
            }
    return out
