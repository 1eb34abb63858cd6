"""Per-response Likert-5 baselines of Diverging Preferences (section 4.1, HelpSteer2-style data):

- ``mse``: a scalar reward regressed on every annotator's 1-5 score (MSE-Regression, all labels);
  preference = the higher reward, divergence = a small |r_A - r_B|.
- ``likert-kl``: a 5-way classifier trained with KL to the annotators' score distribution
  (Classification (KL)); preference = the higher expected score, divergence = p(1) * p(5) of each response,
  summed over the pair.

They train on responses (each distinct response of the train split with the scores it received) and
are validated and evaluated on pairs, like every other head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from embedkit.errors import InputError
from embedkit.heads.base import RewardHead
from embedkit.heads.config import TrainConfig
from embedkit.heads.metrics import auroc, diverging_pairs, preference_accuracy
from embedkit.heads.mlp import MLPReadout
from embedkit.heads.pair_data import PairData

SCORES = torch.arange(1, 6, dtype=torch.float32)  # the Likert values 1..5


def response_scores(data: PairData) -> tuple[np.ndarray, np.ndarray]:
    """(rows of X (m,), Likert counts (m, 5)) of every distinct response of ``data`` that has scores."""
    if data.likert_a is None:
        return np.zeros(0, np.int64), np.zeros((0, 5))
    rows = np.concatenate([data.a, data.b])
    counts = np.concatenate([data.likert_a, data.likert_b])
    keep = counts.sum(axis=1) > 0
    uniq, inv = np.unique(rows[keep], return_inverse=True)
    summed = np.zeros((len(uniq), 5))
    np.add.at(summed, inv.reshape(-1), counts[keep])
    return uniq, summed


def mse_loss(reward: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean over all annotations of (r - score)^2. reward (B,), counts (B, 5)."""
    sq = (reward[:, None] - SCORES.to(reward)) ** 2  # (B, 5)
    return (counts * sq).sum() / counts.sum()


def likert_kl_loss(logits: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean over responses of KL(annotator score distribution || softmax(logits)). (B, 5) each."""
    target = counts / counts.sum(dim=1, keepdim=True)
    logp = torch.log_softmax(logits, dim=1)
    kl = torch.where(target > 0, target * (torch.log(target.clamp_min(1e-12)) - logp), torch.zeros_like(logp))
    return kl.sum(dim=1).mean()


class _LikertHead(RewardHead):
    Config = TrainConfig
    out_dim: int

    def _build(self, input_dim: int, data: PairData | None) -> nn.Module:
        c = self.config
        return MLPReadout(input_dim, c.hidden_dim, c.latent_dim, self.out_dim, c.dropout)

    def _response_tensors(self, data: PairData, device) -> tuple[dict, int]:
        """Tensors of the distinct scored responses of ``data``: rows of X and Likert counts."""
        rows, counts = response_scores(data)
        t = {
            "X": self._matrix(data.X, device),
            "resp": torch.as_tensor(rows, device=device),
            "counts": torch.as_tensor(counts, dtype=torch.float32, device=device),
        }
        return t, len(rows)

    def _train_tensors(self, train: PairData, device) -> tuple[dict, int]:
        t, n = self._response_tensors(train, device)
        if not n:
            raise InputError(
                f"{self.name} trains on Likert-5 scores of responses: give likert_left/likert_right "
                "(or likert_chosen/likert_rejected) on the train pairs"
            )
        return t, n

    def _score(self, x: torch.Tensor) -> torch.Tensor:
        """The preference score of responses (B, D) -> (B,)."""
        raise NotImplementedError

    def _val_score(self, t: dict) -> float:
        """Pair accuracy on val (the loss is per response, so there is no pair loss to break ties)."""
        delta = self._chunked_delta(t).cpu().numpy()
        return preference_accuracy(delta, t["counts"].cpu().numpy(), t["y"].cpu().numpy())

    def _delta_t(self, t: dict) -> torch.Tensor:
        return self._score(t["X"][t["a"]]) - self._score(t["X"][t["b"]])

    def _response_rewards(self, X, prompt, resp, W, users):
        return {"reward": self._score(X[resp])}

    def _divergence(self, data: PairData) -> np.ndarray:
        """Higher = more likely diverging, per pair."""
        return -np.abs(self.predict_delta(data))

    def evaluate(self, data: PairData) -> dict:
        """Per split: pair accuracy against every label, diverging-pair AUROC, and the training loss on the
        split's scored responses."""
        out = {"model": self.POPULATION_NOTE}
        delta = self.predict_delta(data)
        div = self._divergence(data)
        for s, m in self.population_splits(data):
            sub = data.subset(m)
            res = {
                "pairs": int(m.sum()),
                "accuracy": preference_accuracy(delta[m], sub.counts, sub.y),
                "diverging_pairs": int(diverging_pairs(sub.counts).sum()),
                "diverging_auroc": auroc(div[m], diverging_pairs(sub.counts)),
            }
            t, n = self._response_tensors(sub, self.device)
            if n:
                self.module_.eval()
                with torch.no_grad():
                    res["responses"] = n
                    res[self.loss_name] = float(self._loss(t, slice(None)))
            out[s] = res
        return out


class MSEHead(_LikertHead):
    """MSE regression of a scalar reward on Likert-5 scores."""

    name = "mse"
    out_dim = 1
    loss_name = "mse"

    def _score(self, x):
        return self.module_.scalar(x)

    def _loss(self, t: dict, idx) -> torch.Tensor:
        return mse_loss(self._score(t["X"][t["resp"][idx]]), t["counts"][idx])


class LikertKLHead(_LikertHead):
    """5-way classification of the Likert score with a KL loss; scores by the expected value."""

    name = "likert-kl"
    out_dim = 5
    loss_name = "kl"

    def _score(self, x):
        return torch.softmax(self.module_(x), dim=1) @ SCORES.to(x)

    def _loss(self, t: dict, idx) -> torch.Tensor:
        return likert_kl_loss(self.module_(t["X"][t["resp"][idx]]), t["counts"][idx])

    @torch.no_grad()
    def _divergence(self, data: PairData) -> np.ndarray:
        self.module_.eval()
        X = torch.as_tensor(data.X, device=self.device)
        out = np.zeros(len(data))
        for rows in (data.a, data.b):
            p = torch.softmax(self.module_(X[torch.as_tensor(rows, device=self.device)]), dim=1)
            out += (p[:, 0] * p[:, 4]).cpu().numpy()  # joint probability of a 1 and a 5
        return out
