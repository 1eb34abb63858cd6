"""The networks of PAL-A and PAL-B (PAL sections 3.2-3.3), with the frozen-network helpers that new-user
fitting and scoring use: f (and g) computed once per distinct text, sufficient statistics per pair.

PAL-A (ideal points), eq. (8):  r_i(x) = -|| f(x) - f(a_i) ||^2,   a_i = P w_i
PAL-B (prompt-conditioned), eq. (9):  r_i(x, x_c) = < f(x), z_i(x_c) >,   z_i = sum_k w_ik g_k(x_c),
      as a cosine with a learnable temperature.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.heads.config import PALBConfig, PALConfig
from embedkit.heads.mlp import MLP, PrototypeMLPs

CHUNK = 16384  # rows per chunk when features of many pairs are computed (bounded memory)


def _chunked(fn, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """fn(X[rows]) in chunks of rows, concatenated."""
    return (
        torch.cat([fn(X[rows[s : s + CHUNK]]) for s in range(0, len(rows), CHUNK)])
        if len(rows)
        else fn(X[rows])
    )


def _on_distinct(fn, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """fn(X[rows]), computed once per distinct row: a batch whose pairs share a prompt (or a response)
    runs the network on it once. Gradients flow back through the gather as through fn(X[rows])."""
    idx, inv = torch.unique(rows, return_inverse=True)
    return fn(X[idx])[inv]


def _rows_of(module: nn.Module, fn, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """fn(X[rows]) for training: once per distinct row (``_on_distinct``) unless the module is trained by
    the device loop (``distinct_rows`` False), where ``torch.unique`` would make the host wait for the
    device each step: then fn runs on the gathered rows, or on the whole table once when the step has more
    rows than the table (a few thousand texts against ~10^4 rows a step)."""
    if getattr(module, "distinct_rows", True):
        return _on_distinct(fn, X, rows)
    if len(rows) >= len(X):
        return fn(X)[rows]
    return fn(X[rows])


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
        fab = _rows_of(self, self.f, X, torch.cat([a, b]))  # (2B, d)
        return {"fa": fab[: len(a)], "fb": fab[len(a) :]}  # (B, d) each

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
        fab = F.normalize(_rows_of(self, self.f, X, torch.cat([a, b])), dim=-1)  # (2B, d)
        G = _rows_of(self, self.g, X, prompt)  # (B, K, d): g_k once per distinct prompt of the batch
        return {"G": G, "fdiff": fab[: len(a)] - fab[len(a) :]}  # (B, K, d), (B, d)

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
