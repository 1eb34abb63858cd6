"""Reward heads trained on cached embeddings: PAL-A, PAL-B, mean-variance, Bradley-Terry.

from embedkit.heads import create_head, load_head, load_pair_data
data = load_pair_data(["pairs.jsonl"], "cache/", encoder="minilm")
head = create_head("pal-b", K=2).fit(data)
head.save("heads/pal-b")
same = load_head("heads/pal-b")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the real imports are lazy: `embedkit.heads.config` must not pull in torch
    from embedkit.heads.api import HEADS, create_head, head_class, load_head  # noqa: F401
    from embedkit.heads.base import FingerprintMismatchError, NotFittedError, RewardHead  # noqa: F401
    from embedkit.heads.bt import BTHead  # noqa: F401
    from embedkit.heads.data import PairData, load_pair_data  # noqa: F401
    from embedkit.heads.likert import LikertKLHead, MSEHead  # noqa: F401
    from embedkit.heads.mean_var import MeanVarHead  # noqa: F401
    from embedkit.heads.pal import PALAHead, PALBHead  # noqa: F401

_WHERE = {
    "HEADS": "api",
    "create_head": "api",
    "head_class": "api",
    "load_head": "api",
    "FingerprintMismatchError": "base",
    "NotFittedError": "base",
    "RewardHead": "base",
    "BTHead": "bt",
    "PairData": "data",
    "load_pair_data": "data",
    "MeanVarHead": "mean_var",
    "PALAHead": "pal",
    "PALBHead": "pal",
    "MSEHead": "likert",
    "LikertKLHead": "likert",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"embedkit.heads.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'embedkit.heads' has no attribute {name!r}")
