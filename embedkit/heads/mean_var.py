"""Mean-variance reward head (Diverging Preferences, section 4): a reward is a distribution N(mu, sigma^2).

For responses A and B (eq. 1), r_A - r_B ~ N(mu_A - mu_B, sigma_A^2 + sigma_B^2 - 2 rho sigma_A sigma_B),
with rho = eta * (fraction of annotators who called the pair a tie). The five label bins split r_A - r_B at
-1.5, -0.5, 0.5, 1.5 (B>>A, B>A, tie, A>B, A>>B); each bin's probability uses the paper's logistic
approximation of the CDF, F(t) = sigmoid((t - mean) / std), plus 0.05 per bin, renormalised. The
loss is KL(annotator distribution || predicted). sigma = |s| + 0.1 (appendix A).

Baseline ("nll", Siththaranjan et al.): independent rewards and -log Phi((mu_A - mu_B) / sqrt(sigma_A^2 +
sigma_B^2)) over the annotations that prefer a side (ties ignored).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from embedkit.errors import InputError
from embedkit.heads.base import RewardHead
from embedkit.heads.config import MeanVarConfig
from embedkit.heads.metrics import auroc, diverging_pairs, item_disagreement, preference_accuracy
from embedkit.heads.mlp import MLPReadout
from embedkit.heads.pair_data import PairData, group_identical_pairs
from embedkit.heads.schema import HeadConfigError

BIN_EDGES = (-1.5, -0.5, 0.5, 1.5)
SIGMA_FLOOR = 0.1
LAMBDA_GRID = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # on persona data 4.0 was picked: the edge


def bin_probabilities(mean: torch.Tensor, std: torch.Tensor, smoothing: float) -> torch.Tensor:
    """P(r_A - r_B in each of the 5 bins), (B, 5), with the logistic CDF and additive smoothing."""
    edges = torch.as_tensor(BIN_EDGES, dtype=mean.dtype, device=mean.device)
    cdf = torch.sigmoid((edges[None, :] - mean[:, None]) / std[:, None])  # (B, 4)
    ones, zeros = torch.ones_like(mean[:, None]), torch.zeros_like(mean[:, None])
    p = torch.diff(torch.cat([zeros, cdf, ones], dim=1), dim=1)  # (B, 5)
    p = p + smoothing
    return p / p.sum(dim=1, keepdim=True)


def kl_loss(mu_a, sigma_a, mu_b, sigma_b, counts, eta: float, smoothing: float, weight=None) -> torch.Tensor:
    """Mean over pairs of KL(target || predicted) over the 5 bins. counts: (B, 5) annotator labels."""
    n = counts.sum(dim=1)
    target = counts / n[:, None]
    rho = eta * counts[:, 2] / n  # correlation from the tie fraction
    var = sigma_a**2 + sigma_b**2 - 2 * rho * sigma_a * sigma_b
    p = bin_probabilities(mu_a - mu_b, var.clamp_min(1e-6).sqrt(), smoothing)
    kl = torch.where(
        target > 0, target * (torch.log(target.clamp_min(1e-12)) - torch.log(p)), torch.zeros_like(p)
    ).sum(dim=1)
    weight = torch.ones_like(kl) if weight is None else weight
    return (kl * weight).sum() / weight.sum()


def independent_nll_loss(mu_a, sigma_a, mu_b, sigma_b, counts) -> torch.Tensor:
    """-log Phi(z) per annotation preferring A, -log Phi(-z) per annotation preferring B; z as above."""
    z = (mu_a - mu_b) / (sigma_a**2 + sigma_b**2).sqrt()
    n_a = counts[:, 3] + counts[:, 4]
    n_b = counts[:, 0] + counts[:, 1]
    total = (n_a + n_b).sum().clamp_min(1.0)
    return -(n_a * torch.special.log_ndtr(z) + n_b * torch.special.log_ndtr(-z)).sum() / total


class MeanVarModule(MLPReadout):
    """x (B, D) -> (mu (B,), sigma (B,)) with sigma = |s| + 0.1."""

    def __init__(self, input_dim: int, cfg: MeanVarConfig):
        super().__init__(input_dim, cfg.hidden_dim, cfg.latent_dim, 2, cfg.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, s = super().forward(x).unbind(-1)
        return mu, s.abs() + SIGMA_FLOOR


class MeanVarHead(RewardHead):
    """Distributional reward; trains on the label distribution of each distinct pair."""

    name = "mean-var"
    Config = MeanVarConfig
    val_metric = "-loss"

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.lambda_: float = 0.0

    def _build(self, input_dim: int, data: PairData | None) -> nn.Module:
        return MeanVarModule(input_dim, self.config)

    def _grouped(self, data: PairData) -> PairData:
        g = group_identical_pairs(data)
        if (g.counts.sum(axis=1) == 0).any():
            raise InputError(
                "mean-var trains on annotator labels; some pairs have only a soft_label. Give "
                "label/labels (or chosen/rejected rows) for every pair"
            )
        return g

    def _train_data(self, data):
        return self._grouped(data.in_split("train"))

    def _val_data(self, data):
        return self._grouped(data.in_split("val"))

    def _moments(self, t: dict, idx):
        mu_a, s_a = self.module_(t["X"][t["a"][idx]])
        mu_b, s_b = self.module_(t["X"][t["b"][idx]])
        return mu_a, s_a, mu_b, s_b

    def _loss_of(self, t: dict, idx) -> torch.Tensor:
        mu_a, s_a, mu_b, s_b = self._moments(t, idx)
        if self.config.loss == "kl":
            return kl_loss(mu_a, s_a, mu_b, s_b, t["counts"][idx], self.config.eta, self.config.smoothing)
        return independent_nll_loss(mu_a, s_a, mu_b, s_b, t["counts"][idx])

    def _loss(self, t: dict, idx: torch.Tensor) -> torch.Tensor:
        return self._loss_of(t, idx)

    def _val_score(self, t: dict) -> float:
        return -self._chunked_loss(t, self._loss_of, weighted=False)  # kl / nll losses: plain means

    def _delta_t(self, t: dict) -> torch.Tensor:
        mu_a, _, mu_b, _ = self._moments(t, slice(None))
        return mu_a - mu_b

    @torch.no_grad()
    def predict(self, data: PairData) -> tuple[np.ndarray, ...]:
        """(mu_A, sigma_A, mu_B, sigma_B), each (n,)."""
        self._check_fitted()
        self.check_embeddings(data.fingerprint, data.X.shape[1])
        self.module_.eval()
        return tuple(x.cpu().numpy() for x in self._moments(self._tensors(data, self.device), slice(None)))

    def _response_rewards(self, X, prompt, resp, W, users):
        mu, sigma = self.module_(X[resp])
        return {"reward": mu, "sigma": sigma}

    @staticmethod
    def preference_probability(left, right):
        """P(r_left > r_right) with independent normal rewards: Phi((mu_l - mu_r) / sqrt(sigma_l^2 + sigma_r^2))."""
        from scipy.special import ndtr

        return ndtr((left["reward"] - right["reward"]) / np.sqrt(left["sigma"] ** 2 + right["sigma"] ** 2))

    def divergence_score(self, data: PairData, lam: float | None = None) -> np.ndarray:
        """|mu_A - mu_B| - lambda (sigma_A + sigma_B): low values flag diverging preferences."""
        mu_a, s_a, mu_b, s_b = self.predict(data)
        lam = self.lambda_ if lam is None else lam
        return np.abs(mu_a - mu_b) - lam * (s_a + s_b)

    def _after_training(self, data: PairData) -> None:
        """Tune lambda of the divergence score on the validation pairs (never on test), once, after training."""
        val = self._grouped(data.in_split("val"))
        if diverging_pairs(val.counts).any():
            scores = {
                lam: auroc(-self.divergence_score(val, lam), diverging_pairs(val.counts))
                for lam in LAMBDA_GRID
            }
            self.lambda_ = max(scores, key=lambda k: (np.nan_to_num(scores[k], nan=-1.0), -k))

    def evaluate(self, data: PairData) -> dict:
        """Per split, on distinct pairs: preference accuracy against every label, diverging-pair AUROC of
        -(|mu_A - mu_B| - lambda (sigma_A + sigma_B)) with the lambda tuned on val at fit time, and the KL loss."""
        out = {"model": self.POPULATION_NOTE, "lambda": self.lambda_}
        for s, m in self.population_splits(data):
            g = self._grouped(data.subset(m))
            mu_a, s_a, mu_b, s_b = self.predict(g)
            t = {
                k: torch.as_tensor(v, dtype=torch.float32)
                for k, v in (("mu_a", mu_a), ("s_a", s_a), ("mu_b", mu_b), ("s_b", s_b), ("counts", g.counts))
            }
            kl = float(
                kl_loss(
                    t["mu_a"],
                    t["s_a"],
                    t["mu_b"],
                    t["s_b"],
                    t["counts"],
                    self.config.eta,
                    self.config.smoothing,
                )
            )
            diverging = diverging_pairs(g.counts)
            out[s] = {
                "distinct_pairs": len(g),
                "accuracy": preference_accuracy(mu_a - mu_b, g.counts, g.y),
                "diverging_pairs": int(diverging.sum()),
                "diverging_auroc": auroc(-(np.abs(mu_a - mu_b) - self.lambda_ * (s_a + s_b)), diverging),
                "kl": kl,
            }
        items = self.unseen_items(data)
        if items is not None:
            out["items"] = items
        return out

    def unseen_items(self, data: PairData) -> dict | None:
        """On the responses of held-out pairs (test, unseen_users) that no training pair touched and whose
        annotators' scores the file gives (likert_left / likert_right), does sigma follow how much the
        annotators disagree? See :func:`embedkit.heads.metrics.item_disagreement`; None without scores."""
        if data.likert_a is None:
            return None
        held = np.isin(data.split, ["test", "fewshot", "unseen_test"])
        train = np.isin(data.split, ["train", "val"])
        rows = np.concatenate([data.a[held], data.b[held]])
        scores = np.concatenate([data.likert_a[held], data.likert_b[held]])
        rows, first = np.unique(rows, return_index=True)
        fresh = ~np.isin(rows, np.concatenate([data.a[train], data.b[train]]))
        if not fresh.any():
            return None
        X = torch.as_tensor(data.X[rows[fresh]], dtype=torch.float32, device=self.device)
        with torch.no_grad():
            self.module_.eval()
            mu, sigma = (v.cpu().numpy() for v in self.module_(X))
        return item_disagreement(sigma, mu, scores[first][fresh])

    def _extra_config(self) -> dict:
        return {"lambda": self.lambda_}

    def _restore_extra(self, cfg: dict) -> None:
        lam = cfg.get("lambda", 0.0)
        if not isinstance(lam, int | float) or isinstance(lam, bool) or not math.isfinite(lam):
            raise HeadConfigError("", "lambda", f"expected a number, found {lam!r:.40}")
        self.lambda_ = float(lam)
