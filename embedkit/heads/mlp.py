"""The small MLPs of PAL (appendix C.2): two layers, ReLU, dropout, residual where dims match."""

from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Module):
    """x (B, D) -> (B, out): Linear(D, h) -> ReLU -> Dropout -> Linear(h, out), plus x when out == D.

    ``linear=True``: one projection without bias (PAL's synthetic experiments, appendix C.1)."""

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.0, linear: bool = False
    ):
        super().__init__()
        if linear:
            self.net = nn.Linear(in_dim, out_dim, bias=False)
            self.residual = False
            return
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim)
        )
        self.residual = in_dim == out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out + x if self.residual else out


class PrototypeMLPs(nn.Module):
    """K independent MLPs g_1..g_K evaluated at once: x (B, D) -> (B, K, out). Same shape as ``MLP``
    (``linear=True``: K projections without bias)."""

    def __init__(
        self, k: int, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.0, linear: bool = False
    ):
        super().__init__()
        self.linear = linear
        if linear:
            self.w = nn.Parameter(torch.empty(k, in_dim, out_dim))
            nn.init.uniform_(self.w, -1 / math.sqrt(in_dim), 1 / math.sqrt(in_dim))
            self.residual = False
            return
        self.w1 = nn.Parameter(torch.empty(k, in_dim, hidden_dim))
        self.b1 = nn.Parameter(torch.empty(k, hidden_dim))
        self.w2 = nn.Parameter(torch.empty(k, hidden_dim, out_dim))
        self.b2 = nn.Parameter(torch.empty(k, out_dim))
        self.dropout = nn.Dropout(dropout)
        self.residual = in_dim == out_dim
        for w, b, fan_in in ((self.w1, self.b1, in_dim), (self.w2, self.b2, hidden_dim)):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation, per prototype
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.linear:
            return torch.einsum("bd,kdo->bko", x, self.w)  # (B, K, out)
        h = torch.relu(torch.einsum("bd,kdh->bkh", x, self.w1) + self.b1)  # (B, K, h)
        out = torch.einsum("bkh,kho->bko", self.dropout(h), self.w2) + self.b2  # (B, K, out)
        return out + x[:, None, :] if self.residual else out


class MLPReadout(nn.Module):
    """The small MLP f followed by a linear read-out: x (B, D) -> (B, out). ``latent_dim`` 0 = D (residual)."""

    def __init__(self, in_dim: int, hidden_dim: int, latent_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        d = latent_dim or in_dim
        self.f = MLP(in_dim, hidden_dim, d, dropout)
        self.out = nn.Linear(d, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.f(x))  # (B, out)

    def scalar(self, x: torch.Tensor) -> torch.Tensor:
        """The single output of a read-out with out = 1, as (B,)."""
        return self.forward(x).squeeze(-1)
