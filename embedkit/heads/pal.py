"""PAL-A and PAL-B (PAL: Pluralistic Alignment, sections 3.2-3.3): K preference prototypes, a simplex
weight vector per user, seen users trained jointly, new users localised from a few pairs.

PAL-A (ideal points), eq. (8):  r_i(x) = -|| f(x) - f(a_i) ||^2,   a_i = P w_i
PAL-B (prompt-conditioned), eq. (9):  r_i(x, x_c) = < f(x), z_i(x_c) >,   z_i = sum_k w_ik g_k(x_c),
      as a cosine with a learnable temperature.
w_i = softmax(logits_i) lies on the simplex Delta^K. x is the response embedded in context; x_c the prompt.
The networks are in ``pal_modules``; new users' weights and the evaluation by users in ``pal_users``
(``PALUsers``), the few-shot prior in ``fewshot`` and its calibration in ``fewshot_calibration``.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.device import available_memory
from embedkit.errors import InputError
from embedkit.heads.attributes import AttributePrior, attach, refit_attribute_prior, select_attribute_prior
from embedkit.heads.base import RewardHead
from embedkit.heads.config import PALAConfig, PALBConfig, PALConfig
from embedkit.heads.fewshot import LogitPrior
from embedkit.heads.fewshot_calibration import calibrate_prior, calibration_users, choose_strength
from embedkit.heads.pair_data import PairData
from embedkit.heads.pal_modules import CHUNK, PALAModule, PALBModule
from embedkit.heads.pal_users import DEFAULT_SHOTS, PALUsers  # noqa: F401 - DEFAULT_SHOTS: its old home
from embedkit.heads.schema import HeadConfigError, array_field, string_list

log = logging.getLogger(__name__)


class _PALHead(PALUsers, RewardHead):
    Config = PALConfig
    Module: type[nn.Module]
    uses_user_weights = True
    supports_auto_k = True
    supports_user_attributes = True
    search_metric: str
    """How :mod:`embedkit.index.users` searches responses for a user's query: ``l2`` or ``ip``."""

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.users_: list[str] = []
        self.prior_: LogitPrior | None = None
        self.prior_users_: list[str] = []
        self.attribute_prior_: AttributePrior | None = None  # see embedkit.heads.attributes

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
            self._check_k(input_dim, data)
            self.attribute_prior_ = None  # a new fit chooses its own
        module = self.Module(input_dim, self.config, len(self.users_))
        attach(self, module)  # a saved attribute prior's B, for load_state_dict to fill
        return module

    def _check_k(self, input_dim: int, data: PairData) -> None:
        """Refuse a K the data or the machine cannot hold, before any tensor is allocated: more prototypes
        than users with training pairs (each user's weights mix the K prototypes, so beyond one prototype
        per user none can be told apart), or a model whose training would not fit in memory (weights,
        gradients and Adam's two moments, plus the K prototype outputs of one evaluation chunk)."""
        K, users = self.config.K, len(self.users_)
        if users >= 2 and K > users:
            raise InputError(
                f"--K {K} asks for more prototypes than the {users} users with training pairs: each user's "
                f"weights mix the K prototypes, so at most {users} can differ. Choose --K <= {users} (or "
                "--K auto)"
            )
        with torch.device("meta"):
            probe = self.Module(input_dim, self.config, users)
        params = sum(p.numel() for p in probe.parameters())
        width = self.config.hidden_dim + (self.config.latent_dim or input_dim)
        rows = min(CHUNK, max(len(data.X), self.config.batch_size))
        need = 16 * params + 4 * 3 * rows * K * width  # fp32 weights, grads, 2 Adam moments; activations
        have = available_memory(self.device)
        if have is not None and need > 0.9 * have:
            raise InputError(
                f"--K {K} would need about {need / 2**30:.1f} GiB to train {self.name} ({params:,} parameters, "
                f"{input_dim}-d inputs, --hidden-dim {self.config.hidden_dim}) and {self.device} has "
                f"{have / 2**30:.1f} GiB available. Choose a smaller --K or --hidden-dim"
            )

    def _held_out(self, data: PairData) -> list[str]:
        """The seen users kept out of training to calibrate new users' weights (see ``fewshot``)."""
        if self.config.K == 1 or self.config.fewshot_prior >= 0:
            return []
        return calibration_users(data, self.config.prior_users, self.config.seed)

    def _train_data(self, data: PairData) -> PairData:
        held = self._held_out(data)
        train = data.in_split("train")
        return train.subset(~np.isin(train.user.astype(str), held)) if held else train

    def _val_data(self, data: PairData) -> PairData:
        held = self._held_out(data)
        val = data.in_split("val")
        return val.subset(~np.isin(val.user.astype(str), held)) if held else val

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

    def _loss_from_delta(self, t: dict, delta: torch.Tensor) -> torch.Tensor:
        return self._rows_loss(delta, t["y"], t["weight"])

    def _after_training(self, data: PairData) -> None:
        """The few-shot prior: calibrated on the held-out seen users (whose weights are then fitted like a
        new user's), or, without them, fitted to the trained users' weights with an in-sample strength."""
        if self.config.K == 1:
            select_attribute_prior(self, data, [], None, getattr(self, "_user_attributes", None))  # warns
            return
        held = self._held_out(data)
        trained = ~np.isin(np.asarray(self.users_, dtype=str), held)
        zero_shot = self.user_weights()[trained].mean(axis=0)
        attrs = getattr(self, "_user_attributes", None)
        if held:
            self.prior_, W = calibrate_prior(self, data, held, zero_shot)
            select_attribute_prior(self, data, held, zero_shot, attrs)  # on the same held-out users
            rows = torch.as_tensor([self.users_.index(u) for u in held], device=self.device)
            with torch.no_grad():  # they start from their new-user weights, and now train with everyone
                self.module_.user_logits[rows] = torch.log(
                    torch.as_tensor(W, dtype=torch.float32).clamp_min(1e-6)
                ).to(self.device)
            self.prior_users_ = list(held)
            desc = getattr(self, "_desc", f"fit {self.name}")
            refit = self._train_on(data.in_split("train"), data.in_split("val"), desc=f"{desc} (all users)")
            self.history_["with_prior_users"] = {
                k: refit[k] for k in ("epochs_run", "best_epoch", "best_val", "epoch_seconds", "converged")
            }
            # the prior stays as calibrated (its spread and strength are about new users); its centre moves
            # to the zero-shot point of the users as now trained
            self.prior_.zero_shot = self.user_weights().mean(axis=0)
            mu = np.log(np.clip(self.prior_.zero_shot, 1e-6, None))
            self.prior_.mean = mu - mu.mean()
            refit_attribute_prior(self, attrs)
            return
        select_attribute_prior(self, data, [], zero_shot, attrs)  # no held-out users: it falls back
        self.prior_ = LogitPrior.fit(self.user_weights(), zero_shot)
        if self.config.fewshot_prior >= 0:
            self.prior_.strength = float(self.config.fewshot_prior)
        else:
            self.prior_.strength, self.prior_.selection = choose_strength(self, data)

    def _response_rewards(self, X, prompt, resp, W, users):
        if W is None or users is None:
            raise ValueError("PAL rewards depend on the user: give weights (U, K) and each row's user index")
        return {"reward": self.module_.rewards(X, prompt, resp, W, users)}

    def _extra_config(self) -> dict:
        return {
            "users": self.users_,
            "fewshot_prior": self.prior_.to_dict() if self.prior_ else None,
            "prior_users": self.prior_users_,
            **({"attribute_prior": self.attribute_prior_.to_dict()} if self.attribute_prior_ else {}),
        }

    def _extra_metrics(self, data: PairData) -> dict:
        if self.attribute_prior_ is None:
            return {}
        from embedkit.heads.attribute_groups import evaluate_attributes

        return {"attributes": evaluate_attributes(self, data, self._user_attributes)}

    def _restore_extra(self, cfg: dict) -> None:
        self.users_ = string_list(cfg.get("users", []), "", "users")
        self.prior_users_ = string_list(cfg.get("prior_users", []), "", "prior_users")
        attr = cfg.get("attribute_prior")
        try:
            self.attribute_prior_ = None if attr is None else AttributePrior.from_dict(attr)
        except ValueError as e:
            raise HeadConfigError("", "attribute_prior", str(e)) from None
        prior = cfg.get("fewshot_prior")
        if prior is None:
            self.prior_ = None
            return
        if not isinstance(prior, dict):
            raise HeadConfigError(
                "", "fewshot_prior", f"expected an object or null, found {type(prior).__name__}"
            )
        K = self.config.K
        strength = prior.get("strength")
        if not isinstance(strength, int | float) or isinstance(strength, bool) or not strength >= 0:
            raise HeadConfigError(
                "", "fewshot_prior.strength", f"expected a number >= 0, found {strength!r:.40}"
            )
        zero_shot = prior.get("zero_shot")
        self.prior_ = LogitPrior(
            array_field(prior.get("mean"), (K,), "", "fewshot_prior.mean"),
            array_field(prior.get("cov"), (K, K), "", "fewshot_prior.cov"),
            float(strength),
            prior.get("selection"),
            None if zero_shot is None else array_field(zero_shot, (K,), "", "fewshot_prior.zero_shot"),
            bool(prior.get("fallback", False)),
        )


class PALAHead(_PALHead):
    """PAL-A: ideal points a_i = P w_i; logistic or hinge loss."""

    name = "pal-a"
    Config = PALAConfig
    Module = PALAModule

    search_metric = "l2"

    def _row_losses(self, delta, y):
        if self.config.loss == "logistic":
            return super()._row_losses(delta, y)
        sign = torch.sign(y - 0.5)  # ties (0) contribute nothing to the hinge
        return torch.relu(1 - sign * delta) * sign.abs()

    # --- top-k responses by nearest-neighbour search (embedkit.index.users.ResponseIndex) ---------------
    @torch.no_grad()
    def search_features(self, X: torch.Tensor) -> torch.Tensor:
        """f(x) of responses (n, D) -> (n, d): r_i(x) = -||f(x) - f(a_i)||^2 is an L2 search, eq. (8)."""
        return self.module_.f(X)

    @torch.no_grad()
    def search_queries(self, W: torch.Tensor, prompt_X: torch.Tensor | None = None) -> torch.Tensor:
        """f(a_u), a_u = P w_u, for users' weights W (U, K) -> (U, d); the prompt does not matter."""
        return self.module_.f(W @ self.module_.prototypes)

    def search_rewards(self, scores: np.ndarray) -> np.ndarray:
        """Rewards from the search's squared L2 distances."""
        return -scores


class PALBHead(_PALHead):
    """PAL-B: prompt-conditioned prototypes g_k(x_c); logistic loss."""

    name = "pal-b"
    Config = PALBConfig
    Module = PALBModule
    search_metric = "ip"

    # --- top-k responses by nearest-neighbour search (embedkit.index.users.ResponseIndex) ---------------
    @torch.no_grad()
    def search_features(self, X: torch.Tensor) -> torch.Tensor:
        """f(x) / ||f(x)|| of responses (n, D) -> (n, d): the cosine of eq. (9) is an inner-product search."""
        return F.normalize(self.module_.f(X), dim=-1)

    @torch.no_grad()
    def search_queries(self, W: torch.Tensor, prompt_X: torch.Tensor | None = None) -> torch.Tensor:
        """z_u(x_c) / ||z_u(x_c)||, z_u = sum_k w_uk g_k(x_c), for weights W (U, K) and one prompt embedding
        per user (U, D) -> (U, d)."""
        if prompt_X is None:
            raise ValueError("PAL-B rewards depend on the prompt: give one prompt embedding per user")
        G = self.module_.g(prompt_X)  # (U, K, d)
        return F.normalize(torch.einsum("uk,ukd->ud", W, G), dim=-1)

    def search_rewards(self, scores: np.ndarray) -> np.ndarray:
        """Rewards from the search's cosines: times the learned scale, eq. (9)."""
        return float(self.module_.scale.detach()) * scores
