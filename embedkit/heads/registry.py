"""The head registry: each head's name, where its class lives and its config dataclass.

Torch-free: the CLI builds ``fit-head``'s options from the configs here without importing a head, and the
API, the package exports and the contract tests all read this one table. Adding a head is one module
(the head class, and its config if the shared ones in ``config.py`` do not fit) plus one entry below, or
an entry another package registers under the ``embedkit.heads`` entry-point group (:mod:`embedkit.plugins`;
the entry point's name is the head's name).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from embedkit.plugins import GROUPS, Registry


@dataclass(frozen=True)
class HeadEntry:
    """Where a head lives: ``cls`` and ``config`` are ``module:attribute`` paths, imported on first use."""

    cls: str
    config: str
    help: str

    def load(self) -> type:
        """The head class (imports its module, and so torch)."""
        return _resolve(self.cls)

    def load_config(self) -> type:
        """The config dataclass (torch-free when it lives in ``embedkit.heads.config``)."""
        return _resolve(self.config)

    @property
    def export(self) -> tuple[str, str]:
        """(module, class name) of the head class."""
        module, _, name = self.cls.partition(":")
        return module, name


_BUILTIN: dict[str, HeadEntry] = {
    "pal-a": HeadEntry(
        "embedkit.heads.pal:PALAHead",
        "embedkit.heads.config:PALAConfig",
        "PAL-A: ideal points a_i = P w_i, r = -||f(x) - f(a_i)||^2 (PAL eq. 8)",
    ),
    "pal-b": HeadEntry(
        "embedkit.heads.pal:PALBHead",
        "embedkit.heads.config:PALBConfig",
        "PAL-B: r = cos(f(x), sum_k w_ik g_k(x_c)) x scale (PAL eq. 9)",
    ),
    "mean-var": HeadEntry(
        "embedkit.heads.mean_var:MeanVarHead",
        "embedkit.heads.config:MeanVarConfig",
        "mean-variance: reward ~ N(mu, sigma^2), KL to the 5-bin label distribution (Diverging Preferences)",
    ),
    "bt": HeadEntry(
        "embedkit.heads.bt:BTHead",
        "embedkit.heads.config:BTConfig",
        "Bradley-Terry, with the Beyond-the-Binary margin (--margin)",
    ),
    "mse": HeadEntry(
        "embedkit.heads.likert:MSEHead",
        "embedkit.heads.config:TrainConfig",
        "per-response MSE regression on Likert-5 scores (Diverging Preferences baseline)",
    ),
    "likert-kl": HeadEntry(
        "embedkit.heads.likert:LikertKLHead",
        "embedkit.heads.config:TrainConfig",
        "per-response 5-way Likert classification with KL (Diverging Preferences baseline)",
    ),
}


HEADS: Registry[HeadEntry] = Registry("head", _BUILTIN, GROUPS["heads"], HeadEntry)
"""Every head, built-in and from plugins (read on first use), by name."""


def head_entry(name: str) -> HeadEntry:
    """The entry of a registered head; an unknown name lists the valid ones and the closest match."""
    return HEADS.entry(name)


def config_class(name: str) -> type:
    """The config dataclass of a head, without importing the head."""
    return head_entry(name).load_config()


def _resolve(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
