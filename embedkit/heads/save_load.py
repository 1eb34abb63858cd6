"""A head on disk, the way sentence-transformers saves a module: a folder with ``config.json`` (format,
schema version, head name, config, fingerprint, metrics, data set-up), ``model.safetensors`` and a
``README.md`` model card. Loading checks every field it reads and never runs pickle."""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable
from pathlib import Path

from embedkit._version import __version__
from embedkit.atomic import replacing_dir
from embedkit.errors import EmbedkitError, UnknownNameError
from embedkit.fingerprint import Fingerprint
from embedkit.heads.base import RewardHead
from embedkit.heads.metrics import from_json, json_ready
from embedkit.heads.pair_data import DataSetup
from embedkit.heads.registry import head_entry
from embedkit.heads.schema import HeadConfigError, check_fields, check_head_config

HEAD_FORMAT = "embedkit-head"
HEAD_SCHEMA_VERSION = 1


def save_head(
    head: RewardHead,
    path: str | os.PathLike,
    overwrite: bool = False,
    card_data: dict | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """``head.save``: the folder, written atomically (see :meth:`RewardHead.save`)."""
    from safetensors.torch import save

    head._check_fitted()
    path = Path(path)
    with replacing_dir(path, overwrite) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in head.module_.state_dict().items()}
        # bytes first, then a plain write: a full disk is then an OSError that names the file (safetensors'
        # own file writer raises its SafetensorError instead)
        (tmp / "model.safetensors").write_bytes(save(state))
        cfg = {
            "format": HEAD_FORMAT,
            "schema_version": HEAD_SCHEMA_VERSION,
            "head": head.name,
            "config": head.config.to_dict(),
            "input_dim": head.input_dim_,
            "fingerprint": head.fingerprint_.to_dict(),
            "metrics": head.metrics_,
            "history": {k: v for k, v in head.history_.items()},
            "data": head.data_info_,
            "data_setup": head.data_setup_.to_dict() if head.data_setup_ else None,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "embedkit_version": __version__,
            **head._extra_config(),
        }
        (tmp / "config.json").write_text(json.dumps(json_ready(cfg), indent=1, allow_nan=False) + "\n")
        (tmp / "README.md").write_text(head.model_card(card_data))
        if extra is not None:
            extra(tmp)
    return path


def head_from_config(cls: type[RewardHead], cfg: dict) -> RewardHead:
    """An unfitted-module head of class ``cls`` with the settings and learned metadata of a saved
    ``config.json`` (``load_head`` then builds its module and loads the weights)."""
    head = cls(cls.Config.from_dict(cfg["config"]))
    head.fingerprint_ = Fingerprint.from_dict(cfg["fingerprint"])
    head.input_dim_ = int(cfg["input_dim"])
    head.metrics_ = from_json(cfg.get("metrics", {}))
    head.history_ = cfg.get("history", {})
    head.data_info_ = cfg.get("data", {})
    setup = cfg.get("data_setup")
    head.data_setup_ = DataSetup.from_dict(setup) if setup else None
    head._restore_extra(cfg)
    return head


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
        cls = head_entry(cfg["head"]).load()
    except UnknownNameError as e:
        raise HeadConfigError(cfg_path, "head", str(e)) from None
    check_fields(cfg["config"], cls.Config, cfg_path)
    check_fields(cfg["fingerprint"], Fingerprint, cfg_path, prefix="fingerprint")
    try:
        head = head_from_config(cls, cfg)
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
