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


def preference_hits(delta: np.ndarray, counts: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (labels sign(r_A - r_B) gets right, labels that prefer a side), (n,) each; ties are not
    counted, delta = 0 gets half of each. Rows with label counts use them; soft-label rows (no counts)
    count once, for the side y favours."""
    pred_a = (delta > 0).astype(float) + 0.5 * (delta == 0)
    n_a = counts[:, 3] + counts[:, 4]
    n_b = counts[:, 0] + counts[:, 1]
    soft = counts.sum(axis=1) == 0
    n_a = np.where(soft, (y > 0.5).astype(float), n_a)
    n_b = np.where(soft, (y < 0.5).astype(float), n_b)
    return n_a * pred_a + n_b * (1 - pred_a), n_a + n_b


def preference_accuracy(delta: np.ndarray, counts: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of sign(r_A - r_B) against every annotator label (see :func:`preference_hits`)."""
    hits, n = preference_hits(delta, counts, y)
    if n.sum() == 0:
        return Undefined("no pairs" if not len(delta) else "no pair prefers a side (every label is a tie)")
    return float(hits.sum() / n.sum())


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


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson of average ranks); Undefined with < 3 values or a constant side."""
    from scipy.stats import rankdata

    if len(a) < 3:
        return Undefined("fewer than 3 items")
    return pearson(rankdata(a), rankdata(b))


def partial_spearman(a: np.ndarray, b: np.ndarray, given: np.ndarray) -> float:
    """Spearman correlation of ``a`` and ``b`` with the (rank-)linear part of ``given`` taken out of both:
    r_ab.g = (r_ab - r_ag r_bg) / sqrt((1 - r_ag^2)(1 - r_bg^2)) on ranks."""
    r_ab, r_ag, r_bg = spearman(a, b), spearman(a, given), spearman(b, given)
    if any(isinstance(r, Undefined) for r in (r_ab, r_ag, r_bg)):
        return Undefined("fewer than 3 items, or a constant side")
    denom = np.sqrt((1 - r_ag**2) * (1 - r_bg**2))
    if denom == 0:
        return Undefined("a side is a rank function of the control")
    return float((r_ab - r_ag * r_bg) / denom)


def likert_spread(counts: np.ndarray) -> np.ndarray:
    """Standard deviation of each item's annotator scores from their Likert-5 counts (n, 5) -> (n,)."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    values = np.arange(1, 6)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = counts @ values / n
        var = counts @ values**2 / n - mean**2
    return np.sqrt(np.clip(var, 0, None))


def item_disagreement(sigma: np.ndarray, mu: np.ndarray, counts: np.ndarray) -> dict:
    """Does a head's predicted spread sigma (per item) explain how much annotators disagree on the item?
    ``counts`` (n, 5): each item's annotator scores. Items with fewer than 2 scores are left out.
    Returns items, spearman(sigma, spread), partial_spearman(sigma, spread | mu), spearman(mu, spread)."""
    keep = np.asarray(counts).sum(axis=1) >= 2
    sigma, mu, spread = np.asarray(sigma)[keep], np.asarray(mu)[keep], likert_spread(counts)[keep]
    return {
        "items": int(keep.sum()),
        "spearman": spearman(sigma, spread),
        "partial_spearman_given_mu": partial_spearman(sigma, spread, mu),
        "spearman_mu": spearman(mu, spread),
    }
