"""What a PAL head does with users: the weights of new users from a few of their pairs (MAP under the
few-shot prior, the plain maximum-likelihood fit, or the mean of the nearest seen users), the zero-shot
point, rewards with any weights, and the accuracy of seen users per split and of new users by shots.

``PALUsers`` is mixed into the PAL heads (``embedkit.heads.pal``), which hold the networks (``module_``),
the seen users and the prior; the prior itself and its calibration: ``embedkit.heads.fewshot``,
``embedkit.heads.fewshot_calibration``.
"""

from __future__ import annotations

import numpy as np
import torch

from embedkit.data.splits import rank_within_group
from embedkit.heads.base import NotFittedError, RewardHead
from embedkit.heads.fewshot import LogitPrior, knn_weights, optimise_logits
from embedkit.heads.metrics import per_user_accuracy, preference_accuracy
from embedkit.heads.pair_data import PairData

DEFAULT_SHOTS = (1, 2, 5, 10, 20, 50)
"""The few-shot sizes evaluated by default, up to the median new user's count of few-shot pairs."""


class PALUsers:
    """New users' weights and the evaluation by users of a PAL head (a mixin of ``_PALHead``)."""

    def zero_shot_weights(self) -> np.ndarray:
        """The mean of the trained seen users' weights: the zero-shot point for a new user. (K,)"""
        if self.prior_ is not None and self.prior_.zero_shot is not None:
            return self.prior_.zero_shot
        return self.user_weights().mean(axis=0)

    def fit_new_users(
        self, data: PairData, method: str | None = None, strength: float | None = None, k: int | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Weights of the users in ``data`` from their pairs, f, g and prototypes frozen.

        ``method`` (default: the config's ``fewshot_method``): ``map`` (under the prior fitted to the seen
        users, see embedkit.heads.fewshot), ``mle`` (no prior) or ``knn`` (the mean weights of the ``k``
        seen users with the highest likelihood of the pairs). One batched optimisation over all users,
        started at the zero-shot weights. Returns (user ids, (U, K) weights).
        """
        self._check_fitted()
        self.check_embeddings(data.fingerprint, data.X.shape[1])
        method = method or self.config.fewshot_method
        if method not in ("map", "mle", "knn"):
            raise ValueError(f"few-shot method must be map, mle or knn, got {method!r}")
        users, inv = np.unique(data.user.astype(str), return_inverse=True)
        if self.config.K == 1 or not len(users):  # one prototype: every user has weight 1 on it
            return users.tolist(), np.ones((len(users), self.config.K), dtype=np.float32)
        t = RewardHead._tensors(self, data, self.device)
        uidx = torch.as_tensor(inv.reshape(-1), device=self.device)
        with self._frozen():
            st = self.module_.stats(t["X"], t["prompt"], t["a"], t["b"])
            if method == "knn":
                W = self._knn(st, uidx, len(users), t["y"], t["weight"], k or self.config.fewshot_k)
            elif method == "map" and strength is None and self._prior().fallback:  # no strength helped
                W = torch.as_tensor(self.zero_shot_weights(), dtype=torch.float32).repeat(len(users), 1)
            else:
                tau = 0.0 if method == "mle" else self._prior().strength if strength is None else strength
                W = self._optimise(st, uidx, len(users), t["y"], t["weight"], tau)
        return users.tolist(), W.cpu().numpy()

    def _frozen(self):
        """f, g and prototypes frozen (eval mode, no gradients) for the duration of a with block."""
        head = self

        class _Frozen:
            def __enter__(self):
                head.module_.eval()
                for p in head.module_.parameters():
                    p.requires_grad_(False)

            def __exit__(self, *exc):
                for p in head.module_.parameters():
                    p.requires_grad_(True)

        return _Frozen()

    def _optimise(
        self, st, uidx, n_users, y, weight, strength, prior: LogitPrior | None = None
    ) -> torch.Tensor:
        """MAP (or, with strength 0, maximum-likelihood) weights of ``n_users`` users from their rows,
        under ``prior`` (default: the head's)."""
        zero = torch.as_tensor(
            self.zero_shot_weights() if prior is None else prior.zero_shot, device=self.device
        )
        init = torch.log(zero.float()).expand(n_users, -1)
        return optimise_logits(
            lambda W: self.module_.delta_stats(st, W, uidx),
            lambda delta: self._row_losses(delta, y) * weight,
            init,
            self.prior_ if prior is None else prior,
            strength,
            self.config.fewshot_steps,
        )

    @torch.no_grad()
    def _knn(self, st, uidx, n_users, y, weight, k) -> torch.Tensor:
        """Each new user's log-likelihood under every seen user's weights; the top k seen users' mean."""
        seen = torch.as_tensor(self.user_weights(), device=self.device)  # (S, K)
        loglik = torch.zeros(n_users, len(seen), device=self.device)
        everyone = torch.zeros_like(uidx)
        for j in range(len(seen)):  # one seen user's weights for every row at a time: (B,) deltas
            delta = self.module_.delta_stats(st, seen[j : j + 1], everyone)
            loglik[:, j].index_add_(0, uidx, -self._row_losses(delta, y) * weight)
        return knn_weights(loglik, seen, k)

    def _prior(self) -> LogitPrior:
        if self.prior_ is None:
            raise NotFittedError(
                "this head has no few-shot prior (saved by an older embedkit); use method='mle'"
            )
        return self.prior_

    @torch.no_grad()
    def delta_with_weights(self, data: PairData, weights: np.ndarray) -> np.ndarray:
        """r_A - r_B of each row with the given per-row weights (n, K) (or one (K,) for all rows)."""
        self._check_fitted()
        self.module_.eval()
        t = RewardHead._tensors(self, data, self.device)
        w = torch.as_tensor(
            np.broadcast_to(weights, (len(data), self.config.K)).copy(),
            dtype=torch.float32,
            device=self.device,
        )
        return self._pair_delta(t, slice(None), w).cpu().numpy()

    def evaluate(self, data: PairData, shots: list[int] | None = None, method: str | None = None) -> dict:
        """Seen-user accuracy per split (and per-user spread on test); unseen-user accuracy by shots.

        ``shots``: few-shot sizes to evaluate, each over the unseen users who have at least that many
        few-shot pairs (``unseen.shots.N`` says how many users and pairs, and the zero-shot accuracy of
        the same users for comparison); default: 1, 2, 5, 10, 20, 50 up to the median user's count, and the
        smallest user's count. ``method``: how new users' weights are fitted (default: the config's).
        """
        out: dict = {"seen": {}}
        seen = data.in_split("train", "val", "test")
        if len(seen):
            delta_all = self.predict_delta(seen)
            for s in ("train", "val", "test"):
                m = seen.split == s
                if m.any():
                    out["seen"][s] = {
                        "pairs": int(m.sum()),
                        "accuracy": preference_accuracy(delta_all[m], seen.counts[m], seen.y[m]),
                    }
            m = seen.split == "test"
            if m.any():
                out["seen"]["test"]["per_user"] = per_user_accuracy(delta_all[m], seen.y[m], seen.user[m])
        fewshot, test = data.in_split("fewshot"), data.in_split("unseen_test")
        if len(test):
            out["unseen"] = self._unseen(fewshot, test, shots, method)
        return out

    def _unseen(
        self, fewshot: PairData, test: PairData, shots: list[int] | None, method: str | None = None
    ) -> dict:
        res = {"users": len(set(test.user.tolist())), "pairs": len(test)}
        d0 = self.delta_with_weights(test, self.zero_shot_weights())
        res["zero_shot"] = preference_accuracy(d0, test.counts, test.y)
        if not len(fewshot):
            return res
        fs_users = fewshot.user.astype(str)
        users, inv = np.unique(fs_users, return_inverse=True)
        per_user = np.bincount(inv.reshape(-1))
        if shots is None:  # the defaults up to the median user's count, and the smallest count
            shots = [s for s in DEFAULT_SHOTS if s <= np.median(per_user)] + [int(per_user.min())]
        res["by_shots"], res["shots"] = {}, {}
        rank = rank_within_group(fs_users)
        test_users = test.user.astype(str)
        for s in sorted(set(shots)):
            have = np.intersect1d(users[per_user >= s], test_users)  # >= s few-shot pairs, and test pairs
            rows = np.isin(test_users, have)
            if not rows.any():
                res["shots"][str(s)] = {
                    "users": 0,
                    "pairs": 0,
                    "note": f"no unseen user has {s} few-shot pairs",
                }
                continue
            names, w = self.fit_new_users(fewshot.subset((rank < s) & np.isin(fs_users, have)), method=method)
            index = {u: i for i, u in enumerate(names)}
            sub = test.subset(rows)
            d = self.delta_with_weights(sub, w[[index[u] for u in test_users[rows]]])
            acc = preference_accuracy(d, sub.counts, sub.y)
            res["by_shots"][str(s)] = acc
            res["shots"][str(s)] = {
                "users": len(have),
                "pairs": int(rows.sum()),
                "accuracy": acc,
                "zero_shot": preference_accuracy(d0[rows], sub.counts, sub.y),
            }
        # unseen users with no few-shot pairs count in zero_shot only
        res["users_with_fewshot"] = len(users)
        return res
