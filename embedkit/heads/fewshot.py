"""Few-shot weights for new users of a PAL head: a MAP estimate that never strays far from the zero-shot
point on a handful of pairs.

With f, g and the prototypes frozen, a new user u is a logit vector z_u (w_u = softmax(z_u)). The plain
maximum-likelihood fit overfits a few pairs: on noisy real annotators it did worse than the zero-shot
mean for tens of shots. Here the seen users' weights define a prior on the centred logits,

    z_c = z - mean(z),      z_c ~ N(mu, Sigma),      mu = centred log of the zero-shot weights,

(Sigma: the seen users' spread around mu, plus a small ridge), and few-shot fitting minimises, for all
users at once,

    sum_rows loss(delta_row(w_u)) + tau * 1/2 (z_c - mu)^T Sigma^-1 (z_c - mu)        (per user)

With no pairs the optimum is the zero-shot weights exactly; each pair pulls the estimate towards the
user's own choices, so accuracy rises from the zero-shot point as shots grow. The strength tau is chosen
once after training, on seen users: a few of their train pairs act as shots, their val/test pairs score
each tau on the grid by held-out accuracy (ties within 0.002 broken by held-out loss), so where the seen
users show that the plain fit is best (clean, well separated users), tau = 0 is chosen.

The nearest-neighbour alternative (``knn_weights``) starts a new user from the seen users who best
explain their few pairs: the mean weights of the k seen users with the highest likelihood.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from embedkit.data.splits import rank_within_group
from embedkit.heads.base import RewardHead
from embedkit.heads.metrics import preference_accuracy

log = logging.getLogger(__name__)

STRENGTH_GRID = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
SELECTION_SHOTS = (1, 3, 10)
MAX_SELECTION_USERS = 500


@dataclass
class LogitPrior:
    """N(mean, cov) on centred logits, with the strength tau that multiplies its penalty."""

    mean: np.ndarray  # (K,), sums to 0
    cov: np.ndarray  # (K, K)
    strength: float = 1.0
    selection: dict | None = None  # held-out loss per strength, when chosen by choose_strength

    @classmethod
    def fit(cls, weights: np.ndarray, zero_shot: np.ndarray) -> LogitPrior:
        """From the seen users' weights (U, K), centred at the zero-shot weights (K,)."""
        k = weights.shape[1]
        logw = np.log(np.clip(weights, 1e-6, None))
        centred = logw - logw.mean(axis=1, keepdims=True)
        mu = np.log(np.clip(zero_shot, 1e-6, None))
        mu = mu - mu.mean()
        diff = centred - mu
        cov = diff.T @ diff / max(len(weights) - 1, 1)
        cov = cov + (1e-2 * np.trace(cov) / k + 1e-3) * np.eye(k)  # ridge: a prior never rules a point out
        return cls(mean=mu, cov=cov)

    @property
    def precision(self) -> np.ndarray:
        if getattr(self, "_precision", None) is None or self._precision_of is not self.cov:
            self._precision, self._precision_of = np.linalg.pinv(self.cov), self.cov
        return self._precision

    def penalty(self, logits: torch.Tensor) -> torch.Tensor:
        """1/2 (z_c - mu)^T Sigma^-1 (z_c - mu) per user: (U, K) -> (U,)."""
        d = (
            logits
            - logits.mean(dim=1, keepdim=True)
            - torch.as_tensor(self.mean, dtype=logits.dtype, device=logits.device)
        )
        prec = torch.as_tensor(self.precision, dtype=logits.dtype, device=logits.device)
        return 0.5 * torch.einsum("uk,kl,ul->u", d, prec, d)

    def to_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "cov": self.cov.tolist(),
            "strength": self.strength,
            "selection": self.selection,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LogitPrior:
        return cls(
            np.asarray(d["mean"], float),
            np.asarray(d["cov"], float),
            float(d["strength"]),
            d.get("selection"),
        )


def optimise_logits(
    delta_fn: Callable[[torch.Tensor], torch.Tensor],
    row_loss: Callable[[torch.Tensor], torch.Tensor],
    init: torch.Tensor,
    prior: LogitPrior | None,
    strength: float,
    steps: int,
) -> torch.Tensor:
    """Minimise sum of per-row losses + strength * prior penalty over (U, K) logits, all users at once
    (they are independent, so the sum separates), with scipy's L-BFGS-B for at most ``steps`` iterations;
    gradients by torch autograd. ``delta_fn(weights (U, K)) -> (B,)``, ``row_loss(delta) -> (B,)``.
    Returns the weights (U, K)."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    shape, dtype, device = init.shape, init.dtype, init.device

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        z = torch.tensor(x.reshape(shape), dtype=dtype, device=device, requires_grad=True)
        loss = row_loss(delta_fn(torch.softmax(z, -1))).sum()
        if prior is not None and strength > 0:
            loss = loss + strength * prior.penalty(z).sum()
        loss.backward()
        return float(loss.detach()), z.grad.double().cpu().numpy().ravel()

    x0 = init.detach().double().cpu().numpy().ravel()
    # scipy's BLAS threads spin between calls and fight torch's for the cores (3x slower on 2 CPUs):
    # L-BFGS-B's own vector work is small, so its BLAS runs on one thread
    with threadpool_limits(1, user_api="blas"):
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": steps, "gtol": 1e-6})
    return torch.softmax(torch.as_tensor(res.x.reshape(shape), dtype=dtype, device=device), -1)


def knn_weights(loglik: torch.Tensor, seen_weights: torch.Tensor, k: int) -> torch.Tensor:
    """Mean weights of the ``k`` seen users with the highest log-likelihood of each new user's pairs.
    ``loglik`` (U_new, U_seen), ``seen_weights`` (U_seen, K) -> (U_new, K)."""
    k = max(1, min(k, loglik.shape[1]))
    top = loglik.topk(k, dim=1).indices  # (U_new, k)
    return seen_weights[top].mean(dim=1)


def choose_strength(head, data) -> tuple[float, dict]:
    """The prior strength of a fitted PAL ``head`` on STRENGTH_GRID with the best held-out accuracy (mean
    over 1, 3 and 10 shots) when seen users are treated as new: some of their train pairs as shots,
    their val/test pairs scored; strengths within 0.002 of the best are told apart by held-out loss.
    Returns (strength, {strength: {accuracy, loss}})."""
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
            shot_rows = torch.as_tensor(
                is_train & (train_rank < shots) & ok_user[inv], device=head.device
            )
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
                acc[tau].append(
                    preference_accuracy(d.cpu().numpy(), sel.counts[eval_mask], sel.y[eval_mask])
                )
    scores = {
        tau: (float(np.mean(acc[tau])), float(np.mean(loss[tau]))) for tau in STRENGTH_GRID if acc[tau]
    }
    if not scores:
        return 1.0, {}
    top = max(a for a, _ in scores.values())
    near = [tau for tau, (a, _) in scores.items() if a >= top - 0.002]
    best = min(near, key=lambda tau: scores[tau][1])
    return float(best), {str(k): {"accuracy": a, "loss": lo} for k, (a, lo) in scores.items()}
