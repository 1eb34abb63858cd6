"""Typed head configs: the single source of the CLI options and of the saved ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from embedkit.options import check_fields, opt


@dataclass
class TrainConfig:
    """Shared by every head. Defaults follow PAL appendix C.2 where it gives them."""

    hidden_dim: int = opt(512, "Hidden width of the two-layer MLPs.")
    latent_dim: int = opt(
        0, "Output width d of f (and g); 0 = the embedding dim, which enables the residual."
    )
    dropout: float = opt(0.5, "Dropout in the MLPs (PAL C.2: 0.5).")
    lr: float = opt(1e-3, "Adam learning rate of the MLPs (PAL C.2 uses 1e-4 with longer training).")
    weight_decay: float = opt(1e-2, "Weight decay of the MLPs (PAL C.2: 1e-2).")
    batch_size: int = opt(256, "Pairs per mini-batch (gathered on the device from index arrays).")
    epochs: int = opt(
        0, "Maximum epochs; 0 = auto: 60, or more on small data (enough for ~1500 optimiser steps)."
    )
    epoch_pairs: int = opt(
        0,
        "Training pairs per epoch, drawn afresh each epoch; 0 = all of them. At paper scale (millions of "
        "pairs) e.g. 1000000 validates (and may stop early) every million pairs instead of once a pass.",
    )
    patience: int = opt(
        0,
        "Stop after this many epochs in a row without a better validation metric; 0 = auto: 6, or more on "
        "small data (so that ~150 optimiser steps pass without improvement before stopping).",
    )
    lr_decay: float = opt(
        0.0,
        "After every patience/2 epochs in a row without a better validation metric, multiply the learning "
        "rates by this; 0 = 1 = constant rates. With --patience 2 --lr-decay 0.3 a PAL-B fit on ~20k+ pairs "
        "stops in about half the epochs at the same test accuracy (not the default: on one real-annotator "
        "set it cost seen-user accuracy; benchmarks/results/real_annotators-lrdecay.md).",
    )
    precision: str = opt(
        "fp32",
        "Arithmetic of the training steps: fp32, or bf16 (autocast: the networks' matrix products in "
        "bfloat16, weights, loss and optimiser in fp32; faster on GPUs and on CPUs with AVX-512 BF16 or "
        "AMX). Validation, evaluation and the saved weights are fp32 either way.",
        choices=("fp32", "bf16"),
    )
    loop: str = opt(
        "auto",
        "Training loop: host = one optimiser step per --batch-size pairs, its loss read back each step; "
        "device = index arrays, labels and vectors stay on the device, a step takes --device-batch pairs and "
        "the host reads the loss once an epoch (no per-step sync); auto = device on CUDA, host elsewhere.",
        choices=("auto", "host", "device"),
    )
    device_batch: int = opt(
        0,
        "Pairs per optimiser step of the device loop (several mini-batches fused into one step, the learning "
        "rates times the square root of the factor); 0 = --batch-size (on the PAL benchmark, 4 x with rates "
        "x 2 lost 0.007 test accuracy on CPU).",
    )
    seed: int = opt(0, "Seed for initialisation and batch order.")
    device: str = opt("auto", "cpu, cuda, cuda:N, or auto.")

    def validate(self) -> None:
        check_fields(self)  # the choices and ranges the fields declare
        if self.epoch_pairs < 0:
            raise ValueError(f"--epoch-pairs must be >= 0, got {self.epoch_pairs}")
        for name in ("hidden_dim", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.loop not in ("auto", "host", "device"):
            raise ValueError(f"--loop must be auto, host or device, got {self.loop!r}")
        for name in ("epochs", "patience", "latent_dim", "device_batch"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"--precision must be fp32 or bf16, got {self.precision!r}")
        if not 0 <= self.lr_decay <= 1:
            raise ValueError(f"--lr-decay must be in (0, 1] (or 0 = auto), got {self.lr_decay}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    RETIRED = ("fewshot_lr",)
    """Fields of older heads' configs that no longer do anything (few-shot fitting is L-BFGS-B with its own line
    search: ``--fewshot-lr`` is gone); read and dropped, so those heads still load."""

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k not in cls.RETIRED}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**d)


@dataclass
class PALConfig(TrainConfig):
    K: int = opt(
        2, "Number of preference prototypes K (K=1 is the homogeneous model); fit-head also takes auto."
    )
    arch: str = opt(
        "mlp",
        "f (and g): mlp = PAL's 2-layer MLPs (appendix C.2); linear = one projection without bias, as in PAL's "
        "synthetic experiments (appendix C.1).",
        choices=("mlp", "linear"),
    )
    user_lr: float = opt(
        5e-2,
        "Learning rate of the prototypes and user weights (PAL C.1: 5e-3; 5e-2 lets the "
        "weights leave the uniform start within a few epochs on small data).",
    )
    fewshot_steps: int = opt(100, "L-BFGS iterations when fitting new users' weights (all users at once).")
    fewshot_method: str = opt(
        "map",
        "How new users' weights are fitted from their pairs: map (maximum a posteriori under a prior "
        "fitted to the seen users' weights: starts at zero-shot, never strays far on a few pairs), mle "
        "(unregularised maximum likelihood), knn (mean weights of the seen users who best explain the pairs).",
        choices=("map", "mle", "knn"),
    )
    fewshot_prior: float = opt(
        -1.0,
        "Strength of the MAP prior; -1 = calibrated after training on the --prior-users held out of it "
        "(falling back to the zero-shot point where no strength beats it).",
    )
    prior_users: float = opt(
        0.15,
        "Share of the seen users (at most 500) kept out of training to calibrate the few-shot prior as new "
        "users: its spread from weights fitted the way a new user's are, its strength on their held-out "
        "pairs. Their weights are then fitted like a new user's. 0 = calibrate on the trained users "
        "(in-sample, as before embedkit 0.3).",
    )
    fewshot_k: int = opt(10, "knn: how many seen users to average.")

    def validate(self) -> None:
        super().validate()
        if self.K < 1:
            raise ValueError(f"K must be >= 1, got {self.K}")
        if self.fewshot_prior < 0 and self.fewshot_prior != -1:
            raise ValueError(f"--fewshot-prior must be >= 0, or -1 (auto), got {self.fewshot_prior}")
        if self.fewshot_k < 1:
            raise ValueError(f"--fewshot-k must be >= 1, got {self.fewshot_k}")
        if not 0 <= self.prior_users < 1:
            raise ValueError(f"--prior-users must be in [0, 1), got {self.prior_users}")


@dataclass
class PALAConfig(PALConfig):
    loss: str = opt("logistic", "Loss on the distance difference.", choices=("logistic", "hinge"))


@dataclass
class PALBConfig(PALConfig):
    temperature: float = opt(
        0.1, "Initial temperature of the cosine reward (learnable).", min=0, min_open=True
    )


@dataclass
class MeanVarConfig(TrainConfig):
    loss: str = opt(
        "kl",
        "kl: KL to the 5-bin annotator label distribution (Diverging Preferences); "
        "nll: independent-NLL baseline (Siththaranjan et al.).",
        choices=("kl", "nll"),
    )
    eta: float = opt(0.5, "rho = eta * fraction of tie labels (KL loss only; paper tunes eta in {0, .5, 1}).")
    smoothing: float = opt(
        0.05, "Added to each predicted bin probability before renormalising (paper: 0.05)."
    )


@dataclass
class BTConfig(TrainConfig):
    labels: str = opt(
        "all",
        "all: every annotation is a training instance; aggregate: one majority label per "
        "distinct pair; soft: the fraction preferring A as a soft target.",
        choices=("all", "aggregate", "soft"),
    )
    margin: bool = opt(
        False,
        "Subtract the Beyond-the-Binary margin m in the loss (from a margin column, or "
        "m = |sum j - n/2| / (n/2) from per-annotator labels).",
    )
