"""A LoRe-style peer (Bose et al., "LoRe: Personalizing LLMs via Low-Rank Reward Modeling", 2025): a linear
low-rank reward basis on fixed embeddings with simplex user weights, the closest published peer of PAL on
cached features. Written here from the paper's description, not embedkit code:

    r_u(x) = w_u . (B x),   B: (K, D) basis, w_u = softmax(z_u) on the simplex,
    P(A > B | u) = sigmoid(r_u(x_A) - r_u(x_B)),

B and the seen users' logits trained jointly (Adam, Bradley-Terry loss); a new user's weights fitted from
their few-shot pairs with B frozen (L-BFGS on the logits, started at the mean seen user, a small ridge
towards it), the zero-shot point being the mean of the seen users' weights.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class LoRe:
    def __init__(
        self,
        K: int = 3,
        epochs: int = 30,
        lr: float = 1e-2,
        batch: int = 512,
        ridge: float = 0.1,
        seed: int = 0,
    ):
        self.K, self.epochs, self.lr, self.batch, self.ridge, self.seed = K, epochs, lr, batch, ridge, seed

    def fit(self, X: np.ndarray, a, b, y, users, val=None):
        """X (m, D) embeddings; a, b row indices; y P(A preferred); users ids. ``val``: (a, b, y, users)
        for early stopping on accuracy (patience 5)."""
        torch.manual_seed(self.seed)
        self.X = torch.as_tensor(X, dtype=torch.float32)
        self.users_ = sorted(set(map(str, users)))
        index = {u: i for i, u in enumerate(self.users_)}
        u = torch.as_tensor([index[str(x)] for x in users])
        a, b, y = (torch.as_tensor(np.asarray(v)) for v in (a, b, y))
        D = self.X.shape[1]
        self.B = torch.nn.Parameter(torch.randn(self.K, D) / D**0.5)
        self.Z = torch.nn.Parameter(torch.zeros(len(self.users_), self.K))
        opt = torch.optim.Adam([self.B, self.Z], lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        best, best_state, stale = -1.0, None, 0
        for _ in range(self.epochs):
            perm = torch.randperm(len(a), generator=gen)
            for s in range(0, len(a), self.batch):
                i = perm[s : s + self.batch]
                d = self._delta(a[i], b[i], torch.softmax(self.Z[u[i]], -1))
                loss = F.binary_cross_entropy_with_logits(d, y[i].float())
                opt.zero_grad()
                loss.backward()
                opt.step()
            if val is None:
                continue
            acc = self.accuracy(*val)
            if acc > best:
                best, stale = acc, 0
                best_state = (self.B.detach().clone(), self.Z.detach().clone())
            else:
                stale += 1
                if stale >= 5:
                    break
        if best_state is not None:
            with torch.no_grad():
                self.B.copy_(best_state[0])
                self.Z.copy_(best_state[1])
        return self

    def _delta(self, a, b, w):
        basis = (self.X[a] - self.X[b]) @ self.B.T  # (n, K)
        return (basis * w).sum(-1)

    def weights(self) -> np.ndarray:
        return torch.softmax(self.Z.detach(), -1).numpy()

    def zero_shot(self) -> np.ndarray:
        return self.weights().mean(axis=0)

    @torch.no_grad()
    def predict(self, a, b, W: np.ndarray) -> np.ndarray:
        """r_A - r_B for per-row weights W (n, K) or one (K,)."""
        a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
        w = torch.as_tensor(np.broadcast_to(W, (len(a), self.K)).copy(), dtype=torch.float32)
        return self._delta(a, b, w).numpy()

    def accuracy(self, a, b, y, users) -> float:
        index = {u: i for i, u in enumerate(self.users_)}
        W = self.weights()[[index[str(x)] for x in users]]
        d = self.predict(a, b, W)
        y = np.asarray(y)
        keep = y != 0.5
        return float(((d > 0) == (y > 0.5))[keep].mean())

    def fit_new_users(self, a, b, y, users) -> dict[str, np.ndarray]:
        """Each new user's simplex weights from their pairs (B frozen), all users in one L-BFGS run."""
        names = sorted(set(map(str, users)))
        index = {u: i for i, u in enumerate(names)}
        u = torch.as_tensor([index[str(x)] for x in users])
        a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
        y = torch.as_tensor(np.asarray(y), dtype=torch.float32)
        with torch.no_grad():
            basis = (self.X[a] - self.X[b]) @ self.B.T
        z0 = torch.log(torch.as_tensor(self.zero_shot(), dtype=torch.float32))
        Z = z0.repeat(len(names), 1).clone().requires_grad_(True)
        opt = torch.optim.LBFGS([Z], max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            d = (basis * torch.softmax(Z[u], -1)).sum(-1)
            loss = (
                F.binary_cross_entropy_with_logits(d, y, reduction="sum") + self.ridge * ((Z - z0) ** 2).sum()
            )
            loss.backward()
            return loss

        opt.step(closure)
        W = torch.softmax(Z.detach(), -1).numpy()
        return {n: W[i] for i, n in enumerate(names)}
