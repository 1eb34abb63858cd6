"""Reward heads trained on cached embeddings: PAL-A, PAL-B, mean-variance, Bradley-Terry (+ margin), and
the MSE / Likert-KL baselines; ``registry`` lists them. Few-shot weights of new users, choosing K.

from embedkit.heads import create_head, load_head, load_pair_data
data = load_pair_data(["pairs.jsonl"], "cache/", encoder="minilm")
head = create_head("pal-b", K=2).fit(data)
head.save("heads/pal-b")
same = load_head("heads/pal-b")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from embedkit.heads.registry import HEADS

if TYPE_CHECKING:  # the real imports are lazy: `embedkit.heads.config` must not pull in torch
    from embedkit.heads.api import create_head, head_class  # noqa: F401
    from embedkit.heads.base import FingerprintMismatchError, NotFittedError, RewardHead  # noqa: F401
    from embedkit.heads.bt import BTHead  # noqa: F401
    from embedkit.heads.likert import LikertKLHead, MSEHead  # noqa: F401
    from embedkit.heads.mean_var import MeanVarHead  # noqa: F401
    from embedkit.heads.pair_data import PairData, load_pair_data  # noqa: F401
    from embedkit.heads.pal import PALAHead, PALBHead  # noqa: F401
    from embedkit.heads.save_load import load_head  # noqa: F401

_WHERE = {  # name -> the module it is imported from on first use
    **{
        name: f"embedkit.heads.{m}"
        for name, m in (
            ("create_head", "api"),
            ("head_class", "api"),
            ("load_head", "save_load"),
            ("FingerprintMismatchError", "base"),
            ("NotFittedError", "base"),
            ("RewardHead", "base"),
            ("PairData", "pair_data"),
            ("load_pair_data", "pair_data"),
        )
    },  # fmt: skip
    # every built-in head class, from where the registry says it lives (a plugin's head is its own package's)
    **{cls: module for module, cls in (e.export for e in HEADS.builtin.values())},
}
__all__ = sorted([*_WHERE, "HEADS"])


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'embedkit.heads' has no attribute {name!r}")
