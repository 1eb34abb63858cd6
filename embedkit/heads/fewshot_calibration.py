"""Choosing the few-shot prior of a PAL head (:mod:`embedkit.heads.fewshot`): its spread Sigma and
strength tau, and whether it helps new users at all, with the statistics that decide it (a gain over the
zero-shot point with a standard error clustered by user).

**Calibration** (:func:`calibrate_prior`, the default): Sigma and tau must come from users the
networks were not trained on. A seen user's pairs were fitted by f, g and the prototypes, which makes
their few shots look far more telling than a new user's (on real annotators, selection accuracies ten
points above what new users reach, and so a prior far too weak). So ``prior_users`` of the seen users are
held out of training altogether; after training, with everything frozen, they are treated exactly as new
users: Sigma is the spread of their weights fitted the way a new user's are (on all their pairs, under a
weak prior), and tau is chosen on their held-out pairs: each user's items are split in two halves, pairs
within one half give 1, 2, 5, 10, 20 shots, pairs within the other are scored (so, as for a new user's
next responses, no scored pair shows an item the shots showed), two-fold (Sigma from one half of the
users, tau scored on the other). tau is the strength
with the best mean lower bound of its gain over the zero-shot point (gain minus two standard errors,
clustered by user) among those that lose at no shot count (by more than 0.002): on few held-out users the
bound is wide. Where no strength's bound is positive (or every strength loses somewhere), few-shot
fitting falls back to the zero-shot point itself: it is used only where the held-out users show it helps.
The held-out users then get weights fitted like a new user's, under that prior, and stay seen users.

Without held-out users (``prior_users=0``, or fewer than MIN_CALIBRATION_USERS of them: under ~54 seen
users at 0.15), :func:`choose_strength` chooses tau in-sample on the seen users, as embedkit < 0.3 did, with
Sigma from their trained weights, but never below 1: the in-sample ranking favours priors weaker than the
seen users' own spread, which put a new user's weights near a corner of the simplex after a few pairs.
This path has no guard against losing to the zero-shot point.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from embedkit.data.splits import rank_within_group
from embedkit.heads.base import RewardHead
from embedkit.heads.fewshot import LogitPrior
from embedkit.heads.metrics import preference_accuracy, preference_hits

log = logging.getLogger(__name__)

STRENGTH_GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
IN_SAMPLE_MIN_STRENGTH = 1.0
"""The weakest prior the in-sample choice may pick: the seen users' own spread at face value. Chosen on the
seen users' pairs, which the networks fitted, the in-sample ranking favours weaker priors than new users
need (8 seen users of `embedkit build synthetic --K-star 2 --flip 0.1,0.3 --seed 1`: it picked 0.1, and 5
shots put new users' weights near a corner, up to 0.96 / 0.04); so it may make the prior stronger than that
spread, never weaker."""
SELECTION_SHOTS = (1, 3, 10)
MAX_SELECTION_USERS = 500
CALIBRATION_GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
CALIBRATION_SHOTS = (1, 2, 5, 10, 20)
MIN_CALIBRATION_USERS = 8
LOSS_TOLERANCE = 0.002
"""A strength may lose this much accuracy to the zero-shot point at a shot count and still be chosen."""
BOUND_Z = 2.0
"""Strengths are ranked by the gain over the zero-shot point minus this many standard errors."""
WEAK_PRIOR_VAR = 10.0
"""The isotropic logit variance of the weak prior that calibration users' weights are fitted under."""


def choose_strength(head, data) -> tuple[float, dict]:
    """The prior strength of a fitted PAL ``head`` on STRENGTH_GRID, at least IN_SAMPLE_MIN_STRENGTH, with
    the best held-out accuracy (mean over 1, 3 and 10 shots) when seen users are treated as new: some of
    their train pairs as shots, their val/test pairs scored; strengths within 0.002 of the best are told
    apart by held-out loss. Returns (strength, {strength: {accuracy, loss}}), every strength of the grid
    recorded."""
    known = np.isin(data.user.astype(str), np.asarray(head.users_, dtype=str))
    seen = data.subset(known & np.isin(data.split, ["train", "val", "test"]))
    users = seen.user.astype(str)
    has_eval = set(users[seen.split != "train"].tolist())
    pool = sorted(set(users[seen.split == "train"].tolist()) & has_eval)
    if not pool:
        log.info("no seen user has both train and val/test pairs: few-shot prior strength 1")
        return 1.0, {}
    rng = np.random.default_rng(head.config.seed)
    pool = sorted(rng.permutation(pool)[:MAX_SELECTION_USERS].tolist())
    sel = seen.subset(np.isin(users, pool))
    sel_users = sel.user.astype(str)
    names, inv = np.unique(sel_users, return_inverse=True)
    inv = inv.reshape(-1)
    is_train = sel.split == "train"
    group = np.where(is_train, sel_users, "\x00held-out")  # rank train rows per user, in a seeded order
    order = rng.permutation(len(sel))
    train_rank = np.empty(len(sel), dtype=np.int64)
    train_rank[order] = rank_within_group(group[order])
    n_train = np.bincount(inv, weights=is_train, minlength=len(names))
    t = RewardHead._tensors(head, sel, head.device)
    uidx = torch.as_tensor(inv, device=head.device)
    acc: dict[float, list[float]] = {tau: [] for tau in STRENGTH_GRID}
    loss: dict[float, list[float]] = {tau: [] for tau in STRENGTH_GRID}
    with head._frozen():
        st = head.module_.stats(t["X"], t["prompt"], t["a"], t["b"])
        for shots in SELECTION_SHOTS:
            ok_user = n_train >= shots
            shot_rows = torch.as_tensor(is_train & (train_rank < shots) & ok_user[inv], device=head.device)
            eval_mask = ~is_train & ok_user[inv]
            eval_rows = torch.as_tensor(eval_mask, device=head.device)
            if not shot_rows.any() or not eval_rows.any():
                continue
            sub = {k: (v[shot_rows] if k in head.module_.PER_ROW else v) for k, v in st.items()}
            ev = {k: (v[eval_rows] if k in head.module_.PER_ROW else v) for k, v in st.items()}
            rows, y_s, w_s = uidx[shot_rows], t["y"][shot_rows], t["weight"][shot_rows]
            for tau in STRENGTH_GRID:
                W = head._optimise(sub, rows, len(names), y_s, w_s, tau)
                with torch.no_grad():
                    d = head.module_.delta_stats(ev, W, uidx[eval_rows])
                    loss[tau].append(float(head._row_losses(d, t["y"][eval_rows]).mean()))
                acc[tau].append(preference_accuracy(d.cpu().numpy(), sel.counts[eval_mask], sel.y[eval_mask]))
    scores = {tau: (float(np.mean(acc[tau])), float(np.mean(loss[tau]))) for tau in STRENGTH_GRID if acc[tau]}
    if not scores:
        return 1.0, {}
    return pick_in_sample(scores), {str(k): {"accuracy": a, "loss": lo} for k, (a, lo) in scores.items()}


def pick_in_sample(scores: dict[float, tuple[float, float]]) -> float:
    """The in-sample strength from ``{strength: (accuracy, loss)}``: among strengths of at least
    IN_SAMPLE_MIN_STRENGTH, those within 0.002 of the best accuracy, the one with the lowest loss."""
    allowed = {tau: v for tau, v in scores.items() if tau >= IN_SAMPLE_MIN_STRENGTH}
    top = max(a for a, _ in allowed.values())
    near = [tau for tau, (a, _) in allowed.items() if a >= top - 0.002]
    return float(min(near, key=lambda tau: allowed[tau][1]))


def paired_gain(
    hits: np.ndarray, zero_hits: np.ndarray, labels: np.ndarray, users: np.ndarray, n_users: int
) -> tuple[float, np.ndarray]:
    """(accuracy gain over the zero-shot point on the same pairs, each user's influence on it): per-row
    hits of both, the labels each row counts, and each row's user (0..n_users-1). The influences
    (n_users,) sum to zero; their spread is the gain's error clustered by user (a user's pairs rise or fall
    together with their fitted weights, so users, not pairs, are the samples)."""
    keep = labels > 0
    diff, labels, users = (hits - zero_hits)[keep], labels[keep], np.asarray(users)[keep]
    if not len(labels):
        return 0.0, np.zeros(n_users)
    total = labels.sum()
    gain = float(diff.sum() / total)
    return gain, np.bincount(users, weights=diff - gain * labels, minlength=n_users) / total


def mean_gain_error(influences: list[np.ndarray]) -> float:
    """Standard error of the mean gain over shot counts from each shot count's per-user influences
    (clustered by user: the same users' shots count at every shot count)."""
    if not influences:
        return 0.0
    per_user = np.mean(influences, axis=0)
    n = int((np.abs(np.stack(influences)).sum(axis=0) > 0).sum())  # users whose pairs moved at all
    if n == 0:
        return 0.0  # the same predictions as the zero-shot point: no uncertainty about the gain
    if n < 2:
        return float("inf")
    return float(np.sqrt((per_user**2).sum() * n / (n - 1)))


def select_strength(
    gains: dict[float, dict[int, float]], errors: dict[float, float] | None = None,
    tolerance: float = LOSS_TOLERANCE,
) -> float | None:  # fmt: skip
    """The strength with the best lower bound of its mean accuracy gain over the zero-shot point (the
    mean over shot counts minus BOUND_Z standard errors) among those that lose no more than
    ``tolerance`` at any shot count (ties: the stronger prior); None when every strength loses somewhere,
    or none has a positive bound (few-shot fitting then returns the zero-shot point). ``gains``: strength -> shots -> gain over the
    zero-shot accuracy of the same users and pairs; ``errors``: strength -> standard error of the mean
    gain. On few held-out users the errors are large, and the bound keeps the choice from chasing their
    noise."""
    errors = errors or {}
    safe = [tau for tau, g in gains.items() if g and min(g.values()) >= -tolerance]
    if not safe:
        return None

    def bound(tau):
        return float(np.mean(list(gains[tau].values()))) - BOUND_Z * errors.get(tau, 0.0)

    best = max(safe, key=lambda tau: (bound(tau), tau))
    return float(best) if bound(best) > 0 else None  # nothing beats zero-shot reliably: use it


def calibration_users(data, frac: float, seed: int) -> list[str]:
    """The seen users held out of training to calibrate the few-shot prior: a seeded ``frac`` of the users
    with train pairs (at most MAX_SELECTION_USERS), from those with at least 3 train pairs (shots and
    held-out pairs); none when that leaves fewer than MIN_CALIBRATION_USERS."""
    if frac <= 0:
        return []
    users, counts = np.unique(data.in_split("train").user.astype(str), return_counts=True)
    n = min(MAX_SELECTION_USERS, int(round(frac * len(users))))
    eligible = users[counts >= 3]
    if n < MIN_CALIBRATION_USERS or len(eligible) < MIN_CALIBRATION_USERS or len(users) - n < 2:
        return []
    return sorted(np.random.default_rng(seed).permutation(eligible)[:n].tolist())


def calibrate_prior(head, data, users: list[str], zero_shot: np.ndarray) -> tuple[LogitPrior, np.ndarray]:
    """The few-shot prior of a fitted PAL ``head`` from held-out ``users`` (see the module docstring), and
    those users' weights fitted under it from their train pairs (in ``users`` order). Returns
    (prior, (len(users), K) weights)."""
    sel = data.subset(np.isin(data.user.astype(str), users) & (data.split == "train"))
    names, inv = np.unique(sel.user.astype(str), return_inverse=True)
    inv = inv.reshape(-1)
    rng = np.random.default_rng(head.config.seed)
    # each user's items fall in two halves: pairs within the first give shots, pairs within the second are
    # scored (pairs across are not used), so that no scored pair compares an item the shots showed, as a
    # new user's next responses are new to them
    n = len(sel)
    user_item, where = np.unique(
        np.concatenate([inv * len(data.X) + sel.a, inv * len(data.X) + sel.b]), return_inverse=True
    )
    coin = rng.random(len(user_item)) < 0.5
    in_shots_a, in_shots_b = coin[where[:n]], coin[where[n:]]
    is_shot, is_eval = in_shots_a & in_shots_b, ~in_shots_a & ~in_shots_b
    order = rng.permutation(n)
    rank = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    shot_order = order[is_shot[order]]
    rank[shot_order] = rank_within_group(sel.user.astype(str)[shot_order])  # shots in a seeded order
    shot_pool = np.bincount(inv[is_shot], minlength=len(names))  # how many shots a user can give
    fold = rng.permutation(len(names)) % 2
    k = head.config.K
    mu = np.log(np.clip(zero_shot, 1e-6, None))
    weak = LogitPrior(mean=mu - mu.mean(), cov=WEAK_PRIOR_VAR * np.eye(k), zero_shot=zero_shot)
    t = RewardHead._tensors(head, sel, head.device)
    uidx = torch.as_tensor(inv, device=head.device)
    y, w = t["y"], t["weight"]

    def rows_of(st, mask):
        m = torch.as_tensor(mask, device=head.device)
        return {key: (v[m] if key in head.module_.PER_ROW else v) for key, v in st.items()}, m

    with head._frozen():
        st = head.module_.stats(t["X"], t["prompt"], t["a"], t["b"])
        full = head._optimise(st, uidx, len(names), y, w, 1.0, prior=weak).cpu().numpy()
        spread = {f: LogitPrior.fit(full[fold == f], zero_shot) for f in (0, 1)}
        hits: dict = {}  # (strength or "zero_shot", shots) -> per-row hits, (labels per row, once)
        for f in (0, 1):
            for shots in CALIBRATION_SHOTS:
                ok = (fold == f) & (shot_pool >= shots)
                shot_rows, eval_rows = is_shot & (rank < shots) & ok[inv], is_eval & ok[inv]
                if not shot_rows.any() or not eval_rows.any():
                    continue
                sub, m_shot = rows_of(st, shot_rows)
                ev, m_eval = rows_of(st, eval_rows)
                prior = spread[1 - f]
                for tau in (*CALIBRATION_GRID, "zero_shot"):
                    if tau == "zero_shot":
                        W = torch.as_tensor(
                            np.tile(zero_shot, (len(names), 1)), dtype=torch.float32, device=head.device
                        )
                    else:
                        W = head._optimise(
                            sub, uidx[m_shot], len(names), y[m_shot], w[m_shot], tau, prior=prior
                        )
                    with torch.no_grad():
                        d = head.module_.delta_stats(ev, W, uidx[m_eval]).cpu().numpy()
                    h, n = preference_hits(d, sel.counts[eval_rows], sel.y[eval_rows])
                    hits.setdefault((tau, shots), []).append(h)
                    if tau == "zero_shot":
                        hits.setdefault(("labels", shots), []).append(n)
                        hits.setdefault(("users", shots), []).append(inv[eval_rows])
    hits = {key: np.concatenate(v) for key, v in hits.items()}
    shots_seen = sorted({s for key, s in hits if key == "labels" and hits[(key, s)].sum() > 0})
    acc = {
        (tau, s): float(hits[(tau, s)].sum() / hits[("labels", s)].sum())
        for tau, s in hits
        if tau != "labels" and s in shots_seen
    }
    gains, errors = {}, {}
    for tau in CALIBRATION_GRID:
        gains[tau], influences = {}, []
        for s in shots_seen:
            gains[tau][s], infl = paired_gain(
                hits[(tau, s)], hits[("zero_shot", s)], hits[("labels", s)], hits[("users", s)], len(names)
            )
            influences.append(infl)
        errors[tau] = mean_gain_error(influences)
    selection = {
        "users": len(names),
        "pairs": len(sel),
        "shots": shots_seen,
        "zero_shot": {str(s): acc[("zero_shot", s)] for s in shots_seen},
        "accuracy": {
            str(tau): {str(s): acc[(tau, s)] for s in shots_seen if (tau, s) in acc}
            for tau in CALIBRATION_GRID
        },
        "mean_gain_se": {str(tau): errors[tau] for tau in CALIBRATION_GRID},
    }
    prior = LogitPrior.fit(full, zero_shot)
    best = select_strength(gains, errors)
    if best is None:
        prior.strength, prior.fallback = float(CALIBRATION_GRID[-1]), True
        log.warning(
            "few-shot weights: no prior strength reliably beat the zero-shot point on %d held-out users' new items; "
            "new users get the zero-shot weights (method mle or knn still fit them)",
            len(names),
        )
    else:
        prior.strength = best
    prior.selection = {**selection, "chosen": prior.strength, "fallback": prior.fallback}
    with head._frozen():
        W = (
            zero_shot[None].repeat(len(names), 0)
            if prior.fallback
            else head._optimise(st, uidx, len(names), y, w, prior.strength, prior=prior).cpu().numpy()
        )
    return prior, W
