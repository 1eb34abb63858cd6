"""Metrics of the heads, vectorised over pairs. Each has a brute-force reference test."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


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
        return float("nan")
    return float((n_a * pred_a + n_b * (1 - pred_a)).sum() / total)


def diverging_pairs(counts: np.ndarray) -> np.ndarray:
    """Pairs on which annotators diverge: at least one prefers each side."""
    return ((counts[:, 3] + counts[:, 4]) > 0) & ((counts[:, 0] + counts[:, 1]) > 0)


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (sklearn); nan when only one class is present."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return float("nan")
    return float(roc_auc_score(positive, score))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
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
