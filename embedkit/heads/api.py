"""The head registry, creation by name, and loading of saved heads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from embedkit.errors import EmbedkitError, UnknownNameError
from embedkit.heads.base import HEAD_FORMAT, RewardHead
from embedkit.heads.bt import BTHead
from embedkit.heads.likert import LikertKLHead, MSEHead
from embedkit.heads.mean_var import MeanVarHead
from embedkit.heads.pal import PALAHead, PALBHead

HEADS: dict[str, type[RewardHead]] = {
    h.name: h for h in (PALAHead, PALBHead, MeanVarHead, BTHead, MSEHead, LikertKLHead)
}


def head_class(name: str) -> type[RewardHead]:
    if name not in HEADS:
        raise UnknownNameError("head", name, HEADS)
    return HEADS[name]


def create_head(name: str, **config) -> RewardHead:
    """A new, unfitted head by registry name with config overrides (e.g. ``K=5``)."""
    return head_class(name)(**config)


def load_head(path: str | os.PathLike, device: str | None = None) -> RewardHead:
    """Restore a head saved by ``RewardHead.save``: config.json + model.safetensors (no pickle).

    ``device`` overrides the device the head was trained with (e.g. ``cpu`` for a head fitted on a GPU).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise EmbedkitError(f"{path} is not a saved head (no config.json)")
    try:
        cfg = json.loads(cfg_path.read_text())
    except ValueError as e:
        raise EmbedkitError(f"{cfg_path}: unreadable ({e})") from e
    if cfg.get("format") != HEAD_FORMAT:
        raise EmbedkitError(f"{cfg_path}: format is {cfg.get('format')!r}, expected {HEAD_FORMAT!r}")
    head = head_class(cfg["head"])._from_config(cfg)
    if device is not None:
        head.config.device = device
    module = head._build(head.input_dim_, None)
    try:
        state = load_file(path / "model.safetensors")
        module.load_state_dict(state, strict=True)
    except (OSError, SafetensorError, RuntimeError) as e:
        raise EmbedkitError(f"{path / 'model.safetensors'}: cannot load ({e})") from e
    head.module_ = module.to(head.device)
    head.module_.eval()
    return head
