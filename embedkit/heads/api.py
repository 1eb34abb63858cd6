"""Creating heads by registry name, and loading saved heads (see ``embedkit.heads.registry``)."""

from __future__ import annotations

import json
import os

from embedkit.errors import EmbedkitError, UnknownNameError
from embedkit.fingerprint import Fingerprint
from embedkit.heads.base import HEAD_FORMAT, HEAD_SCHEMA_VERSION, RewardHead
from embedkit.heads.registry import HEADS, head_entry
from embedkit.heads.schema import HeadConfigError, check_fields, check_head_config

__all__ = ["HEADS", "create_head", "evaluate_by_tags", "head_class", "load_head"]


def head_class(name: str) -> type[RewardHead]:
    """The class of a registered head (an unknown name lists the valid ones)."""
    return head_entry(name).load()


def create_head(name: str, **config) -> RewardHead:
    """A new, unfitted head by registry name with config overrides (e.g. ``K=5``)."""
    return head_class(name)(**config)


def load_head(path: str | os.PathLike, device: str | None = None) -> RewardHead:
    """Restore a head saved by ``RewardHead.save``: config.json + model.safetensors (no pickle).

    ``path``: the head's folder, or, when no folder of that name exists, a Hugging Face Hub id
    ``org/name`` or ``org/name@revision`` (from the local Hugging Face cache, or downloaded when online;
    see ``embedkit.heads.hub``). ``device`` overrides the device the head was trained with (e.g. ``cpu``
    for a head fitted on a GPU).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from embedkit.heads.hub import resolve_head

    path = resolve_head(path)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise EmbedkitError(f"{path} is not a saved head (no config.json)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise EmbedkitError(f"{cfg_path}: unreadable ({e})") from e
    check_head_config(cfg, cfg_path, fmt=HEAD_FORMAT, schema_version=HEAD_SCHEMA_VERSION)
    try:
        cls = head_class(cfg["head"])
    except UnknownNameError as e:
        raise HeadConfigError(cfg_path, "head", str(e)) from None
    check_fields(cfg["config"], cls.Config, cfg_path)
    check_fields(cfg["fingerprint"], Fingerprint, cfg_path, prefix="fingerprint")
    try:
        head = cls._from_config(cfg)
    except HeadConfigError as e:  # a head's own fields (users, prior), raised without the file's name
        raise HeadConfigError(cfg_path, e.field, e.problem) from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise EmbedkitError(f"{cfg_path}: a damaged or foreign head ({type(e).__name__}: {e})") from e
    if device is not None:
        head.config.device = device
    try:
        target = head.device
        module = head._build(head.input_dim_, None)
    except (TypeError, ValueError) as e:
        where = "the device asked for" if device is not None else str(cfg_path)
        raise EmbedkitError(f"{where}: {e}") from e
    try:
        state = load_file(path / "model.safetensors")
        module.load_state_dict(state, strict=True)
    except (OSError, SafetensorError, RuntimeError) as e:
        raise EmbedkitError(f"{path / 'model.safetensors'}: cannot load ({e})") from e
    head.module_ = module.to(target)
    head.module_.eval()
    return head


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
