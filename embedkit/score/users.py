"""Per-user weights of PAL heads: fitted from few-shot pairs for many users at once, saved and reused."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedkit.atomic import finish_commits_naming
from embedkit.data.readers import iter_records, write_records
from embedkit.data.users import UserAttributes
from embedkit.errors import InputError
from embedkit.heads.attributes import attribute_weights, fit_new_users_with_attributes
from embedkit.heads.base import RewardHead
from embedkit.heads.pair_data import PairData


@dataclass
class UserWeights:
    """Per-user weights of a PAL head and where they came from."""

    users: list[str] = field(default_factory=list)
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (U, K)
    shots: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # few-shot pairs used
    source: list[str] = field(default_factory=list)  # trained | fewshot | attributes | zero-shot | file
    nearest_prototype: np.ndarray | None = None
    similar_users: list[list[str]] | None = None

    def index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.users)}

    def records(self) -> Iterator[dict]:
        for i, u in enumerate(self.users):
            rec = {
                "user": u,
                "weights": [round(float(w), 6) for w in self.weights[i]],
                "nearest_prototype": None
                if self.nearest_prototype is None
                else int(self.nearest_prototype[i]),
                "shots": int(self.shots[i]),
                "zero_shot": self.source[i] == "zero-shot",
                "source": self.source[i],
            }
            if self.similar_users is not None:
                rec["similar_seen_users"] = self.similar_users[i]
            yield rec

    def save(self, path: str | os.PathLike) -> Path:
        """JSONL or Parquet by extension, written atomically."""
        return write_records(path, self.records())

    @classmethod
    def load(cls, path: str | os.PathLike, K: int) -> UserWeights:
        """Read a users file written by ``save`` (or by hand: ``user`` + ``weights`` per row)."""
        if isinstance(path, str | os.PathLike):
            finish_commits_naming(path)  # a score run killed while renaming its files: finish it first
        out = cls(weights=np.zeros((0, K), np.float32))
        rows, shots = [], []
        for line, rec in iter_records(path):
            if isinstance(rec, InputError):
                raise rec
            user = rec.get("user")
            if not isinstance(user, str | int) or isinstance(user, bool) or user == "":
                raise InputError("expected a user id", file=str(path), line=line, field="user")
            w = rec.get("weights")
            if isinstance(w, str):
                try:
                    w = json.loads(w)
                except ValueError:
                    w = None
            try:
                w = np.asarray(w, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                w = np.zeros(0)
            if len(w) != K or not np.all(np.isfinite(w)) or (w < 0).any() or abs(w.sum() - 1) > 1e-3:
                raise InputError(
                    f"expected {K} non-negative weights summing to 1 (this head has K={K})",
                    file=str(path),
                    line=line,
                    field="weights",
                )
            out.users.append(str(user))
            rows.append(w / w.sum())
            out.source.append("file")
            shots.append(int(rec.get("shots") or 0))
        out.weights = np.asarray(rows, np.float32).reshape(-1, K)
        out.shots = np.asarray(shots, np.int64)
        return out


def fit_users(
    head: RewardHead,
    fewshot: PairData | None,
    users: Iterable[str] = (),
    given: UserWeights | None = None,
    method: str | None = None,
    lookup: bool = True,
    attributes: UserAttributes | None = None,
) -> UserWeights:
    """Weights for ``users``, every user of ``fewshot`` and of ``attributes``: a ``given`` table first, then
    weights fitted from the few-shot pairs (all users at once; with ``attributes``, under the head's
    attribute prior as the prior mean), then the head's trained weights for seen users, then the attribute
    point of users with attributes (``embedkit.heads.attributes``), then zero-shot. With ``lookup``, also
    each user's nearest prototype and most similar seen users (FAISS)."""
    K = head.config.K
    seen = {u: i for i, u in enumerate(head.users_)}
    trained = head.user_weights()
    fitted: dict[str, tuple[np.ndarray, int]] = {}
    if fewshot is not None and len(fewshot):
        names, W = fit_new_users_with_attributes(head, fewshot, attributes, method=method)
        counts = dict(zip(*np.unique(fewshot.user.astype(str), return_counts=True), strict=True))
        fitted = {u: (W[i], int(counts[u])) for i, u in enumerate(names)}
    given_index = given.index() if given is not None else {}
    from_attrs = attributes.users if attributes is not None else []
    every = list(dict.fromkeys([*map(str, users), *fitted, *given_index, *from_attrs]))
    zero = head.zero_shot_weights()
    attr_index = attributes.index() if attributes is not None else {}
    attr_w = attribute_weights(head, every, attributes) if attr_index else None
    out = UserWeights(weights=np.zeros((len(every), K), np.float32))
    out.users = every
    out.shots = np.zeros(len(every), np.int64)
    for i, u in enumerate(every):
        if u in given_index:
            out.weights[i], src = given.weights[given_index[u]], "file"
            out.shots[i] = given.shots[given_index[u]]
        elif u in fitted:
            (out.weights[i], out.shots[i]), src = fitted[u], "fewshot"
        elif u in seen:
            out.weights[i], src = trained[seen[u]], "trained"
        elif u in attr_index:
            out.weights[i], src = attr_w[i], "attributes"
        else:
            out.weights[i], src = zero, "zero-shot"
        out.source.append(src)
    if lookup and len(every):
        from embedkit.index.users import UserLookup

        lk = UserLookup(head)
        out.nearest_prototype = lk.nearest_prototype(out.weights)[0]
        sim, _ = lk.similar_users(out.weights, k=3)
        out.similar_users = [list(map(str, r)) for r in sim]
    return out
