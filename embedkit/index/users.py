"""Where a user sits among a PAL head's prototypes and seen users, and the best responses for a user.

A user is a point: for PAL-A the ideal point a_u = P w_u (in the input space, where the prototypes p_k
live), for PAL-B the weight vector w_u on the simplex (its prototypes are the simplex's corners).

- ``UserLookup.nearest_prototype``: the prototype nearest each user (their group), L2, exact.
- ``UserLookup.similar_users``: the k seen users nearest each user (cold-start neighbours).
- ``ResponseIndex.top_k``: the k highest-reward responses of a large candidate set for each user: for
  PAL-A the nearest neighbours of f(a_u) among f(x) (reward = -||f(x) - f(a_u)||^2, L2 search); for PAL-B
  an inner-product search of z_u(x_c)/||z_u(x_c)|| over f(x)/||f(x)|| (reward = scale * cosine).
"""

from __future__ import annotations

import numpy as np
import torch

from embedkit.index.search import VectorIndex


def _user_points(head, W: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return (
            head.module_.user_points(torch.as_tensor(np.asarray(W, np.float32), device=head.device))
            .cpu()
            .numpy()
        )


class UserLookup:
    """FAISS indexes of a PAL head's prototypes and seen users."""

    def __init__(self, head, kind: str = "auto"):
        if not getattr(head, "uses_user_weights", False):
            raise ValueError(f"{head.name} has no users or prototypes to look up (PAL heads only)")
        head._check_fitted()
        self.head = head
        K = head.config.K
        self.prototypes = VectorIndex.build(_user_points(head, np.eye(K)), metric="l2", kind="flat")
        self.seen_names = np.asarray(head.users_, dtype=object)
        self.seen = VectorIndex.build(_user_points(head, head.user_weights()), metric="l2", kind=kind)

    def nearest_prototype(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(prototype index (U,), squared distance (U,)) of users with weights W (U, K)."""
        d, i = self.prototypes.search(_user_points(self.head, W), 1)
        return i[:, 0], d[:, 0]

    def similar_users(self, W: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(seen user ids (U, k), squared distances (U, k)) nearest to users with weights W."""
        d, i = self.seen.search(_user_points(self.head, W), min(k, len(self.seen_names)))
        return self.seen_names[i], d


class ResponseIndex:
    """The top-k responses of a candidate set for many users at once (see the module docstring)."""

    def __init__(self, head, X: np.ndarray, kind: str = "auto"):
        if not getattr(head, "uses_user_weights", False):
            raise ValueError(
                "ResponseIndex is for PAL heads; a population head ranks candidates by its reward"
            )
        head._check_fitted()
        self.head = head
        head.module_.eval()
        with torch.no_grad():
            Xt = torch.as_tensor(np.asarray(X, np.float32), device=head.device)
            feats = torch.cat([head.search_features(Xt[s : s + 65536]) for s in range(0, len(Xt), 65536)])
        self.index = VectorIndex.build(feats.cpu().numpy(), metric=head.search_metric, kind=kind)

    def queries(self, W: np.ndarray, prompt_X: np.ndarray | None = None) -> np.ndarray:
        """The search vector of each user: f(a_u) (PAL-A), or z_u(x_c) normalised (PAL-B; one prompt
        embedding per user, (U, D))."""
        device = self.head.device
        Wt = torch.as_tensor(np.asarray(W, np.float32), device=device)
        Pt = None if prompt_X is None else torch.as_tensor(np.asarray(prompt_X, np.float32), device=device)
        return self.head.search_queries(Wt, Pt).cpu().numpy()

    def top_k(
        self, W: np.ndarray, k: int = 10, prompt_X: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rewards (U, k), candidate rows (U, k)), best first."""
        scores, ids = self.index.search(self.queries(W, prompt_X), k)
        return self.head.search_rewards(scores), ids
