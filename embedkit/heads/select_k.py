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
import time
from dataclasses import dataclass, field

import numpy as np

from embedkit.heads.pair_data import PairData

log = logging.getLogger(__name__)
progress_log = logging.getLogger("embedkit.progress")


@dataclass
class KSelection:
    """What ``select_k`` measured and chose."""

    rows: list[dict] = field(default_factory=list)
    chosen: int = 1
    best: int = 1
    noise: float = 0.0
    message: str = ""
    refit: list[int] = field(default_factory=list)
    """The Ks fitted again with more seeds because the curve was not monotonic."""
    heads: dict = field(default_factory=dict, repr=False)
    """K -> the head fitted with the configured seed (not saved with the selection)."""

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "chosen": self.chosen,
            "best": self.best,
            "noise": self.noise,
            "message": self.message,
            "refit": self.refit,
        }


def _row(head, K: int, seconds: float) -> dict:
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
        "seconds": round(seconds, 1),
    }
    unseen = head.metrics_.get("unseen", {})
    if unseen:
        row["unseen_zero_shot"] = float(unseen.get("zero_shot", float("nan")))
        shots = unseen.get("by_shots", {})
        if shots:
            last = max(shots, key=int)
            row[f"unseen_{last}_shots"] = float(shots[last])
    return row


def choose_k(rows: list[dict]) -> tuple[int, int, float, str]:
    """(chosen K, best K, the noise the choice allowed, a message) from rows of K, val_accuracy and
    val_se: the smallest K within one standard error of the difference to the best K's accuracy."""
    accs = np.array([r["val_accuracy"] for r in rows])
    if np.isnan(accs).all():
        raise ValueError("no validation accuracy to choose K by: the data needs seen users' val pairs")
    b = int(np.nanargmax(accs))
    best = rows[b]["K"]

    def diff_se(r):
        se = [x if math.isfinite(x) else 0.0 for x in (r["val_se"], rows[b]["val_se"])]
        return math.hypot(*se)

    for r in rows:
        r["diff_se"] = diff_se(r)
    row = next(
        r for r in rows if math.isfinite(r["val_accuracy"]) and r["val_accuracy"] >= accs[b] - r["diff_se"]
    )
    chosen, noise = row["K"], row["diff_se"]
    k_max = rows[-1]["K"]
    if chosen == rows[0]["K"] == 1:
        message = (
            f"K = 1 is enough: no K up to {k_max} beats it by more than the noise (best K = {best}, validation "
            f"accuracy {accs[b]:.4f} against {accs[0]:.4f} for K = 1, one standard error of the difference "
            f"{noise:.4f})"
        )
    elif chosen == best:
        message = (
            f"K = {chosen}: the best validation accuracy ({accs[b]:.4f}), and no smaller K comes within one "
            "standard error of the difference"
        )
    else:
        message = (
            f"K = {chosen}: the smallest K within one standard error of the difference ({noise:.4f}) of the best "
            f"validation accuracy (K = {best}: {accs[b]:.4f}; K = {chosen}: {row['val_accuracy']:.4f})"
        )
    return chosen, best, noise, message


def monotonic(rows: list[dict]) -> bool:
    """Whether validation accuracy never falls as K grows (a curve training noise has not bent)."""
    accs = [r["val_accuracy"] for r in rows]
    return all(b >= a for a, b in zip(accs, accs[1:], strict=False))


def select_k(name: str, data: PairData, k_max: int, progress: bool = False, repeats: int = 2, **config):
    """Fit ``name`` (pal-a / pal-b) with K = 1..k_max; returns (the chosen head, KSelection).

    Each K is one fit (a progress line per K on the ``embedkit.progress`` logger). When the validation
    curve is not monotonic, training noise may have bent it: the Ks within two standard errors of the
    best (at most three) are fitted ``repeats`` more times with other seeds, and K is chosen on their mean
    accuracy, whose error then counts the seeds' spread too. The head returned is the chosen K's fit with
    the configured seed."""
    from embedkit.heads.api import create_head

    if k_max < 1:
        raise ValueError(f"--K-max must be >= 1, got {k_max}")
    heads, rows = {}, []
    for K in range(1, k_max + 1):
        t0 = time.perf_counter()
        head = create_head(name, K=K, **config).fit(data, progress=progress)
        rows.append(_row(head, K, time.perf_counter() - t0))
        heads[K] = head
        r = rows[-1]
        progress_log.info(
            "K = %d of %d: validation accuracy %.4f ± %.4f, test %.4f (%d epochs, %.0f s)",
            K, k_max, r["val_accuracy"], r["val_se"], r["test_accuracy"], r["epochs"], r["seconds"],
        )  # fmt: skip
    chosen, best, noise, message = choose_k(rows)
    refit: list[int] = []
    if repeats > 0 and not monotonic(rows):
        near = sorted(rows, key=lambda r: -r["val_accuracy"])
        refit = sorted(
            r["K"] for r in near[:3] if r["val_accuracy"] >= near[0]["val_accuracy"] - 2 * r["diff_se"]
        )
        seed = int(config.pop("seed", 0))
        for K in refit:
            accs = [rows[K - 1]["val_accuracy"]]
            for extra in range(1, repeats + 1):
                t0 = time.perf_counter()
                again = create_head(name, K=K, seed=seed + extra, **config).fit(data, progress=progress)
                accs.append(_row(again, K, 0.0)["val_accuracy"])
                progress_log.info(
                    "K = %d, seed %d: validation accuracy %.4f (%.0f s)",
                    K,
                    seed + extra,
                    accs[-1],
                    time.perf_counter() - t0,
                )
            r = rows[K - 1]
            r["val_accuracy_seeds"] = accs
            r["val_accuracy_single"] = r["val_accuracy"]
            r["val_accuracy"] = float(np.mean(accs))
            r["val_se"] = math.sqrt(r["val_se"] ** 2 + float(np.var(accs, ddof=1)) / len(accs))
        pool = [r for r in rows if r["K"] in refit]
        chosen, best, noise, message = choose_k(pool)
        curve = ", ".join(f"{r.get('val_accuracy_single', r['val_accuracy']):.4f}" for r in rows)
        message = (
            f"the validation curve was not monotonic ({curve}), "
            f"so K = {', '.join(map(str, refit))} were fitted {repeats} more times with other seeds; on their mean "
            f"accuracy, " + message
        )
    if chosen == k_max and k_max > 1:
        log.warning(
            "--K auto chose K = %d, the largest K it tried: a larger K may do better; raise --K-max to see",
            k_max,
        )
    log.info(message)
    return heads[chosen], KSelection(rows, chosen, best, noise, message, refit, heads)


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
