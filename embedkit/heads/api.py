"""Creating heads by registry name (see ``embedkit.heads.registry``) and evaluating them per tag. Saving and
loading: ``embedkit.heads.save_load``."""

from __future__ import annotations

from embedkit.heads.base import RewardHead
from embedkit.heads.registry import HEADS, head_entry

__all__ = ["HEADS", "create_head", "evaluate_by_tags", "head_class"]


def head_class(name: str) -> type[RewardHead]:
    """The class of a registered head (an unknown name lists the valid ones)."""
    return head_entry(name).load()


def create_head(name: str, **config) -> RewardHead:
    """A new, unfitted head by registry name with config overrides (e.g. ``K=5``)."""
    return head_class(name)(**config)


TEST_SPLITS = ("test", "unseen_test")


def evaluate_by_tags(head: RewardHead, data, **kwargs) -> dict:
    """Test metrics per value of each tag column of the data (``group``, ``filtered``; see
    ``embedkit.data.pairs.TAG_FIELDS``): for each value, ``head.evaluate`` on the data with only the test
    rows (seen ``test``, unseen ``unseen_test``) of that value kept; every other split stays whole, so new
    users' weights still come from all their few-shot pairs. Returns {tag: {value: test metrics}}."""
    import numpy as np

    out: dict = {}
    is_test = np.isin(data.split.astype(str), TEST_SPLITS)
    for tag, values in data.tags.items():
        out[tag] = {}
        for value in sorted({str(v) for v in values[is_test]} - {""}):
            m = head.evaluate(data.subset(~is_test | (values == value)), **kwargs)
            out[tag][value] = _test_part(m)
    return out


def _test_part(metrics: dict) -> dict:
    """The test-split parts of a head's metrics: seen.test and unseen (PAL), else test / unseen_users."""
    keep = {}
    if "seen" in metrics:
        test = dict(metrics["seen"].get("test", {}))
        test.pop("per_user", None)
        keep["seen_test"] = test
        if "unseen" in metrics:
            keep["unseen"] = metrics["unseen"]
    else:
        for k in ("test", "unseen_users"):
            if k in metrics:
                keep[k] = metrics[k]
    return keep
