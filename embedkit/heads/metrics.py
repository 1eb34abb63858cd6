"""Metrics of the heads, vectorised over pairs. Each has a brute-force reference test.

A metric that has no value on the data at hand (an AUROC with one class, an accuracy over ties only) is
an :class:`Undefined`: a NaN float that carries the reason, which JSON output shows as
``null`` next to a ``<metric>_undefined`` reason (see :func:`json_ready`).
"""

from __future__ import annotations

import math

import numpy as np


class Undefined(float):
    """A metric without a value here: NaN in arithmetic, with ``reason`` saying why."""

    reason: str

    def __new__(cls, reason: str):
        self = super().__new__(cls, math.nan)
        self.reason = reason
        return self

    def __repr__(self) -> str:
        return f"Undefined({self.reason!r})"

    def __reduce__(self):
        return (Undefined, (self.reason,))


def json_ready(obj):
    """A copy of nested metrics that strict JSON accepts: numpy scalars become Python numbers; a NaN
    becomes null, and an :class:`Undefined` also adds ``<key>_undefined`` with its reason."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k] = json_ready(v)
            if isinstance(v, Undefined):
                out[f"{k}_undefined"] = v.reason
        return out
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def from_json(obj):
    """The inverse of :func:`json_ready` for saved metrics: ``null`` + reason becomes an Undefined."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k.endswith("_undefined") and k[: -len("_undefined")] in obj:
                continue
            reason = obj.get(f"{k}_undefined")
            out[k] = Undefined(reason) if v is None and isinstance(reason, str) else from_json(v)
        return out
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


def preference_accuracy(delta: np.ndarray, counts: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of sign(r_A - r_B) against every annotator label (ties excluded; delta = 0 scores 1/2).

    Rows with label counts use them; soft-label rows (no counts) count once, for the side y favours.
    """
    pred_a = (delta > 0).astype(float) + 0.5 * (delta == 0)
    n_a = counts[:, 3] + counts[:, 4]
    n_b = counts[:, 0] + counts[:, 1]
    soft = counts.sum(axis=1) == 0
    n_a = np.where(soft, (y > 0.5).astype(float), n_a)
    n_b = np.where(soft, (y < 0.5).astype(float), n_b)
    total = (n_a + n_b).sum()
    if total == 0:
        return Undefined("no pairs" if not len(delta) else "no pair prefers a side (every label is a tie)")
    return float((n_a * pred_a + n_b * (1 - pred_a)).sum() / total)


def diverging_pairs(counts: np.ndarray) -> np.ndarray:
    """Pairs on which annotators diverge: at least one prefers each side."""
    return ((counts[:, 3] + counts[:, 4]) > 0) & ((counts[:, 0] + counts[:, 1]) > 0)


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (sklearn) of ``score`` for the diverging pairs ``positive``; Undefined
    when only one class is present."""
    positive = np.asarray(positive, dtype=bool)
    if not positive.any():
        return Undefined("no pair has annotators on both sides (no diverging pairs)")
    if positive.all():
        return Undefined("every pair has annotators on both sides (no non-diverging pairs to rank against)")
    from sklearn.metrics import roc_auc_score  # imported here: sklearn costs ~2 s at start-up

    return float(roc_auc_score(positive, score))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; Undefined with fewer than 2 values or a constant input."""
    if len(a) < 2:
        return Undefined("fewer than 2 distinct pairs with several labels")
    if np.std(a) == 0 or np.std(b) == 0:
        return Undefined("one side is constant")
    return float(np.corrcoef(a, b)[0, 1])


def per_user_accuracy(delta: np.ndarray, y: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """Mean, std, min and max over users of each user's pair accuracy (ties skipped)."""
    keep = y != 0.5
    if not keep.any():
        return {}
    correct = ((delta > 0) == (y > 0.5)).astype(float)[keep]
    names, inv = np.unique(users[keep].astype(str), return_inverse=True)
    acc = np.bincount(inv, weights=correct) / np.bincount(inv)
    return {
        "users": len(names),
        "mean": float(acc.mean()),
        "std": float(acc.std()),
        "min": float(acc.min()),
        "max": float(acc.max()),
    }
