"""PAL-A and PAL-B (PAL: Pluralistic Alignment, sections 3.2-3.3): K preference prototypes, a simplex
weight vector per user, seen users trained jointly, new users localised from a few pairs.

PAL-A (ideal points), eq. (8):  r_i(x) = -|| f(x) - f(a_i) ||^2,   a_i = P w_i
PAL-B (prompt-conditioned), eq. (9):  r_i(x, x_c) = < f(x), z_i(x_c) >,   z_i = sum_k w_ik g_k(x_c),
      as a cosine with a learnable temperature.
w_i = softmax(logits_i) lies on the simplex Delta^K. x is the response embedded in context; x_c the prompt.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.data.splits import rank_within_group
from embedkit.errors import InputError
from embedkit.heads.base import NotFittedError, RewardHead
from embedkit.heads.config import PALAConfig, PALBConfig, PALConfig
from embedkit.heads.data import PairData
from embedkit.heads.fewshot import (
    MAX_SELECTION_USERS,
    SELECTION_SHOTS,
    STRENGTH_GRID,
    LogitPrior,
    knn_weights,
    optimise_logits,
)
from embedkit.heads.metrics import per_user_accuracy, preference_accuracy
from embedkit.heads.mlp import MLP, PrototypeMLPs

log = logging.getLogger(__name__)
DEFAULT_SHOTS = (1, 2, 5, 10, 20, 50)
CHUNK = 16384  # rows per chunk when features of many pairs are computed (bounded memory)


def _chunked(fn, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """fn(X[rows]) in chunks of rows, concatenated."""
    return (
        torch.cat([fn(X[rows[s : s + CHUNK]]) for s in range(0, len(rows), CHUNK)])
        if len(rows)
        else fn(X[rows])
    )


def _unique(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    idx, inv = torch.unique(rows, return_inverse=True)
    return idx, inv


class PALAModule(nn.Module):
    def __init__(self, input_dim: int, cfg: PALConfig, n_users: int):
        super().__init__()
        d = cfg.latent_dim or input_dim
        self.f = MLP(input_dim, cfg.hidden_dim, d, cfg.dropout, linear=cfg.arch == "linear")
        self.prototypes = nn.Parameter(torch.randn(cfg.K, input_dim) / input_dim**0.5)  # P^T: (K, D)
        self.user_logits = nn.Parameter(0.01 * torch.randn(n_users, cfg.K))  # (U, K)

    def features(self, X: torch.Tensor, prompt, a, b) -> dict:
        return {"fa": self.f(X[a]), "fb": self.f(X[b])}  # (B, d) each

    def delta_given(self, feats: dict, w: torch.Tensor, rows=None) -> torch.Tensor:
        """r(x_A) - r(x_B), eq. (8) with r = -distance. w: (B, K) per row, or (U, K) per user with ``rows``
        (B,) the user of each row, so f(a_i) is computed once per user."""
        ideal = self.f(w @ self.prototypes)  # f(a_i), a_i = P w_i
        if rows is not None:
            ideal = ideal[rows]  # (B, d)
        dist_a = ((feats["fa"] - ideal) ** 2).sum(-1)  # (B,)
        dist_b = ((feats["fb"] - ideal) ** 2).sum(-1)
        return dist_b - dist_a

    def delta(self, X: torch.Tensor, prompt, a, b, w: torch.Tensor) -> torch.Tensor:
        return self.delta_given(self.features(X, prompt, a, b), w)

    # --- frozen-network helpers for new users and scoring (f computed once per distinct text) ---------
    PER_ROW = ("ia", "ib")

    def stats(self, X: torch.Tensor, prompt, a, b) -> dict:
        """What r_A - r_B needs for any weights: f of each distinct response, and each row's indices."""
        idx, inv = _unique(torch.cat([a, b]))
        return {"F": _chunked(self.f, X, idx), "ia": inv[: len(a)], "ib": inv[len(a) :]}

    def delta_stats(self, st: dict, W: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """r_A - r_B of each row for per-user weights W (U, K); ``rows`` (B,) the user of each row."""
        ideal = self.f(W @ self.prototypes)[rows]  # f(a_u) per row: (B, d)
        return ((st["F"][st["ib"]] - ideal) ** 2).sum(-1) - ((st["F"][st["ia"]] - ideal) ** 2).sum(-1)

    def rewards(self, X: torch.Tensor, prompt, resp, W: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """r_u(x) = -||f(x) - f(a_u)||^2 of each row's response for its user's weights. (B,)"""
        idx, inv = _unique(resp)
        F_ = _chunked(self.f, X, idx)
        ideal = self.f(W @ self.prototypes)  # (U, d)
        return torch.cat(
            [
                -((F_[inv[s : s + CHUNK]] - ideal[rows[s : s + CHUNK]]) ** 2).sum(-1)
                for s in range(0, len(resp), CHUNK)
            ]
        )

    def user_points(self, W: torch.Tensor) -> torch.Tensor:
        """Ideal points a_u = P w_u (U, D): where a user sits among the prototypes."""
        return W @ self.prototypes


class PALBModule(nn.Module):
    def __init__(self, input_dim: int, cfg: PALBConfig, n_users: int):
        super().__init__()
        d = cfg.latent_dim or input_dim
        linear = cfg.arch == "linear"
        self.f = MLP(input_dim, cfg.hidden_dim, d, cfg.dropout, linear=linear)
        self.g = PrototypeMLPs(cfg.K, input_dim, cfg.hidden_dim, d, cfg.dropout, linear=linear)
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(1.0 / cfg.temperature))))
        self.user_logits = nn.Parameter(0.01 * torch.randn(n_users, cfg.K))

    def features(self, X: torch.Tensor, prompt, a, b) -> dict:
        fa = F.normalize(self.f(X[a]), dim=-1)
        fb = F.normalize(self.f(X[b]), dim=-1)
        return {"G": self.g(X[prompt]), "fdiff": fa - fb}  # (B, K, d), (B, d)

    def delta_given(self, feats: dict, w: torch.Tensor, rows=None) -> torch.Tensor:
        """<f(x_A) - f(x_B), z_i(x_c)> as cosines times exp(log_scale), eq. (9). w: (B, K), or (U, K)
        per user with ``rows`` (B,) the user of each row."""
        if rows is not None:
            w = w[rows]
        z = F.normalize(torch.einsum("bk,bkd->bd", w, feats["G"]), dim=-1)  # z_i(x_c): (B, d)
        return self.log_scale.clamp(max=np.log(100.0)).exp() * (feats["fdiff"] * z).sum(-1)

    def delta(self, X: torch.Tensor, prompt, a, b, w: torch.Tensor) -> torch.Tensor:
        return self.delta_given(self.features(X, prompt, a, b), w)

    # --- frozen-network helpers for new users and scoring -----------------------------------------------
    PER_ROW = ("A", "pinv")

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=np.log(100.0)).exp()

    def _fhat_g(self, X, prompt, resp):
        ridx, rinv = _unique(resp)
        pidx, pinv = _unique(prompt)
        Fh = F.normalize(_chunked(self.f, X, ridx), dim=-1)  # (R, d)
        Gp = _chunked(self.g, X, pidx)  # (P, K, d)
        return Fh, rinv, Gp, pinv

    def stats(self, X: torch.Tensor, prompt, a, b) -> dict:
        """Sufficient statistics of r_A - r_B for any weights w: with z = sum_k w_k g_k(x_c),
        <f_A - f_B, z> = w . A and ||z||^2 = w^T M w, A (B, K) per row, M (P, K, K) per distinct prompt.
        A few numbers per pair instead of (K, d) features: few-shot fitting costs next to nothing."""
        triple, inv = torch.unique(
            torch.stack([prompt, a, b], 1), dim=0, return_inverse=True
        )  # distinct pairs
        Fh, rinv, Gp, pinv = self._fhat_g(X, triple[:, 0], torch.cat([triple[:, 1], triple[:, 2]]))
        n = len(triple)
        ra, rb = rinv[:n], rinv[n:]
        parts = [
            torch.einsum("bd,bkd->bk", Fh[ra[s : s + CHUNK]] - Fh[rb[s : s + CHUNK]], Gp[pinv[s : s + CHUNK]])
            for s in range(0, n, CHUNK)
        ]
        A = torch.cat(parts) if parts else torch.zeros(0, Gp.shape[1], device=X.device)
        return {"A": A[inv], "M": torch.einsum("pkd,pld->pkl", Gp, Gp), "pinv": pinv[inv]}

    def delta_stats(self, st: dict, W: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """r_A - r_B = scale * (w . A) / sqrt(w^T M w) per row, w = W[rows]; the same number as eq. (9).
        (With A = B of ``rewards``, the reward of one response.)"""
        w = W[rows]  # (B, K)
        norm = torch.einsum("bk,bkl,bl->b", w, st["M"][st["pinv"]], w).clamp_min(0).sqrt().clamp_min(1e-12)
        return self.scale * (w * st["A"]).sum(-1) / norm

    def rewards(self, X: torch.Tensor, prompt, resp, W: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """r_u(x, x_c) = scale * cos(f(x), z_u(x_c)) of each row's response for its user's weights. (B,)

        Like ``stats``: per distinct (prompt, response) B = <f(x)/||f(x)||, g_k(x_c)> (K numbers) and per
        distinct prompt M = <g_k, g_l>, so a row costs O(K^2) whatever the width: r = scale (w . B) /
        sqrt(w^T M w)."""
        pair, pair_inv = torch.unique(torch.stack([prompt, resp], 1), dim=0, return_inverse=True)
        Fh, rinv, Gp, pinv = self._fhat_g(X, pair[:, 0], pair[:, 1])
        parts = [
            torch.einsum("bd,bkd->bk", Fh[rinv[s : s + CHUNK]], Gp[pinv[s : s + CHUNK]])
            for s in range(0, len(pair), CHUNK)
        ]
        B = torch.cat(parts) if parts else torch.zeros(0, Gp.shape[1], device=X.device)
        st = {"A": B[pair_inv], "M": torch.einsum("pkd,pld->pkl", Gp, Gp), "pinv": pinv[pair_inv]}
        return self.delta_stats(st, W, rows)

    def user_points(self, W: torch.Tensor) -> torch.Tensor:
        """A PAL-B user is their mixture weights over the prompt-conditioned prototypes (U, K)."""
        return W


class _PALHead(RewardHead):
    Config = PALConfig
    Module: type[nn.Module]
    uses_user_weights = True

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.users_: list[str] = []
        self.prior_: LogitPrior | None = None

    def _build(self, input_dim: int, data: PairData | None) -> nn.Module:
        if data is not None:
            self.users_ = sorted({str(u) for u in data.in_split("train").user.tolist()})
            if len(self.users_) == 1:
                log.warning(
                    "%s: %s trains them as one user, so its K=%d prototypes cannot tell anyone's "
                    "preferences apart (this is the homogeneous model). Give each pair a `user` to learn "
                    "pluralistic preferences",
                    "the pairs have no user field" if not data.has_users else "the train split has one user",
                    self.name,
                    self.config.K,
                )
            seen_eval = set(data.in_split("val", "test").user.tolist())
            orphans = sorted(seen_eval - set(self.users_))
            if orphans:
                raise InputError(
                    f"{len(orphans)} user(s) have val/test pairs but no train pairs (e.g. "
                    f"{', '.join(repr(str(u)) for u in orphans[:3])}); put their pairs in fewshot/unseen_test"
                )
        return self.Module(input_dim, self.config, len(self.users_))

    def _user_index(self, users: np.ndarray) -> np.ndarray:
        index = {u: i for i, u in enumerate(self.users_)}
        out = np.fromiter((index.get(u, -1) for u in users), dtype=np.int64, count=len(users))
        if (out < 0).any():
            unknown = sorted({str(u) for u in users[out < 0].tolist()})
            raise InputError(
                f"{len(unknown)} user(s) in seen-user splits (train/val/test) are unknown to this head "
                f"(e.g. {', '.join(map(repr, unknown[:3]))}): it was not trained on them. Mark their "
                "pairs split=fewshot / unseen_test to evaluate them as new users, or drop the split "
                "column and embedkit treats every user the head has not seen as a new user"
            )
        return out

    def _tensors(self, data: PairData, device) -> dict:
        """The base tensors plus each row's index into the seen users (unknown users are an error)."""
        t = super()._tensors(data, device)
        t["user"] = torch.as_tensor(self._user_index(data.user), device=device)
        return t

    def _param_groups(self) -> list[dict]:
        fast = {id(p) for n, p in self.module_.named_parameters() if n in ("user_logits", "prototypes")}
        return [
            {
                "params": [p for p in self.module_.parameters() if id(p) not in fast],
                "lr": self.config.lr,
                "weight_decay": self.config.weight_decay,
            },
            {
                "params": [p for p in self.module_.parameters() if id(p) in fast],
                "lr": self.config.user_lr,
                "weight_decay": 0.0,
            },
        ]

    def user_weights(self) -> np.ndarray:
        """(U, K) simplex weights of the seen users, in ``users_`` order."""
        self._check_fitted()
        with torch.no_grad():
            return torch.softmax(self.module_.user_logits, -1).cpu().numpy()

    def _pair_delta(self, t: dict, idx, w: torch.Tensor) -> torch.Tensor:
        return self.module_.delta(t["X"], t["prompt"][idx], t["a"][idx], t["b"][idx], w)

    def _row_losses(self, delta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logistic loss of each row: -[y log s(delta) + (1 - y) log s(-delta)]. (B,)"""
        return F.binary_cross_entropy_with_logits(delta, y, reduction="none")

    def _rows_loss(self, delta: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The weighted mean of the row losses (the training objective)."""
        return (self._row_losses(delta, y) * weight).sum() / weight.sum()

    def _loss(self, t: dict, idx: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.module_.user_logits[t["user"][idx]], -1)  # (B, K)
        return self._rows_loss(self._pair_delta(t, idx, w), t["y"][idx], t["weight"][idx])

    def _delta_t(self, t: dict) -> torch.Tensor:
        w = torch.softmax(self.module_.user_logits[t["user"]], -1)
        return self._pair_delta(t, slice(None), w)

    # --- new users -----------------------------------------------------------------------------------
    def zero_shot_weights(self) -> np.ndarray:
        """The mean of the seen users' weights: the zero-shot point for a new user. (K,)"""
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
            else:
                tau = 0.0 if method == "mle" else self._prior_strength() if strength is None else strength
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

    def _optimise(self, st, uidx, n_users, y, weight, strength) -> torch.Tensor:
        """MAP (or, with strength 0, maximum-likelihood) weights of ``n_users`` users from their rows."""
        init = torch.log(torch.as_tensor(self.zero_shot_weights(), device=self.device)).expand(n_users, -1)
        return optimise_logits(
            lambda W: self.module_.delta_stats(st, W, uidx),
            lambda delta: self._row_losses(delta, y) * weight,
            init,
            self.prior_,
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

    def _prior_strength(self) -> float:
        if self.prior_ is None:
            raise NotFittedError(
                "this head has no few-shot prior (saved by an older embedkit); use method='mle'"
            )
        return self.prior_.strength

    def _after_training(self, data: PairData) -> None:
        """Fit the few-shot prior to the seen users' weights, and choose its strength on held-out pairs."""
        if self.config.K == 1:
            return
        self.prior_ = LogitPrior.fit(self.user_weights(), self.zero_shot_weights())
        if self.config.fewshot_prior >= 0:
            self.prior_.strength = float(self.config.fewshot_prior)
        else:
            self.prior_.strength, self.prior_.selection = self._choose_strength(data)

    def _choose_strength(self, data: PairData) -> tuple[float, dict]:
        """The prior strength on STRENGTH_GRID with the best held-out accuracy (mean over 1, 3 and 10 shots)
        when seen users are treated as new: some of their train pairs as shots, their val/test pairs
        scored; strengths within 0.002 of the best are told apart by held-out loss."""
        known = np.isin(data.user.astype(str), np.asarray(self.users_, dtype=str))
        seen = data.subset(known & np.isin(data.split, ["train", "val", "test"]))
        users = seen.user.astype(str)
        has_eval = set(users[seen.split != "train"].tolist())
        pool = sorted(set(users[seen.split == "train"].tolist()) & has_eval)
        if not pool:
            log.info("no seen user has both train and val/test pairs: few-shot prior strength 1")
            return 1.0, {}
        rng = np.random.default_rng(self.config.seed)
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
        t = RewardHead._tensors(self, sel, self.device)
        uidx = torch.as_tensor(inv, device=self.device)
        acc: dict[float, list[float]] = {tau: [] for tau in STRENGTH_GRID}
        loss: dict[float, list[float]] = {tau: [] for tau in STRENGTH_GRID}
        with self._frozen():
            st = self.module_.stats(t["X"], t["prompt"], t["a"], t["b"])
            for shots in SELECTION_SHOTS:
                ok_user = n_train >= shots
                shot_rows = torch.as_tensor(
                    is_train & (train_rank < shots) & ok_user[inv], device=self.device
                )
                eval_mask = ~is_train & ok_user[inv]
                eval_rows = torch.as_tensor(eval_mask, device=self.device)
                if not shot_rows.any() or not eval_rows.any():
                    continue
                sub = {k: (v[shot_rows] if k in self.module_.PER_ROW else v) for k, v in st.items()}
                ev = {k: (v[eval_rows] if k in self.module_.PER_ROW else v) for k, v in st.items()}
                rows, y_s, w_s = uidx[shot_rows], t["y"][shot_rows], t["weight"][shot_rows]
                for tau in STRENGTH_GRID:
                    W = self._optimise(sub, rows, len(names), y_s, w_s, tau)
                    with torch.no_grad():
                        d = self.module_.delta_stats(ev, W, uidx[eval_rows])
                        loss[tau].append(float(self._row_losses(d, t["y"][eval_rows]).mean()))
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

    def _response_rewards(self, X, prompt, resp, W, users):
        if W is None or users is None:
            raise ValueError("PAL rewards depend on the user: give weights (U, K) and each row's user index")
        return {"reward": self.module_.rewards(X, prompt, resp, W, users)}

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

    def evaluate(self, data: PairData, shots: list[int] | None = None) -> dict:
        """Seen-user accuracy per split (and per-user spread on test); unseen-user accuracy by shots.

        ``shots``: few-shot sizes to evaluate (error if a user has fewer few-shot pairs); default:
        1, 2, 5, 10, 20, 50 up to the smallest user's count.
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
            out["unseen"] = self._unseen(fewshot, test, shots)
        return out

    def _unseen(self, fewshot: PairData, test: PairData, shots: list[int] | None) -> dict:
        res = {"users": len(set(test.user.tolist())), "pairs": len(test)}
        d0 = self.delta_with_weights(test, self.zero_shot_weights())
        res["zero_shot"] = preference_accuracy(d0, test.counts, test.y)
        if not len(fewshot):
            return res
        fs_users = fewshot.user.astype(str)
        users, inv = np.unique(fs_users, return_inverse=True)
        per_user = np.bincount(inv.reshape(-1))
        if shots is None:  # the defaults up to the smallest user's count, and that count itself
            shots = [s for s in DEFAULT_SHOTS if s <= per_user.min()] + [int(per_user.min())]
        else:
            short = users[per_user < max(shots)]
            if len(short):
                raise InputError(
                    f"{len(short)} unseen user(s) have fewer than {max(shots)} few-shot pairs "
                    f"(e.g. {str(short[0])!r} has {int(per_user[users == short[0]][0])}); lower --shots"
                )
        res["by_shots"] = {}
        rank = rank_within_group(fs_users)
        for s in sorted(set(shots)):
            names, w = self.fit_new_users(fewshot.subset(rank < s))
            index = {u: i for i, u in enumerate(names)}
            rows = np.array([index.get(u, -1) for u in test.user.astype(str)])
            known = rows >= 0
            d = self.delta_with_weights(test.subset(known), w[rows[known]])
            res["by_shots"][str(s)] = preference_accuracy(d, test.counts[known], test.y[known])
        # unseen users with no few-shot pairs count in zero_shot only
        res["users_with_fewshot"] = len(users)
        return res

    def _extra_config(self) -> dict:
        return {"users": self.users_, "fewshot_prior": self.prior_.to_dict() if self.prior_ else None}

    def _restore_extra(self, cfg: dict) -> None:
        self.users_ = list(cfg.get("users", []))
        prior = cfg.get("fewshot_prior")
        self.prior_ = LogitPrior.from_dict(prior) if prior else None


class PALAHead(_PALHead):
    """PAL-A: ideal points a_i = P w_i; logistic or hinge loss."""

    name = "pal-a"
    Config = PALAConfig
    Module = PALAModule

    def _row_losses(self, delta, y):
        if self.config.loss == "logistic":
            return super()._row_losses(delta, y)
        sign = torch.sign(y - 0.5)  # ties (0) contribute nothing to the hinge
        return torch.relu(1 - sign * delta) * sign.abs()


class PALBHead(_PALHead):
    """PAL-B: prompt-conditioned prototypes g_k(x_c); logistic loss."""

    name = "pal-b"
    Config = PALBConfig
    Module = PALBModule
