"""Scoring files in chunks: pairs or candidate lists in, the same rows with rewards out, atomically (one
loop, :func:`_score_file`, for both). What the cache lacks of them: :mod:`embedkit.score.missing`."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedkit.data.batches import NeedsCarefulReader, candidate_batches, pair_batches
from embedkit.data.hf import as_paths
from embedkit.data.readers import write_records
from embedkit.data.repeats import RepeatedRows, file_lines, find_repeated, row_hashes
from embedkit.errors import InputError
from embedkit.heads.base import RewardHead
from embedkit.heads.pair_data import PairData
from embedkit.score.api import RewardModel
from embedkit.score.users import UserWeights

DEFAULT_CHUNK = 50_000
log = logging.getLogger(__name__)


def users_file(out: str | os.PathLike) -> Path:
    """OUT.users.jsonl next to OUT (OUT.users.parquet for a Parquet OUT)."""
    out = Path(out)
    ext = ".parquet" if out.suffix.lower() in (".parquet", ".pq") else ".jsonl"
    return out.with_name(out.stem + ".users" + ext)


@dataclass
class ScoreSummary:
    rows: int = 0
    users: int = 0
    users_by_source: dict = field(default_factory=dict)
    labelled: int = 0
    correct: float = 0.0
    by_shots: dict = field(default_factory=dict)  # shots -> [correct, labelled]
    ties: int = 0
    """Rows labelled a tie (they prefer no side, so accuracy leaves them out)."""
    unlabelled: int = 0
    users_in_file: int = 0
    """Distinct users of the scored rows (``users`` also counts users only the few-shot file names)."""
    repeated_rows: RepeatedRows = field(default_factory=RepeatedRows)
    """Scored pair rows equal to an earlier row (scored again, and counted again in the accuracy)."""

    def to_dict(self) -> dict:
        ordered = sorted(self.by_shots.items(), key=lambda kv: _shot_order(kv[0]))
        return {
            "rows": self.rows,
            "users": self.users,
            "users_in_file": self.users_in_file,
            "users_by_source": self.users_by_source,
            "labelled_pairs": self.labelled,
            "tie_rows": self.ties,
            "unlabelled_rows": self.unlabelled,
            "accuracy": self.correct / self.labelled if self.labelled else None,
            "accuracy_by_shots": {k: v[0] / v[1] for k, v in ordered if v[1]},
            "pairs_by_shots": {k: v[1] for k, v in ordered if v[1]},
            "repeated_rows": self.repeated_rows.to_dict(),
        }


class _Repeats:
    """Pair files read batch by batch, one file after another, keeping a hash of each row to find rows that
    repeat an earlier one (8 bytes a row)."""

    def __init__(self, paths: Sequence[str]):
        self.paths, self.hashes, self.rows = list(paths), [], [0] * len(paths)

    def batches(self, responses: str, chunk_size: int, fast: bool, require_labels: bool = False):
        for i, path in enumerate(self.paths):
            for batch in pair_batches([path], responses, require_labels, rows=chunk_size, fast=fast):
                cols = [(c.values, c.index) for c in (batch.prompt, batch.a, batch.b, batch.user)]
                self.hashes.append(row_hashes(cols, [batch.counts, batch.y]))
                self.rows[i] += len(batch)
                yield batch

    def warn(self, what: str) -> RepeatedRows:
        hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, np.uint64)
        found = find_repeated(hashes, file_lines(self.paths, self.rows))
        if found:
            log.warning("%s: %s", what, found.message())
        return found


def _shot_order(key: str):
    return (0, int(key)) if key.isdigit() else (1, key)


class _UserTable:
    """Users' weights as a growing matrix: known users from a UserWeights, others added as they are met
    (seen users with their trained weights, the rest zero-shot)."""

    def __init__(self, head: RewardHead, weights: UserWeights | None):
        self.head = head
        self.on = head.uses_user_weights
        self.uw = weights or UserWeights(weights=np.zeros((0, head.config.K if self.on else 1), np.float32))
        self.index = self.uw.index()
        self.added: list[str] = []
        self.met: set[str] = set()  # the users of the scored rows
        if self.on:
            self.seen = {u: i for i, u in enumerate(head.users_)}
            self.trained = head.user_weights()
            self.zero = head.zero_shot_weights()

    def rows(self, users) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
        """(weights, each row's index into them, each row's shots label) for a Column of users."""
        self.met.update(map(str, users.values))
        if not self.on:
            return None, None, np.full(len(users.index), "population", dtype=object)
        new = [u for u in users.values if u not in self.index]
        if new:
            W = [self.trained[self.seen[u]] if u in self.seen else self.zero for u in new]
            for u in new:
                self.index[u] = len(self.uw.users)
                self.uw.users.append(u)
                self.uw.source.append("trained" if u in self.seen else "zero-shot")
            self.uw.weights = np.vstack([self.uw.weights, np.asarray(W, np.float32)])
            self.uw.shots = np.append(self.uw.shots, np.zeros(len(new), np.int64))
            self.added += new
        of_value = np.array([self.index[u] for u in users.values], dtype=np.int64)
        src = np.asarray(self.uw.source, dtype=object)[of_value]
        shots = self.uw.shots[of_value].astype(str)
        labels = np.where(
            src == "trained", "seen", np.where(np.isin(src, ["file", "attributes"]), src, shots)
        ).astype(object)
        return self.uw.weights, of_value[users.index], labels[users.index]


def _restartable(write, out, attempt) -> None:
    """Write ``out`` from ``attempt(fast=True)``; if the vectorised reader gives up part-way, from scratch
    with the careful reader (the output is atomic: nothing of the first attempt is left)."""
    try:
        write(out, attempt(True))
    except NeedsCarefulReader:
        write(out, attempt(False))


def _columns(X_parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One matrix of several (X, row index) parts, and each part's rows into it."""
    offsets = np.cumsum([0] + [len(X) for X, _ in X_parts])
    return np.vstack([X for X, _ in X_parts]), [
        o + idx for o, (_, idx) in zip(offsets, X_parts, strict=False)
    ]


def _embed(model: RewardModel, col, images: bool, paths) -> tuple[np.ndarray, np.ndarray]:
    X, inv = model.embedder.rows(col.values, images=images, hint_inputs=paths)
    return X, inv[col.index]


def _score_file(model: RewardModel, out, weights: UserWeights | None, progress: bool, unit: str, read, score):
    """The scoring loop of pair and candidate files: each batch of ``read(fast)`` scored by ``score(batch,
    table, summary) -> (output rows, rows scored)``, the rows written to ``out`` atomically (from scratch
    with the careful reader if the vectorised one gives up part-way). Returns (summary, user table)."""
    from tqdm.auto import tqdm

    table = _UserTable(model.head, weights)
    summary = ScoreSummary()

    def attempt(fast: bool):
        nonlocal summary
        summary = ScoreSummary()
        bar = tqdm(unit=unit, desc="scoring", disable=not progress, dynamic_ncols=True)
        try:
            for batch in read(fast):
                rows, n = score(batch, table, summary)
                yield from rows
                summary.rows += n
                bar.update(n)
        finally:
            bar.close()

    _restartable(write_records, out, attempt)
    return summary, table


def score_pairs_file(
    model: RewardModel,
    paths: Sequence[str],
    out: str | os.PathLike,
    weights: UserWeights | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> tuple[ScoreSummary, UserWeights | None]:
    """Add ``p_left``, ``reward_left``, ``reward_right`` (and, for mean-variance, ``sigma_left``,
    ``sigma_right``) to every row of the pair files (or ``datasets.Dataset`` objects); written to ``out``
    atomically. Streams in batches."""
    paths = as_paths(paths)
    head = model.head
    repeats = _Repeats(paths)

    def read(fast: bool):
        nonlocal repeats
        repeats = _Repeats(paths)
        return repeats.batches(model.responses, chunk_size, fast)

    def score(batch, table: _UserTable, summary: ScoreSummary):
        images = batch.responses == "images"
        X, (prompt, a, b) = _columns(
            [
                _embed(model, batch.prompt, False, paths),
                _embed(model, batch.a, images, paths),
                _embed(model, batch.b, images, paths),
            ]
        )
        W, uidx, shot_labels = table.rows(batch.user)
        left = head.response_rewards(X, prompt, a, W, uidx)
        right = head.response_rewards(X, prompt, b, W, uidx)
        p = head.preference_probability(left, right)
        _tally(summary, p, batch.y, shot_labels)
        extra = {"p_left": p, "reward_left": left["reward"], "reward_right": right["reward"]}
        if "sigma" in left:
            extra.update(sigma_left=left["sigma"], sigma_right=right["sigma"])
        cols = {k: v.tolist() for k, v in extra.items()}
        rows = ({**rec, **{k: v[i] for k, v in cols.items()}} for i, rec in enumerate(batch.records()))
        return rows, len(batch)

    summary, table = _score_file(model, out, weights, progress, "pair", read, score)
    summary.repeated_rows = repeats.warn("the pairs to score")
    return _finish(summary, table)


def score_candidates_file(
    model: RewardModel,
    paths: Sequence[str],
    out: str | os.PathLike,
    weights: UserWeights | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = False,
) -> tuple[ScoreSummary, UserWeights | None]:
    """Rows ``{"user", "prompt", "responses": [...]}``: add ``rewards`` (one per response) and ``ranking``
    (response indices, best first). Streams in batches; written to ``out`` atomically. ``paths`` may
    hold ``datasets.Dataset`` objects."""
    paths = as_paths(paths)
    head = model.head

    def read(fast: bool):
        return candidate_batches(paths, model.responses, rows=chunk_size, fast=fast)

    def score(batch, table: _UserTable, summary: ScoreSummary):
        X, (prompt, resp) = _columns(
            [
                _embed(model, batch.prompt, False, paths),
                _embed(model, batch.response, model.responses == "images", paths),
            ]
        )
        W, row_user, _ = table.rows(batch.user)
        uidx = None if row_user is None else row_user[batch.owner]
        rewards = head.response_rewards(X, prompt, resp, W, uidx)["reward"].tolist()
        starts = np.r_[0, np.cumsum(np.bincount(batch.owner, minlength=batch.rows))].tolist()
        per_row = (rewards[starts[j] : starts[j + 1]] for j in range(batch.rows))
        rows = (
            {**rec, "rewards": rj, "ranking": sorted(range(len(rj)), key=lambda i, rj=rj: -rj[i])}
            for rec, rj in zip(batch.records(), per_row, strict=True)
        )
        return rows, batch.rows

    summary, table = _score_file(model, out, weights, progress, "row", read, score)
    return _finish(summary, table)


def _tally(summary: ScoreSummary, p: np.ndarray, y: np.ndarray, shot_labels: np.ndarray) -> None:
    lab = ~np.isnan(y) & (y != 0.5)
    summary.ties += int((y == 0.5).sum())
    summary.unlabelled += int(np.isnan(y).sum())
    if not lab.any():
        return
    correct = ((p > 0.5) == (y > 0.5)).astype(float) + 0.5 * (p == 0.5)
    summary.labelled += int(lab.sum())
    summary.correct += float(correct[lab].sum())
    for s in np.unique(shot_labels[lab]):
        m = lab & (shot_labels == s)
        c, n = summary.by_shots.get(str(s), [0.0, 0])
        summary.by_shots[str(s)] = [c + float(correct[m].sum()), n + int(m.sum())]


def _finish(summary: ScoreSummary, table: _UserTable) -> tuple[ScoreSummary, UserWeights | None]:
    summary.users_in_file = len(table.met - {""})
    if not table.on:
        return summary, None
    uw = table.uw
    summary.users = len(uw.users)
    summary.users_by_source = {s: uw.source.count(s) for s in sorted(set(uw.source))}
    done = 0 if uw.nearest_prototype is None else len(uw.nearest_prototype)
    if done < len(uw.users):  # nearest prototype and similar seen users of the users met while scoring
        from embedkit.index.users import UserLookup

        lk = UserLookup(table.head)
        rest = uw.weights[done:]
        nearest = lk.nearest_prototype(rest)[0]
        uw.nearest_prototype = (
            nearest if uw.nearest_prototype is None else np.concatenate([uw.nearest_prototype, nearest])
        )
        sim, _ = lk.similar_users(rest, k=3)
        uw.similar_users = (uw.similar_users or []) + [list(map(str, r)) for r in sim]
    return summary, uw


def read_fewshot(model: RewardModel, paths: Sequence[str], chunk_size: int = DEFAULT_CHUNK) -> PairData:
    """Few-shot pairs (the pair format with ``user``) as PairData for the head; every row counts as
    few-shot. Read in batches and kept compact: each distinct text is embedded once, a row is a few indices
    and labels, users are shared strings (millions of pairs fit in memory)."""
    paths = as_paths(paths)
    try:
        return _read_fewshot(model, paths, chunk_size, fast=True)
    except NeedsCarefulReader:
        return _read_fewshot(model, paths, chunk_size, fast=False)


def _read_fewshot(model: RewardModel, paths: Sequence[str], chunk_size: int, fast: bool) -> PairData:
    seen: dict[tuple[bool, str], int] = {}  # each distinct text (or image path) -> its row of X
    blocks: list[np.ndarray] = []
    cols: dict[str, list] = {k: [] for k in ("prompt", "a", "b", "user", "counts", "y")}
    repeats = _Repeats(paths)
    for batch in repeats.batches(model.responses, chunk_size, fast, require_labels=True):
        if not any(batch.user.values):
            rec = batch.records()[0]
            raise InputError(
                f"few-shot pairs need a user field, to know whose weights they fit (first row: {str(rec)[:80]})",
                file=str(paths[0]),
                field="user",
            )
        images = batch.responses == "images"
        for name, col, is_image in (
            ("prompt", batch.prompt, False),
            ("a", batch.a, images),
            ("b", batch.b, images),
        ):
            before = len(seen)
            of_value = np.fromiter(
                (seen.setdefault((is_image, v), len(seen)) for v in col.values), np.int64, len(col.values)
            )
            new = [v for v, r in zip(col.values, of_value.tolist(), strict=True) if r >= before]
            if new:  # embed the values met for the first time, in the order they were met
                X_new, inv = model.embedder.rows(new, images=is_image, hint_inputs=paths)
                blocks.append(X_new[inv])
            cols[name].append(of_value[col.index])
        cols["user"].append(np.asarray(batch.user.values, dtype=object)[batch.user.index])
        cols["counts"].append(batch.counts)
        cols["y"].append(batch.y)
    repeats.warn("the few-shot pairs")
    n = sum(len(x) for x in cols["y"])
    cat = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
    return PairData(
        X=np.vstack(blocks) if blocks else np.zeros((0, model.embedder.fingerprint.dim), np.float32),
        fingerprint=model.embedder.fingerprint,
        prompt=cat["prompt"].astype(np.int64),
        a=cat["a"].astype(np.int64),
        b=cat["b"].astype(np.int64),
        user=cat["user"].astype(object),
        counts=cat["counts"].reshape(-1, 5),
        y=cat["y"],
        weight=np.ones(n),
        margin=np.full(n, np.nan),
        split=np.full(n, "fewshot", dtype=object),
    )
