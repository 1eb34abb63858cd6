"""The reward API: ``embedkit.load_reward_model(path, cache=DIR)`` -> :class:`RewardModel`, and TRL reward functions."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from embedkit.data.convert import render_messages
from embedkit.data.pairs import join_in_context, pair_layout, pair_table, parse_pair_row
from embedkit.errors import InputError, UnknownUserError
from embedkit.heads.base import RewardHead
from embedkit.score.embed import Embedder, head_responses, table_to_data

log = logging.getLogger(__name__)


class RewardModel:
    """A trained head with what it needs to score texts: the cache and, for what the cache lacks, the
    head's encoder. Created by ``embedkit.load_reward_model(path, cache=DIR)``."""

    def __init__(self, head: RewardHead, cache=None, allow_encode: bool = True, device: str | None = None):
        self.head = head
        self.embedder = Embedder(head, cache, allow_encode=allow_encode, device=device)
        self.responses = head_responses(head)

    def __repr__(self) -> str:
        return f"RewardModel({self.head.name}, {self.head.fingerprint_.describe()})"

    # users
    def weights_for(self, user, n: int | None = None, user_attributes=None) -> np.ndarray:
        """(U, K) weights and, with per-row users, (n,) rows: see ``reward`` for ``user`` and
        ``user_attributes``."""
        W, _ = self._user_rows(user, n or 1, user_attributes)
        return W

    def _user_rows(self, user, n: int, attributes=None) -> tuple[np.ndarray, np.ndarray]:
        head = self.head
        if not head.uses_user_weights:
            if attributes is not None:
                raise ValueError(
                    f"user_attributes apply to heads with per-user weights (PAL), not {head.name}"
                )
            return np.zeros((1, 1), np.float32), np.zeros(n, np.int64)
        K = head.config.K
        if attributes is not None:
            return self._attribute_rows(user, n, attributes)
        if user is None:
            return head.zero_shot_weights()[None].astype(np.float32), np.zeros(n, np.int64)
        if isinstance(user, str):
            return self._named_user(user)[None], np.zeros(n, np.int64)
        if isinstance(user, list | tuple) and user and all(isinstance(u, dict) for u in user):
            return self._fit_pairs(list(user))[None], np.zeros(n, np.int64)
        if (
            isinstance(user, list | tuple | np.ndarray)
            and len(user) == n
            and all(isinstance(u, str) or u is None for u in user)
        ):
            names = list(dict.fromkeys("" if u is None else u for u in user))
            W = np.stack([self._named_user(u) if u else head.zero_shot_weights() for u in names]).astype(
                np.float32
            )
            index = {u: i for i, u in enumerate(names)}
            return W, np.array([index["" if u is None else u] for u in user], dtype=np.int64)
        w = np.asarray(user, dtype=np.float64)
        if w.shape != (K,) or (w < 0).any() or abs(w.sum() - 1) > 1e-3:
            raise ValueError(
                f"user must be a seen user id, 'prototype:k', {K} weights summing to 1, a list of few-shot "
                f"pairs, or one user id per row; got {user!r:.80}"
            )
        return (w / w.sum()).astype(np.float32)[None], np.zeros(n, np.int64)

    def _attribute_rows(self, user, n: int, attributes) -> tuple[np.ndarray, np.ndarray]:
        """Weights from attributes: one dict for every row, or one dict (or None) per row; with few-shot
        pairs as ``user``, the attribute point is the prior mean of their fit."""
        from embedkit.heads.attributes import attribute_weights_from_records

        if isinstance(attributes, dict):
            if isinstance(user, list | tuple) and user and all(isinstance(u, dict) for u in user):
                return self._fit_pairs(list(user), attributes)[None], np.zeros(n, np.int64)
            if user is not None:
                raise ValueError(
                    "give user=None (or few-shot pairs) with user_attributes: a seen user has weights"
                )
            return attribute_weights_from_records(self.head, [attributes]), np.zeros(n, np.int64)
        if isinstance(attributes, list | tuple) and len(attributes) == n and user is None:
            if not all(a is None or isinstance(a, dict) for a in attributes):
                raise ValueError("user_attributes: one dict of attributes (or None) per row")
            return attribute_weights_from_records(self.head, list(attributes)), np.arange(n, dtype=np.int64)
        raise ValueError(
            f"user_attributes must be one dict of attributes, or one dict (or None) per row with user=None; "
            f"got {attributes!r:.80}"
        )

    def _named_user(self, user: str) -> np.ndarray:
        head = self.head
        if user.startswith("prototype:"):
            try:
                k = int(user.split(":", 1)[1])
            except ValueError:
                k = -1
            if not 0 <= k < head.config.K:
                raise ValueError(f"{user!r}: this head has prototypes 0..{head.config.K - 1}")
            return np.eye(head.config.K, dtype=np.float32)[k]
        index = {u: i for i, u in enumerate(head.users_)}
        if user not in index:
            raise UnknownUserError(user, list(head.users_))
        return head.user_weights()[index[user]]

    def _fit_pairs(self, rows: list[dict], attributes: dict | None = None) -> np.ndarray:
        parsed = []
        for i, rec in enumerate(rows):
            layout = pair_layout(rec)
            if layout is None:
                raise InputError(
                    "few-shot pairs need prompt + chosen/rejected (or left/right + label)",
                    file="user",
                    line=i + 1,
                )
            parsed.append(parse_pair_row({**rec, "user": "new"}, layout, self.responses, "user", i + 1, True))
        data = table_to_data(pair_table(parsed), self.embedder, split="fewshot")
        if attributes is not None:
            from embedkit.heads.attributes import fit_new_users_with_attributes, in_memory_attributes

            attrs = in_memory_attributes(self.head, "new", attributes)
            return fit_new_users_with_attributes(self.head, data, attrs)[1][0]
        return self.head.fit_new_users(data)[1][0]

    # rewards
    def _response_texts(self, prompts: Sequence[str], responses: Sequence[str]) -> list[str]:
        if self.responses == "in-context":
            return [join_in_context(p, r) for p, r in zip(prompts, responses, strict=True)]
        return list(responses)

    def reward(self, prompts, responses, user=None, user_attributes=None) -> np.ndarray:
        """Reward of each (prompt, response) for ``user``. ``prompts`` may be one string for all. (n,)

        ``user``: None (the population's zero-shot weights), a seen user id, ``"prototype:k"``, K weights,
        a list of few-shot pairs, or one user id per row. ``user_attributes`` (PAL heads fitted with
        attributes): who the user is, ``{"gender": "Female", "age": 60}``, scored from the head's attribute
        prior (the population point where it fell back, or for columns it has no feature of); with
        few-shot pairs as ``user``, the prior mean of their fit; or one dict (or None) per row."""
        responses = [responses] if isinstance(responses, str) else list(responses)
        prompts = [prompts] * len(responses) if isinstance(prompts, str) else list(prompts)
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts for {len(responses)} responses")
        if not responses:
            return np.zeros(0, np.float32)
        P, pi = self.embedder.rows(prompts)
        R, ri = self.embedder.rows(
            self._response_texts(prompts, responses), images=self.responses == "images"
        )
        return self._rewards(np.vstack([P, R]), pi, len(P) + ri, user, user_attributes)

    def reward_from_embeddings(self, prompt_emb, response_emb, user=None, user_attributes=None) -> np.ndarray:
        """Reward of each response embedding (n, D) with its prompt embedding (n, D) (or one (D,))."""
        R = np.asarray(response_emb, dtype=np.float32).reshape(-1, self.head.input_dim_)
        P = np.asarray(prompt_emb, dtype=np.float32).reshape(-1, self.head.input_dim_)
        if len(P) == 1:
            return self._rewards(
                np.vstack([P, R]), np.zeros(len(R), np.int64), 1 + np.arange(len(R)), user, user_attributes
            )
        if len(P) != len(R):
            raise ValueError(f"{len(P)} prompt embeddings for {len(R)} responses")
        n = len(R)
        return self._rewards(np.vstack([P, R]), np.arange(n), n + np.arange(n), user, user_attributes)

    def _rewards(
        self, X: np.ndarray, prompt: np.ndarray, resp: np.ndarray, user, attributes=None
    ) -> np.ndarray:
        W, rows = self._user_rows(user, len(resp), attributes)
        pal = self.head.uses_user_weights
        return self.head.response_rewards(X, prompt, resp, W if pal else None, rows if pal else None)[
            "reward"
        ]

    def reward_function(self, user=None, user_attributes=None, attribute_columns=()) -> RewardFunction:
        """A reward function for TRL's GRPO / RLOO trainers (``reward_funcs=[...]``). ``user_attributes``:
        one user's attributes for every row; ``attribute_columns``: dataset columns (which TRL passes as
        keywords) that make each row's attributes, e.g. ``("gender", "age")``."""
        return RewardFunction(self, user, user_attributes, attribute_columns)


class RewardFunction:
    """``f(prompts, completions, **kwargs) -> list[float]`` as TRL calls reward functions.

    Prompts and completions may be strings or conversations (lists of ``{"role", "content"}`` messages).
    A conversation is written the way the head's own training prompts / responses were: as ``role:
    content`` blocks where they were conversations rendered so (``embedkit convert trl``), as the
    messages' contents alone where they were plain text, so that the same completion gets the same reward
    as a string or as messages. (A head saved before embedkit 0.3 does not record it: blocks are used, with
    weights). Without a fixed user, a ``user`` column of the dataset (passed by TRL as a keyword argument,
    one id per row) picks each row's user; otherwise zero-shot weights are used. Attributes (PAL heads fitted
    with ``--users``): fixed ``user_attributes`` for every row, a ``user_attributes`` column (one dict per
    row), or ``attribute_columns`` (columns whose values make each row's attributes); a row's attributes
    are used where it names no user.
    """

    def __init__(self, model: RewardModel, user=None, user_attributes=None, attribute_columns=()):
        self.model = model
        self.user = user
        self.user_attributes = user_attributes
        self.attribute_columns = tuple(attribute_columns)
        self.__name__ = f"embedkit_{model.head.name.replace('-', '_')}"
        setup = model.head.data_setup_
        self.rendering = {
            "prompt": getattr(setup, "prompt_rendering", "") if setup else "",
            "completion": getattr(setup, "response_rendering", "") if setup else "",
        }
        self._warned = False
        self._warned_users = False

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        """Any other keyword TRL passes (``completion_ids``, ``trainer_state``, the dataset's other
        columns, ...) is accepted and ignored, except ``user``."""
        p = [self._text(x, "prompt") for x in prompts]
        c = [self._text(x, "completion") for x in completions]
        user = self.user if self.user is not None else kwargs.get("user")
        attributes = (
            self._attributes(kwargs, len(c)) if user is None or self.user_attributes is not None else None
        )
        if attributes is not None:
            return [float(r) for r in self.model.reward(p, c, user=user, user_attributes=attributes)]
        return [float(r) for r in self.model.reward(p, c, user=self._users(user, len(c)))]

    def _attributes(self, kwargs: dict, n: int):
        """Each row's attributes (or one dict for all), from the fixed ones or the dataset's columns."""
        if self.user_attributes is not None:
            return self.user_attributes
        if kwargs.get("user_attributes") is not None:
            return list(kwargs["user_attributes"])
        if self.attribute_columns:
            missing = [c for c in self.attribute_columns if c not in kwargs]
            if missing:
                raise KeyError(f"the dataset has no column(s) {', '.join(missing)} (attribute_columns)")
            return [{c: kwargs[c][i] for c in self.attribute_columns} for i in range(n)]
        return None

    def _users(self, user, n: int):
        """Ids as strings (a dataset column may hold integers); a user the head does not know gets the
        zero-shot weights, with one warning per function rather than an exception mid-training."""
        if isinstance(user, int | np.integer) and not isinstance(user, bool):
            user = str(user)
        if not self.model.head.uses_user_weights or user is None:
            return user
        if isinstance(user, str):
            ids, one = [user], True
        elif (
            isinstance(user, list | tuple | np.ndarray)
            and len(user) == n
            and all(u is None or isinstance(u, str | int | np.integer) for u in user)
        ):
            ids, one = [None if u is None else str(u) for u in user], False
        else:
            return user  # weights or few-shot pairs: RewardModel checks them
        known = set(self.model.head.users_)
        unknown = sorted({u for u in ids if u and u not in known and not u.startswith("prototype:")})
        if unknown:
            if not self._warned_users:
                self._warned_users = True
                log.warning(
                    "%d user id(s) are not seen users of this head (e.g. %s): they are scored with the zero-shot "
                    "weights (warned once)",
                    len(unknown), ", ".join(map(repr, unknown[:3])),
                )  # fmt: skip
            ids = [None if u in unknown else u for u in ids]
        return ids[0] if one else ids

    def _text(self, value, field: str) -> str:
        if isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise TypeError(f"{field} must be a string or a list of messages, got {type(value).__name__}")
        how = self.rendering[field]
        if how == "plain":
            render_messages(value, "reward_function", 0, field)  # checks the messages' shape
            return "\n\n".join(m["content"] for m in value if m.get("role") != "system" or len(value) == 1)
        if not how and not self._warned:
            self._warned = True
            log.warning(
                "this head does not record how its training texts were written (saved before embedkit 0.3): "
                "conversations are scored as 'role: content' blocks; refit the head to score them as it saw them"
            )
        return render_messages(value, "reward_function", 0, field)


def load_reward_model(path, cache=None, device: str | None = None, allow_encode: bool = True) -> RewardModel:
    """``embedkit.load_reward_model``: a saved head ready to score texts (see :class:`RewardModel`)."""
    from embedkit.heads.save_load import load_head

    return RewardModel(load_head(path, device=device), cache, allow_encode=allow_encode, device=device)
