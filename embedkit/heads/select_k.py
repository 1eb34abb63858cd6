"""Choosing the number of prototypes K of a PAL head: fit K = 1..K_max, keep the smallest K within noise of
the best.

For each K the head is trained on the same data and splits; its validation accuracy (seen users' val
pairs) and validation loss are recorded. Each accuracy has a standard error sqrt(acc (1 - acc) / n) over
the n labelled validation pairs. The best K has the highest validation accuracy; the chosen K is the
smallest whose shortfall from the best is within one standard error of that difference,
sqrt(se_K^2 + se_best^2) (a one-SE rule on the difference): extra prototypes must earn their place. On
homogeneous data that is K = 1.

K is identifiable from accuracy only when the reward map f cannot absorb the users' differences: with
the paper's linear f (``arch="linear"``) K* prototypes are needed for K* groups of users, while an MLP f
can often fit three groups with two prototypes just as well, and then two is the honest answer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from embedkit.heads.pair_data import PairData

log = logging.getLogger(__name__)


@dataclass
class KSelection:
    """What ``select_k`` measured and chose."""

    rows: list[dict] = field(default_factory=list)
    chosen: int = 1
    best: int = 1
    noise: float = 0.0
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "chosen": self.chosen,
            "best": self.best,
            "noise": self.noise,
            "message": self.message,
        }


def select_k(name: str, data: PairData, k_max: int, progress: bool = False, **config):
    """Fit ``name`` (pal-a / pal-b) with K = 1..k_max; returns (the chosen head, KSelection)."""
    from embedkit.heads.api import create_head

    if k_max < 1:
        raise ValueError(f"--K-max must be >= 1, got {k_max}")
    heads, rows = {}, []
    for K in range(1, k_max + 1):
        head = create_head(name, K=K, **config).fit(data, progress=progress)
        seen = head.metrics_.get("seen", {})
        val = seen.get("val", {})
        acc = float(val.get("accuracy", float("nan")))
        n = int(val.get("pairs", 0))
        row = {
            "K": K,
            "val_accuracy": acc,
            "val_pairs": n,
            "val_se": math.sqrt(acc * (1 - acc) / n) if n and math.isfinite(acc) else float("nan"),
            "val_loss": head.history_.get("best_val_loss"),
            "test_accuracy": float(seen.get("test", {}).get("accuracy", float("nan"))),
            "epochs": head.history_.get("epochs_run"),
        }
        unseen = head.metrics_.get("unseen", {})
        if unseen:
            row["unseen_zero_shot"] = float(unseen.get("zero_shot", float("nan")))
            shots = unseen.get("by_shots", {})
            if shots:
                last = max(shots, key=int)
                row[f"unseen_{last}_shots"] = float(shots[last])
        rows.append(row)
        heads[K] = head
        log.info("K=%d: validation accuracy %.4f (+- %.4f)", K, acc, row["val_se"])
    accs = np.array([r["val_accuracy"] for r in rows])
    if np.isnan(accs).all():
        raise ValueError("no validation accuracy to choose K by: the data needs seen users' val pairs")
    best = int(np.nanargmax(accs)) + 1

    def diff_se(r):
        se = [x if math.isfinite(x) else 0.0 for x in (r["val_se"], rows[best - 1]["val_se"])]
        return math.hypot(*se)

    for r in rows:
        r["diff_se"] = diff_se(r)
    chosen = next(
        r["K"]
        for r in rows
        if math.isfinite(r["val_accuracy"]) and r["val_accuracy"] >= accs[best - 1] - r["diff_se"]
    )
    noise = rows[chosen - 1]["diff_se"]
    if chosen == 1:
        message = (
            f"K = 1 is enough: no K up to {k_max} beats it by more than the noise (best K = {best}, validation "
            f"accuracy {accs[best - 1]:.4f} against {accs[0]:.4f} for K = 1, one standard error of the difference "
            f"{noise:.4f})"
        )
    else:
        message = (
            f"K = {chosen}: the smallest K within one standard error of the difference ({noise:.4f}) of the best "
            f"validation accuracy (K = {best}: {accs[best - 1]:.4f}; K = {chosen}: {accs[chosen - 1]:.4f})"
        )
    return heads[chosen], KSelection(rows, chosen, best, noise, message)


def plot_selection(sel: KSelection, path) -> bool:
    """Validation accuracy against K with one-SE bars, the chosen K marked; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ks = [r["K"] for r in sel.rows]
    acc = [r["val_accuracy"] for r in sel.rows]
    se = [r["val_se"] for r in sel.rows]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.errorbar(ks, acc, yerr=se, marker="o", capsize=3)
    ax.axvline(sel.chosen, color="tab:green", ls="--", label=f"chosen K = {sel.chosen}")
    ax.set_xlabel("K (prototypes)")
    ax.set_ylabel("validation accuracy")
    ax.set_xticks(ks)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
