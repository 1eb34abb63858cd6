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
from pathlib import Path

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
    warnings: list[str] = field(default_factory=list)
    """What the sweep warned about: a validation set too small to separate the Ks, unconverged fits."""

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "chosen": self.chosen,
            "best": self.best,
            "noise": self.noise,
            "message": self.message,
            "refit": self.refit,
            "warnings": self.warnings,
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
        "converged": bool(
            head.history_.get("converged", True)
            and head.history_.get("with_prior_users", {}).get("converged", True)
        ),
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


def _relative_cost(K: int) -> float:
    """An epoch's cost at K relative to K = 1: f runs on both responses, g_1..g_K on the prompt, so
    (2 + K) / 3 (a rough model: it ignores the optimiser and validation)."""
    return (2 + K) / 3


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


class SweepClock:
    """The sweep's time estimates on the ``embedkit.progress`` logger: after the first epoch, a range for
    the whole sweep (every fit stopping at its patience, or running to its epoch cap); after each K, the
    remaining Ks from the epochs that K took."""

    def __init__(self, k_max: int, runs_per_k: int):
        self.k_max, self.runs_per_k, self.t_epoch, self.said = k_max, runs_per_k, None, False

    def runs(self, K: int) -> int:
        return 1 if K == 1 else self.runs_per_k  # K = 1 has no few-shot prior, so no second run

    def on_epoch(self, epoch: int, history: dict) -> None:
        if self.said or epoch != 0:
            return
        self.said = True
        self.t_epoch = history["epoch_seconds"][0]
        weight = sum(self.runs(K) * _relative_cost(K) for K in range(1, self.k_max + 1))
        low = self.t_epoch * weight * (history["patience"] + 1)
        high = self.t_epoch * weight * history["max_epochs"]
        progress_log.info(
            "--K auto: the first epoch (K = 1) took %.1f s; the sweep K = 1..%d should take %s to %s "
            "(every fit stopping after %d epochs without a gain, or running to its %d-epoch cap)",
            self.t_epoch, self.k_max, _minutes(low), _minutes(high), history["patience"], history["max_epochs"],
        )  # fmt: skip

    def after(self, K: int, seconds: float) -> None:
        if K >= self.k_max:
            return
        per_cost = seconds / (self.runs(K) * _relative_cost(K))
        rest = sum(self.runs(k) * _relative_cost(k) for k in range(K + 1, self.k_max + 1)) * per_cost
        progress_log.info(
            "--K auto: K = %d took %s; K = %d..%d estimated at ~%s more (from K = %d's epochs)",
            K, _minutes(seconds), K + 1, self.k_max, _minutes(rest), K,
        )  # fmt: skip


def separation_warning(rows: list[dict], chosen: int, best: int) -> str | None:
    """A warning when the validation set cannot tell the chosen K from the best one: the best is higher,
    but by less than the noise (the one-SE rule then keeps the smaller K by default, not by evidence).
    Says how many validation pairs would make a gap this size two standard errors of the difference."""
    if chosen == best:
        return None
    r_c, r_b = rows[[r["K"] for r in rows].index(chosen)], rows[[r["K"] for r in rows].index(best)]
    gap, se = r_b["val_accuracy"] - r_c["val_accuracy"], r_c.get("diff_se", float("nan"))
    n = r_c["val_pairs"]
    need = (
        f"; about {math.ceil(n * (2 * se / gap) ** 2):,} would make this gap two standard errors"
        if gap > 0 and n
        else ""
    )
    return (
        f"--K auto: the validation set ({n} pairs, standard error ±{r_c['val_se']:.3f} per accuracy) cannot "
        f"separate K = {chosen} ({r_c['val_accuracy']:.4f}) from K = {best} ({r_b['val_accuracy']:.4f}): the gap "
        f"{gap:.4f} is within the noise ({se:.4f}, one standard error of the difference), so the smaller K is "
        f"kept by the rule, not by evidence. More validation pairs (--val-frac, or more data) would tell them "
        f"apart{need}"
    )


def select_k(name: str, data: PairData, k_max: int, progress: bool = False, repeats: int = 2, **config):
    """Fit ``name`` (pal-a / pal-b) with K = 1..k_max; returns (the chosen head, KSelection).

    Each K is one fit, its epoch lines named ``K = k of k_max``; after the first epoch a time estimate
    for the sweep, after each K the remaining Ks' (``embedkit.progress`` logger). Warnings: fits that
    stopped at their epoch cap unconverged, and a validation set too small to separate the chosen K from
    the best. When the validation
    curve is not monotonic, training noise may have bent it: the Ks within two standard errors of the
    best (at most three) are fitted ``repeats`` more times with other seeds, and K is chosen on their mean
    accuracy, whose error then counts the seeds' spread too. The head returned is the chosen K's fit with
    the configured seed."""
    from embedkit.heads.api import create_head

    if k_max < 1:
        raise ValueError(f"--K-max must be >= 1, got {k_max}")
    users = len(set(data.in_split("train").user.tolist())) if data is not None else 0
    if 2 <= users < k_max:  # a PAL head refuses more prototypes than users with training pairs
        log.warning("--K-max %d: only %d users have training pairs, so K goes up to %d", k_max, users, users)
        k_max = users
    heads, rows = {}, []
    two_runs = config.get("fewshot_prior", -1.0) < 0 and config.get("prior_users", 0.15) > 0
    clock = SweepClock(k_max, 2 if two_runs else 1)
    for K in range(1, k_max + 1):
        t0 = time.perf_counter()
        head = create_head(name, K=K, **config).fit(
            data, progress=progress, desc=f"K = {K} of {k_max}", on_epoch=clock.on_epoch
        )
        rows.append(_row(head, K, time.perf_counter() - t0))
        heads[K] = head
        clock.after(K, rows[-1]["seconds"])
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
                again = create_head(name, K=K, seed=seed + extra, **config).fit(
                    data, progress=progress, desc=f"K = {K}, seed {seed + extra}"
                )
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
    capped = [r["K"] for r in rows if not r.get("converged", True)]
    if capped:
        log.warning(
            "--K auto: the fit(s) of K = %s stopped at the epoch cap with validation still improving: their "
            "accuracies may be too low, which biases the choice; raise --epochs (or --lr) and run again",
            ", ".join(map(str, capped)),
        )
    warning = separation_warning(rows if not refit else [r for r in rows if r["K"] in refit], chosen, best)
    if warning:
        log.warning(warning)
    if chosen == k_max and k_max > 1:
        log.warning(
            "--K auto chose K = %d, the largest K it tried: a larger K may do better; raise --K-max to see",
            k_max,
        )
    log.info(message)
    sel = KSelection(rows, chosen, best, noise, message, refit, heads)
    sel.warnings = [w for w in [warning] if w] + (
        [f"K = {', '.join(map(str, capped))} stopped at the epoch cap unconverged"] if capped else []
    )
    return heads[chosen], sel


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


def save_with_selection(head, sel: KSelection, out, overwrite: bool = False) -> bool:
    """Save the head ``select_k`` chose to the folder ``out`` with the selection beside it:
    ``k_selection.json`` (``sel.to_dict()``) and ``k_selection.png`` (``plot_selection``), written into the
    folder before it appears. Returns whether the plot was written (False without matplotlib)."""
    import json

    from embedkit.heads.metrics import json_ready

    plotted = []

    def selection_files(folder: Path) -> None:
        (folder / "k_selection.json").write_text(
            json.dumps(json_ready(sel.to_dict()), indent=1, allow_nan=False) + "\n"
        )
        plotted.append(plot_selection(sel, folder / "k_selection.png"))

    head.save(out, overwrite=overwrite, extra=selection_files)
    return plotted[0]
