"""What every reward head shares: fit on index arrays, evaluate, save and load without pickle."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from embedkit.data.splits import explain_empty_split
from embedkit.errors import EmbedkitError, InputError
from embedkit.fingerprint import Fingerprint
from embedkit.heads.config import TrainConfig
from embedkit.heads.metrics import preference_accuracy
from embedkit.heads.pair_data import DataSetup, PairData, item_overlap
from embedkit.heads.trainer import resolve_loop, resolve_torch_device, train

log = logging.getLogger(__name__)
NEAR_CHANCE = 0.55
"""Training that ends with train accuracy at or below this is reported as near chance (0.5)."""


class NotFittedError(EmbedkitError, AttributeError):
    """The head was used before ``fit`` or ``load``."""


class FingerprintMismatchError(EmbedkitError):
    """Embeddings from another encoder (or dimension) than the head was trained on."""


class RewardHead:
    """Base class. Subclasses set ``name`` and ``Config`` and implement the hooks below.

    sklearn manners: ``__init__`` stores settings, ``fit`` returns self, learned state ends in ``_``.
    """

    name: ClassVar[str]
    Config: ClassVar[type[TrainConfig]]
    val_metric: ClassVar[str] = "accuracy"

    def __init__(self, config: TrainConfig | None = None, **overrides):
        self.config = config if config is not None else self.Config(**overrides)
        self.config.validate()
        self.module_: torch.nn.Module | None = None
        self.fingerprint_: Fingerprint | None = None
        self.input_dim_: int | None = None
        self.metrics_: dict = {}
        self.history_: dict = {}
        self.data_info_: dict = {}
        self.data_setup_: DataSetup | None = None
        self._matrix_cache: tuple[np.ndarray, torch.Tensor] | None = None

    # --- hooks ---------------------------------------------------------------------------------------
    def _build(self, input_dim: int, data: PairData | None) -> torch.nn.Module:
        raise NotImplementedError

    def _loss(self, t: dict, idx: torch.Tensor) -> torch.Tensor:
        """Mean loss of the training rows ``idx``; ``t`` holds the training tensors from ``_tensors``."""
        raise NotImplementedError

    def _matrix(self, X: np.ndarray, device: torch.device) -> torch.Tensor:
        """The embedding matrix on ``device``, copied there once per matrix (not once per split)."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:  # a tensor's device always has an index
            device = torch.device("cuda", torch.cuda.current_device())
        cached = self._matrix_cache
        if cached is None or cached[0] is not X or cached[1].device != device:
            cached = (X, torch.as_tensor(X, device=device))
            self._matrix_cache = cached
        return cached[1]

    def _tensors(self, data: PairData, device: torch.device) -> dict:
        """Tensors of one split's rows (on ``device``), the input of ``_loss`` and ``_delta_t``: index
        arrays into ``X``, the embedding matrix (m, D)."""
        return {
            "X": self._matrix(data.X, device),
            "prompt": torch.as_tensor(data.prompt, device=device),
            "a": torch.as_tensor(data.a, device=device),
            "b": torch.as_tensor(data.b, device=device),
            "y": torch.as_tensor(data.y, dtype=torch.float32, device=device),
            "weight": torch.as_tensor(data.weight, dtype=torch.float32, device=device),
            "counts": torch.as_tensor(data.counts, dtype=torch.float32, device=device),
        }

    def _train_tensors(self, train: PairData, device: torch.device) -> tuple[dict, int]:
        """(tensors, number of training instances) that ``_loss`` draws mini-batches from."""
        return self._tensors(train, device), len(train)

    def _train_data(self, data: PairData) -> PairData:
        """The rows training uses (heads may regroup them)."""
        return data.in_split("train")

    def _val_data(self, data: PairData) -> PairData:
        return data.in_split("val")

    def evaluate(self, data: PairData) -> dict:
        """Metrics on every split present in ``data``."""
        raise NotImplementedError

    POPULATION_NOTE = "a population model: one reward for every user, no per-user weights"

    @staticmethod
    def population_splits(data: PairData):
        """(name, mask) per split for heads without users: train, val, test, and unseen_users (fewshot and
        unseen_test together: a population model fits nothing per user, so the two are alike to it)."""
        for name, members in (
            ("train", ("train",)),
            ("val", ("val",)),
            ("test", ("test",)),
            ("unseen_users", ("fewshot", "unseen_test")),
        ):
            mask = np.isin(data.split, members)
            if mask.any():
                yield name, mask

    # --- shared --------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return resolve_torch_device(self.config.device)

    def _check_fitted(self) -> None:
        if self.module_ is None:
            raise NotFittedError(f"this {self.name} head is not fitted; call fit() or load() first")

    def check_embeddings(self, fingerprint: Fingerprint, dim: int) -> None:
        """Refuse embeddings from another encoder fingerprint or dimension."""
        self._check_fitted()
        if dim != self.input_dim_:
            raise FingerprintMismatchError(f"the head takes {self.input_dim_}-d embeddings, got {dim}-d")
        if fingerprint != self.fingerprint_:
            raise FingerprintMismatchError(
                f"the head was trained on {self.fingerprint_.describe()}; these embeddings are "
                f"{fingerprint.describe()}. Extract with the same encoder (namespace {self.fingerprint_.namespace})"
            )

    def fit(
        self,
        data: PairData,
        progress: bool = True,
        desc: str | None = None,
        on_epoch: Callable[[int, dict], None] | None = None,
        user_attributes=None,
    ) -> RewardHead:
        """Train on the ``train`` rows of ``data``, early-stopping on ``val``; returns self.

        ``desc`` names the fit in progress lines (default ``fit <name>``); ``on_epoch(epoch, history)`` is
        called after every epoch of every training run. ``timings_`` says where the seconds went (training,
        the after-training step such as the few-shot prior, evaluation). ``user_attributes``: a
        :class:`~embedkit.data.users.UserAttributes` (``read_user_attributes``), for heads with
        ``supports_user_attributes``: a prior over new users' weights from who they are
        (``embedkit.heads.attributes``)."""
        if not np.all(np.isfinite(data.X)):
            bad = int(np.nonzero(~np.isfinite(data.X).all(axis=1))[0][0])
            raise InputError(f"embedding row {bad} contains NaN or inf; re-extract or verify the cache")
        for split in ("train", "val"):
            if not (data.split == split).any():
                seen = data.in_split("train", "val", "test")
                drawn = data.setup is not None and data.setup.split_source == "drawn"
                cfg = data.setup.split_config if drawn else None
                raise InputError(explain_empty_split(split, len(seen), len(set(seen.user.tolist())), cfg))
        train_d, val_d = self._train_data(data), self._val_data(data)
        for split, d in (("train", train_d), ("val", val_d)):
            if len(d) == 0:
                raise InputError(f"no {split} pairs are left for {self.name} (e.g. every pair is a tie)")
        if user_attributes is not None and not self.supports_user_attributes:
            raise InputError(
                f"user attributes are a prior over per-user weights; {self.name} has none (use pal-a or pal-b)"
            )
        self._user_attributes = user_attributes
        torch.manual_seed(self.config.seed)
        self.fingerprint_ = data.fingerprint
        self.input_dim_ = int(data.X.shape[1])
        self.module_ = self._build(self.input_dim_, data).to(self.device)
        self._progress, self._on_epoch, self._desc = progress, on_epoch, desc or f"fit {self.name}"
        self.timings_ = {}
        t0 = time.perf_counter()
        self.history_ = self._train_on(train_d, val_d, desc=self._desc)
        t1 = time.perf_counter()
        self._after_training(data)
        t2 = time.perf_counter()
        self.metrics_ = self.evaluate(data)
        self.metrics_.update(self._extra_metrics(data))
        t3 = time.perf_counter()
        trained = sum(self.history_.get("epoch_seconds", [])) + sum(
            self.history_.get("with_prior_users", {}).get("epoch_seconds", [])
        )
        self.timings_ = {
            "epochs": trained,
            "train_setup": (t1 - t0) - sum(self.history_.get("epoch_seconds", [])),
            "after_training": (t2 - t1)
            - sum(self.history_.get("with_prior_users", {}).get("epoch_seconds", [])),
            "evaluate": t3 - t2,
        }
        self.metrics_["item_overlap"] = item_overlap(data)
        self.data_info_ = {s: int((data.split == s).sum()) for s in np.unique(data.split.astype(str))}
        self.data_setup_ = data.setup
        self._warn_if_near_chance(data)
        return self

    def _train_on(self, train_d: PairData, val_d: PairData, desc: str) -> dict:
        """Train the module (as it is: new, or already trained) on ``train_d``, early-stopping on ``val_d``;
        returns the trainer's history."""
        device = self.device
        loop = resolve_loop(self.config, device)
        self.module_.distinct_rows = loop != "device"  # the device loop never asks the host for sizes
        t_train, n_train = self._train_tensors(train_d, device)
        t_val = self._tensors(val_d, device)
        return train(
            self.module_,
            self._param_groups(),
            lambda idx: self._loss(t_train, idx),
            n_train,
            lambda: self._val_score(t_val),
            self.config,
            device,
            desc=desc,
            progress=getattr(self, "_progress", True),
            loop=loop,
            on_epoch=getattr(self, "_on_epoch", None),
        )

    def _warn_if_near_chance(self, data: PairData) -> None:
        """A head that ends where it started (accuracy ~0.5 on its own training pairs) misleads quietly."""
        acc = self.metrics_.get("seen", {}).get("train", {}).get("accuracy")  # evaluate has it (PAL)
        if acc is None:
            train_rows = data.in_split("train")
            acc = preference_accuracy(self.predict_delta(train_rows), train_rows.counts, train_rows.y)
        if np.isfinite(acc) and acc <= NEAR_CHANCE:
            log.warning(
                "training ended near chance: %s reaches %.3f accuracy on its own training pairs (chance 0.5) "
                "after %d epochs (best at epoch %d). The data may be too small or too noisy for it; try more "
                "pairs, a higher --epochs/--patience, or another --lr.",
                self.name,
                acc,
                self.history_.get("epochs_run", 0),
                self.history_.get("best_epoch", 0),
            )

    def _extra_metrics(self, data: PairData) -> dict:
        """Hook: metrics beyond ``evaluate`` that only a fit knows (PAL: the attribute prior's). Default: none."""
        return {}

    def _after_training(self, data: PairData) -> None:
        """Hook: post-hoc calibration on the validation split (e.g. mean-var's lambda). Default: nothing."""

    def _param_groups(self) -> list[dict]:
        return [
            {
                "params": list(self.module_.parameters()),
                "lr": self.config.lr,
                "weight_decay": self.config.weight_decay,
            }
        ]

    EVAL_ROWS: ClassVar[int] = 16_384
    """Rows per chunk when a whole split is evaluated: memory stays bounded however many pairs it has."""

    EVAL_ROWS_CUDA: ClassVar[int] = 262_144
    """On a GPU: chunks large enough to fill it (a few hundred MB of features)."""

    def _row_chunks(self, t: dict):
        """(slice, t restricted to those rows) per chunk of EVAL_ROWS rows; X and other tables stay whole."""
        n = len(t["a"])
        rows = self.EVAL_ROWS_CUDA if t["a"].device.type == "cuda" else self.EVAL_ROWS
        for s in range(0, max(n, 1), rows):
            sl = slice(s, s + rows)
            if n <= rows:
                yield sl, t
            else:
                yield (
                    sl,
                    {
                        k: v[sl] if k != "X" and torch.is_tensor(v) and v.dim() and len(v) == n else v
                        for k, v in t.items()
                    },
                )

    def _chunked_delta(self, t: dict) -> torch.Tensor:
        """``_delta_t`` of every row of ``t``, EVAL_ROWS rows at a time."""
        return torch.cat([self._delta_t(tc) for _, tc in self._row_chunks(t)])

    def _chunked_loss(self, t: dict, loss=None, weighted: bool = True) -> float:
        """``loss`` (default ``_loss``) over every row of ``t``, in chunks, combined as one mean: weighted
        by the rows' ``weight`` when the loss is a weighted mean, else by row counts."""
        loss = loss or self._loss
        total = norm = 0.0
        for sl, _ in self._row_chunks(t):
            w = float(t["weight"][sl].sum()) if weighted and "weight" in t else float(len(t["a"][sl]))
            total += float(loss(t, sl)) * w
            norm += w
        return total / norm if norm else float("nan")

    def _loss_from_delta(self, t: dict, delta: torch.Tensor) -> torch.Tensor | None:
        """The loss of all rows of ``t`` from their r_A - r_B, when the head's loss is a function of it
        (then validation runs the networks once); None (the default) = compute it with ``_loss``."""
        return None

    def _val_score(self, t: dict) -> float | tuple[float, float]:
        """Early stopping's criterion on the validation tensors: (accuracy, minus the loss as tie-break)."""
        delta_t = self._chunked_delta(t)
        loss = self._loss_from_delta(t, delta_t)
        delta = delta_t.cpu().numpy()
        acc = preference_accuracy(delta, t["counts"].cpu().numpy(), t["y"].cpu().numpy())
        return acc, -(float(loss) if loss is not None else self._chunked_loss(t))

    def _delta_t(self, t: dict) -> torch.Tensor:
        """r_A - r_B of the rows in ``t`` (eval mode, no grad)."""
        raise NotImplementedError

    @torch.no_grad()
    def predict_delta(self, data: PairData) -> np.ndarray:
        """r_A - r_B for every row of ``data`` (users must be known to the head). Shape (n,)."""
        self._check_fitted()
        self.check_embeddings(data.fingerprint, data.X.shape[1])
        self.module_.eval()
        return self._chunked_delta(self._tensors(data, self.device)).cpu().numpy()

    # --- per-response rewards (scoring) ------------------------------------------------------------------
    uses_user_weights: ClassVar[bool] = False
    """PAL heads: a reward depends on the user's weights over the prototypes (new users' weights come from
    their few-shot pairs: ``fit_new_users``, ``evaluate(shots=...)``)."""
    supports_user_attributes: ClassVar[bool] = False
    """``fit(user_attributes=...)`` fits a prior over new users' weights from their attributes (PAL)."""
    supports_auto_k: ClassVar[bool] = False
    """The head has K prototypes that ``embedkit.heads.select_k`` (``--K auto``) can choose."""

    @torch.no_grad()
    def response_rewards(
        self,
        X: np.ndarray,
        prompt: np.ndarray,
        resp: np.ndarray,
        weights: np.ndarray | None = None,
        users: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The reward of each row's response, ``{"reward": (B,)}`` (mean-variance adds ``"sigma"``).

        ``X`` (m, D) embeddings; ``prompt``, ``resp`` (B,) rows of X. PAL heads also take ``weights``
        (U, K) and ``users`` (B,), each row's index into ``weights``.
        """
        self._check_fitted()
        self.module_.eval()
        Xt = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
        out = self._response_rewards(
            Xt,
            torch.as_tensor(np.asarray(prompt, dtype=np.int64), device=self.device),
            torch.as_tensor(np.asarray(resp, dtype=np.int64), device=self.device),
            None
            if weights is None
            else torch.as_tensor(np.asarray(weights, dtype=np.float32), device=self.device),
            None if users is None else torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device),
        )
        return {k: v.float().cpu().numpy() for k, v in out.items()}

    def _response_rewards(self, X, prompt, resp, W, users) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @staticmethod
    def preference_probability(left: dict[str, np.ndarray], right: dict[str, np.ndarray]) -> np.ndarray:
        """P(left preferred) from two rewards: sigmoid(r_left - r_right) (Bradley-Terry link)."""
        return 1.0 / (1.0 + np.exp(-(left["reward"] - right["reward"])))

    # --- persistence ---------------------------------------------------------------------------------
    def _extra_config(self) -> dict:
        return {}

    def _restore_extra(self, cfg: dict) -> None:
        pass

    def save(
        self,
        path: str | os.PathLike,
        overwrite: bool = False,
        card_data: dict | None = None,
        extra: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write ``config.json`` + ``model.safetensors`` + ``README.md`` into ``path`` atomically; ``extra``,
        given the folder before it takes ``path``'s place, writes further files into it (``--K auto``'s
        selection), so they appear with the head or not at all.

        Refuses to replace an existing non-empty directory unless ``overwrite``. ``card_data``: Hub
        metadata merged into the model card's YAML block (e.g. ``{"datasets": ["org/data"], "license":
        "mit"}``); the folder is then ready for ``huggingface_hub.upload_folder``. The format:
        :mod:`embedkit.heads.save_load`.
        """
        from embedkit.heads.save_load import save_head

        return save_head(self, path, overwrite, card_data, extra)

    def model_card(self, card_data: dict | None = None) -> str:
        """The ``README.md`` written on save: Hugging Face Hub metadata (``embedkit.heads.card``), then the
        encoder fingerprint, data, config and metrics."""
        from embedkit.heads.card import model_card

        return model_card(self, card_data)
