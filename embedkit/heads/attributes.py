"""Who a user is as a prior over their weights: a ridge map from a user's attributes (gender, age, groups,
read by :mod:`embedkit.data.users`) to the centred logits of their PAL weights, shrunk towards the
population point.

For a user with features x (F,) (one-hot categoricals, standardised numerics, multi-hot lists; a missing
value is zeros) the attribute point is

    z_c(x) = mu + x B,      w(x) = softmax(z_c(x)),      mu = centred log of the population (zero-shot) weights,

    B = argmin_B  sum_u || z_c(w_u) - mu - x_u B ||^2 + lambda ||B||^2  =  (X^T X + lambda I)^-1 X^T (Z_c - mu)

over the seen users' trained weights w_u (X (U, F), Z_c (U, K)). B = 0 is the population point, and a
user without attributes (x = 0) gets it whatever B is.

**Choice** (:func:`select_attribute_prior`): the strength lambda is chosen on the same held-out
calibration users as the few-shot prior (``calibration_users`` in :mod:`embedkit.heads.fewshot_calibration`: seen users
held out of training). With B fitted on the trained users only, each held-out user is scored as a new
user with no pairs: their pairs' accuracy under w(x_u) against the population weights, a paired gain with a
standard error clustered by user (``paired_gain``, ``mean_gain_error``). The lambda with the best lower
bound (gain - BOUND_Z SE) is used only where that bound is > 0; otherwise the prior falls back to the
population point (B = 0) and says so, with the numbers, in the fit log and ``metrics_["attribute_prior"]``.
After the final training with every seen user, B is refitted on all of them with the chosen lambda.

**Use**: a new user with attributes and no pairs gets w(x) as their zero-shot weights; with pairs, z_c(x)
is the mean of the MAP few-shot prior (:func:`fit_new_users_with_attributes`; its spread and strength stay
the calibrated ones). B is saved in ``model.safetensors`` (the buffer ``attribute_coef`` (F, K)), the
encoder's vocabulary and scales and the selection in ``config.json`` (``attribute_prior``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from embedkit.data.users import AttributeEncoder, UserAttributes, coerce, missing_users
from embedkit.heads.fewshot import LogitPrior
from embedkit.heads.fewshot_calibration import BOUND_Z, mean_gain_error, paired_gain
from embedkit.heads.metrics import preference_hits

log = logging.getLogger(__name__)

RIDGE_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
"""The ridge strengths tried, in users' worth of shrinkage towards the population point (a category seen on
n users moves its users by about n / (n + lambda) of their mean offset)."""
MIN_COUNT = 5
"""A categorical value (or list item) on fewer seen users than this gets no feature of its own."""


@dataclass
class AttributePrior:
    """The encoder, the chosen ridge strength and whether the prior fell back to the population point;
    the map B itself is the module's ``attribute_coef`` buffer (F, K)."""

    encoder: AttributeEncoder
    ridge: float | None
    fallback: bool
    reason: str = ""
    selection: dict | None = None

    def to_dict(self) -> dict:
        return {
            "encoder": self.encoder.to_dict(),
            "ridge": self.ridge,
            "fallback": self.fallback,
            "reason": self.reason,
            "selection": self.selection,
            "features": self.encoder.feature_names(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> AttributePrior:
        """From ``to_dict``'s output; a ValueError names what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, found {type(d).__name__}")
        ridge = d.get("ridge")
        if ridge is not None and (not isinstance(ridge, int | float) or isinstance(ridge, bool) or ridge < 0):
            raise ValueError(f"ridge: expected a number >= 0 or null, found {ridge!r:.40}")
        if not isinstance(d.get("fallback"), bool):
            raise ValueError(f"fallback: expected true or false, found {d.get('fallback')!r:.40}")
        return cls(
            AttributeEncoder.from_dict(d.get("encoder")),
            None if ridge is None else float(ridge),
            d["fallback"],
            str(d.get("reason", "")),
            d.get("selection"),
        )

    def summary(self) -> dict:
        """What fit-head reports: used or fallen back, why, and the held-out numbers."""
        out = {"used": not self.fallback, "ridge": self.ridge, "reason": self.reason}
        out["features"] = self.encoder.n_features
        if self.selection:
            out.update(
                {
                    k: self.selection[k]
                    for k in ("users", "pairs", "population", "chosen")
                    if k in self.selection
                }
            )
        return out


def attach(head, module: torch.nn.Module) -> None:
    """Give ``module`` the ``attribute_coef`` buffer of ``head``'s attribute prior (zeros of its shape, for
    ``load_state_dict`` to fill), so that a saved head's B loads with its other tensors."""
    prior = getattr(head, "attribute_prior_", None)
    if prior is not None:
        module.register_buffer("attribute_coef", torch.zeros(prior.encoder.n_features, head.config.K))


def _set_coef(head, coef: np.ndarray) -> None:
    head.module_.register_buffer(
        "attribute_coef", torch.as_tensor(coef, dtype=torch.float32, device=head.device).contiguous()
    )


def coef(head) -> np.ndarray:
    """B (F, K) of a head with an attribute prior."""
    return head.module_.attribute_coef.detach().cpu().numpy().astype(np.float64)


def centred_log(W: np.ndarray) -> np.ndarray:
    """Centred logits of simplex weights (..., K)."""
    z = np.log(np.clip(W, 1e-6, None))
    return z - z.mean(axis=-1, keepdims=True)


def ridge_map(X: np.ndarray, target: np.ndarray, lam: float) -> np.ndarray:
    """B = (X^T X + lam I)^-1 X^T target: X (U, F), target (U, K) -> (F, K)."""
    F = X.shape[1]
    return np.linalg.solve(X.T @ X + lam * np.eye(F), X.T @ target)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def points(mu_weights: np.ndarray, X: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Attribute points w(x) = softmax(mu + x B): population weights (K,), features (U, F) -> (U, K)."""
    return _softmax(centred_log(mu_weights)[None] + X @ B).astype(np.float32)


def _check(head, attrs: UserAttributes | None, what: str) -> bool:
    """Whether ``attrs`` can be used with ``head``: False (with a warning) for one prototype."""
    if attrs is None:
        return False
    if not getattr(head, "uses_user_weights", False):
        raise ValueError(f"user attributes are a prior over per-user weights; {head.name} has none")
    if head.config.K == 1:
        log.warning(
            "%s: with K=1 every user has weight 1 on the one prototype; user attributes are not used", what
        )
        return False
    return True


def warn_missing(attrs: UserAttributes, users, what: str) -> list[str]:
    """Warn (once) about ``users`` that have no row in the users file; returns them."""
    missing = missing_users(attrs, users)
    if missing:
        log.warning(
            "%d of %d %s have no attributes in %s (e.g. %s): they get the population point",
            len(missing), len(set(map(str, users))), what, attrs.path or "the users file",
            ", ".join(map(repr, missing[:5])),
        )  # fmt: skip
    return missing


# --- fitting (called by the PAL heads' _after_training) ---------------------------------------------------
def select_attribute_prior(head, data, held: list[str], zero_shot: np.ndarray, attrs: UserAttributes | None):
    """Choose lambda on the held-out calibration users (see the module docstring); sets
    ``head.attribute_prior_`` and its B (fitted on the trained users). Called after training, before the
    held-out users join training."""
    head.attribute_prior_ = None
    if not _check(head, attrs, f"{head.name} --users"):
        return
    warn_missing(attrs, head.users_, "seen users")
    encoder = AttributeEncoder.fit(attrs.subset(head.users_), MIN_COUNT)
    K = head.config.K
    prior = AttributePrior(encoder, None, True)
    head.attribute_prior_ = prior
    _set_coef(head, np.zeros((encoder.n_features, K)))
    if encoder.n_features == 0:
        prior.reason = f"no attribute has a value on at least {MIN_COUNT} seen users (or a numeric spread)"
        log.warning("attribute prior: %s; new users get the population point", prior.reason)
        return
    if not held:
        prior.reason = (
            "no held-out calibration users to choose it on (--prior-users 0, a fixed --fewshot-prior, or "
            "fewer than 8 users held out)"
        )
        log.warning("attribute prior not used: %s; new users get the population point", prior.reason)
        return
    users = np.asarray(head.users_, dtype=str)
    trained = ~np.isin(users, held)
    X_t, _ = encoder.transform(attrs, users[trained])
    target = centred_log(head.user_weights()[trained]) - centred_log(zero_shot)
    sel = data.subset(np.isin(data.user.astype(str), held) & (data.split == "train"))
    names, inv = np.unique(sel.user.astype(str), return_inverse=True)
    inv = inv.reshape(-1)
    X_h, _ = encoder.transform(attrs, names)
    pop_hits, labels = _hits(head, sel, np.tile(zero_shot, (len(names), 1)), inv)
    rows, best = {}, None
    for lam in RIDGE_GRID:
        B = ridge_map(X_t, target, lam)
        hits, _ = _hits(head, sel, points(zero_shot, X_h, B), inv)
        gain, infl = paired_gain(hits, pop_hits, labels, inv, len(names))
        se = mean_gain_error([infl])
        bound = gain - BOUND_Z * se
        rows[str(lam)] = {
            "accuracy": float(hits.sum() / labels.sum()),
            "gain": gain,
            "se": se,
            "bound": bound,
        }
        if best is None or bound > rows[str(best)]["bound"]:
            best = lam
    prior.selection = {
        "users": len(names),
        "users_with_attributes": int((np.abs(X_h).sum(axis=1) > 0).sum()),
        "pairs": len(sel),
        "population": float(pop_hits.sum() / labels.sum()) if labels.sum() else None,
        "by_ridge": rows,
    }
    top = rows[str(best)]
    numbers = (
        f"ridge {best:g}: held-out accuracy {top['accuracy']:.4f} vs population {prior.selection['population']:.4f}, "
        f"gain {top['gain']:+.4f} ± {top['se']:.4f} (SE, by user), lower bound {top['bound']:+.4f}, on "
        f"{len(names)} held-out users ({prior.selection['users_with_attributes']} with attributes)"
    )
    if top["bound"] > 0:
        prior.ridge, prior.fallback = float(best), False
        prior.reason = f"the attribute prior beat the population point reliably: {numbers}"
        _set_coef(head, ridge_map(X_t, target, best))
        log.info("attribute prior used: %s", numbers)
    else:
        prior.reason = f"no ridge strength beat the population point reliably (best {numbers})"
        log.warning("attribute prior not used, new users get the population point: %s", prior.reason)
    prior.selection["chosen"] = None if prior.fallback else prior.ridge


def refit_attribute_prior(head, attrs: UserAttributes | None) -> None:
    """B on every seen user's final weights with the chosen lambda (after the held-out users joined)."""
    prior = getattr(head, "attribute_prior_", None)
    if prior is None or prior.fallback or attrs is None:
        return
    X, _ = prior.encoder.transform(attrs, head.users_)
    W = head.user_weights()
    target = centred_log(W) - centred_log(head.zero_shot_weights())
    _set_coef(head, ridge_map(X, target, prior.ridge))


def _hits(head, data, W: np.ndarray, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row hits and labels of ``data`` scored with user weights W (U, K), rows' users ``inv``."""
    d = head.delta_with_weights(data, W[inv])
    return preference_hits(d, data.counts, data.y)


# --- new users ------------------------------------------------------------------------------------------
def attribute_weights(head, users, attrs: UserAttributes | None) -> np.ndarray:
    """Zero-shot weights of ``users`` (U, K): their attribute point where the head has an attribute prior
    and they have attributes, else the population point."""
    return attribute_weights_of(head, [None if attrs is None else attrs.get(u) for u in map(str, users)])


def attribute_weights_of(head, values: list[dict | None]) -> np.ndarray:
    """Zero-shot weights (U, K) from each user's attribute dict (as :class:`UserAttributes` holds them;
    None: no attributes)."""
    zero = head.zero_shot_weights()
    prior = getattr(head, "attribute_prior_", None)
    if prior is None or head.config.K == 1:
        return np.tile(zero, (len(values), 1)).astype(np.float32)
    return points(zero, prior.encoder.encode(values), coef(head))


def fit_new_users_with_attributes(
    head, data, attrs: UserAttributes | None, method: str | None = None, strength: float | None = None
) -> tuple[list[str], np.ndarray]:
    """Like ``head.fit_new_users`` (MAP), with each user's attribute point as the mean of the prior and
    the start of the fit (and as the result where the few-shot prior fell back to the zero-shot point).
    ``mle`` and ``knn`` do not use a prior: they are ``head.fit_new_users``."""
    method = method or head.config.fewshot_method
    if method != "map" or head.config.K == 1 or getattr(head, "attribute_prior_", None) is None:
        return head.fit_new_users(data, method=method, strength=strength)
    head._check_fitted()
    head.check_embeddings(data.fingerprint, data.X.shape[1])
    users, inv = np.unique(data.user.astype(str), return_inverse=True)
    start = attribute_weights(head, users, attrs)  # (U, K)
    base = head._prior()
    if strength is None and base.fallback:
        return users.tolist(), start
    prior = LogitPrior(centred_log(start), base.cov, base.strength, zero_shot=start)  # a mean per user
    tau = base.strength if strength is None else strength
    from embedkit.heads.base import RewardHead

    t = RewardHead._tensors(head, data, head.device)
    uidx = torch.as_tensor(inv.reshape(-1), device=head.device)
    with head._frozen():
        st = head.module_.stats(t["X"], t["prompt"], t["a"], t["b"])
        W = head._optimise(st, uidx, len(users), t["y"], t["weight"], tau, prior=prior)
    return users.tolist(), W.cpu().numpy()


def attribute_weights_from_records(head, records: list[dict | None]) -> np.ndarray:
    """Zero-shot weights (U, K) of users given as attribute dicts in memory (``{"gender": "Female",
    "age": 60}``; None: no attributes), e.g. the reward API's ``user_attributes``."""
    prior = getattr(head, "attribute_prior_", None)
    if prior is None:
        return attribute_weights_of(head, [None] * len(records))
    kinds = prior.encoder.kinds
    return attribute_weights_of(
        head,
        [None if r is None else coerce(r, kinds, "user_attributes", i + 1) for i, r in enumerate(records)],
    )


def in_memory_attributes(head, user: str, record: dict | None) -> UserAttributes | None:
    """One user's attribute dict as a :class:`UserAttributes` in the head's encoder's kinds."""
    prior = getattr(head, "attribute_prior_", None)
    if prior is None or record is None:
        return None
    kinds = prior.encoder.kinds
    return UserAttributes([user], [coerce(record, kinds)], dict(kinds), "user_attributes", [1])
