"""Few-shot weights for new users of a PAL head: a MAP estimate that never strays far from the zero-shot
point on a handful of pairs, and is calibrated on users training did not see.

With f, g and the prototypes frozen, a new user u is a logit vector z_u (w_u = softmax(z_u)). The plain
maximum-likelihood fit overfits a few pairs: on noisy real annotators it did worse than the zero-shot
mean for tens of shots. Here a prior on the centred logits,

    z_c = z - mean(z),      z_c ~ N(mu, Sigma),      mu = centred log of the zero-shot weights,

regularises the fit, which minimises, for all users at once,

    sum_rows loss(delta_row(w_u)) + tau * 1/2 (z_c - mu)^T Sigma^-1 (z_c - mu)        (per user)

With no pairs the optimum is the zero-shot weights exactly; each pair pulls the estimate towards the
user's own choices, so accuracy rises from the zero-shot point as shots grow.

How the prior's spread Sigma and strength tau are chosen (calibrated on seen users held out of
training, or in-sample without them): :mod:`embedkit.heads.fewshot_calibration`.

The nearest-neighbour alternative (``knn_weights``) starts a new user from the seen users who best
explain their few pairs: the mean weights of the k seen users with the highest likelihood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class LogitPrior:
    """N(mean, cov) on centred logits, with the strength tau that multiplies its penalty."""

    mean: np.ndarray  # (K,), sums to 0
    cov: np.ndarray  # (K, K)
    strength: float = 1.0
    selection: dict | None = None  # held-out results per strength, when chosen after training
    zero_shot: np.ndarray | None = None  # (K,) the zero-shot weights (None: the seen users' mean)
    fallback: bool = False
    """No strength beat the zero-shot point: few-shot MAP returns the zero-shot weights."""

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
        return cls(mean=mu, cov=cov, zero_shot=np.asarray(zero_shot, float))

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
            "zero_shot": None if self.zero_shot is None else self.zero_shot.tolist(),
            "fallback": self.fallback,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LogitPrior:
        return cls(
            np.asarray(d["mean"], float),
            np.asarray(d["cov"], float),
            float(d["strength"]),
            d.get("selection"),
            None if d.get("zero_shot") is None else np.asarray(d["zero_shot"], float),
            bool(d.get("fallback", False)),
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
