"""Bradley-Terry reward head, with the margin term of "Beyond the Binary" (eq. 4) and soft labels.

P(A > B) = sigmoid(r_A - r_B). Loss per row with target y = P(A preferred) and margin m >= 0:
    y * -log s(r_A - r_B - m) + (1 - y) * -log s(r_B - r_A - m)
which is the usual -log s(r_chosen - r_rejected - m) for a hard label, and plain BCE for m = 0.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.data.pairs import beyond_binary_margin
from embedkit.errors import InputError
from embedkit.heads.base import RewardHead
from embedkit.heads.config import BTConfig
from embedkit.heads.metrics import auroc, diverging_pairs, pearson, preference_accuracy
from embedkit.heads.mlp import MLPReadout
from embedkit.heads.pair_data import PairData, group_identical_pairs


def bt_loss(delta: torch.Tensor, y: torch.Tensor, margin: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean of y*softplus(-(delta - m)) + (1-y)*softplus(delta + m); delta = r_A - r_B, (B,)."""
    per_row = y * F.softplus(-(delta - margin)) + (1 - y) * F.softplus(delta + margin)
    return (per_row * weight).sum() / weight.sum()


class BTHead(RewardHead):
    """Bradley-Terry on the response embedding (in context). ``labels``: all | aggregate | soft."""

    name = "bt"
    Config = BTConfig

    def _build(self, input_dim: int, data: PairData | None) -> nn.Module:
        return MLPReadout(input_dim, self.config.hidden_dim, self.config.latent_dim, 1, self.config.dropout)

    def _prepare(self, data: PairData) -> PairData:
        """Targets, weights and margins for the configured label mode."""
        grouped, inv = group_identical_pairs(data, return_inverse=True)
        m_group = np.where(np.isnan(grouped.margin), beyond_binary_margin(grouped.counts), grouped.margin)
        if self.config.margin and np.isnan(m_group).all():
            raise InputError(
                "--margin needs margins: give a margin column, or per-annotator labels (labels, or "
                "several rows for the same pair) to compute m = |sum j - n/2| / (n/2)"
            )
        if self.config.labels == "all":
            n_labels = data.counts.sum(axis=1)
            out = data.subset(np.ones(len(data), dtype=bool))
            out.weight = data.weight * np.where(n_labels > 0, n_labels, 1.0)  # sum of per-annotation losses
            out.margin = m_group[inv]
            return out
        out = grouped
        out.margin = m_group
        if self.config.labels == "aggregate":
            keep = out.y != 0.5  # a pair the annotators tie on has no majority
            out = out.subset(keep)
            out.y = (out.y > 0.5).astype(float)
        return out

    def _train_data(self, data):
        return self._prepare(data.in_split("train"))

    def _val_data(self, data):
        return self._prepare(data.in_split("val"))

    def _tensors(self, data: PairData, device) -> dict:
        t = super()._tensors(data, device)
        m = np.nan_to_num(data.margin, nan=0.0) if self.config.margin else np.zeros(len(data))
        t["margin"] = torch.as_tensor(m, dtype=torch.float32, device=device)
        return t

    def _delta(self, t: dict, idx) -> torch.Tensor:
        return self.module_.scalar(t["X"][t["a"][idx]]) - self.module_.scalar(t["X"][t["b"][idx]])

    def _loss(self, t: dict, idx: torch.Tensor) -> torch.Tensor:
        return bt_loss(self._delta(t, idx), t["y"][idx], t["margin"][idx], t["weight"][idx])

    def _delta_t(self, t: dict) -> torch.Tensor:
        return self._delta(t, slice(None))

    @torch.no_grad()
    def reward(self, X: np.ndarray) -> np.ndarray:
        """Reward of each response embedding (n, D) -> (n,)."""
        self._check_fitted()
        self.module_.eval()
        return self.module_.scalar(torch.as_tensor(X, dtype=torch.float32, device=self.device)).cpu().numpy()

    def _response_rewards(self, X, prompt, resp, W, users):
        return {"reward": self.module_.scalar(X[resp])}

    def evaluate(self, data: PairData) -> dict:
        """Per split: accuracy against every label; on distinct pairs with several labels, Pearson and L1 of
        P(A > B) against the annotators' aggregate preference, and AUROC of -|r_A - r_B| for diverging pairs."""
        out = {"model": self.POPULATION_NOTE}
        delta = self.predict_delta(data)
        for s, m in self.population_splits(data):
            res = {
                "pairs": int(m.sum()),
                "accuracy": preference_accuracy(delta[m], data.counts[m], data.y[m]),
            }
            grouped = group_identical_pairs(data.subset(m))
            multi = grouped.counts.sum(axis=1) > 1
            if multi.any():
                g = grouped.subset(multi)
                g_delta = self.predict_delta(g)
                p = 1 / (1 + np.exp(-g_delta))
                res.update(
                    distinct_pairs=int(multi.sum()),
                    pearson=pearson(p, g.y),
                    l1=float(np.abs(p - g.y).mean()),
                    diverging_pairs=int(diverging_pairs(g.counts).sum()),
                    diverging_auroc=auroc(-np.abs(g_delta), diverging_pairs(g.counts)),
                )
            out[s] = res
        return out
