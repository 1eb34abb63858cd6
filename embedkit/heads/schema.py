"""What a saved head's ``config.json`` must hold: checked field by field before anything is built from it,
so a damaged or foreign file is refused with the field that is wrong instead of a ``KeyError`` or a head
that scores differently from the one that was saved."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from embedkit.errors import EmbedkitError


class HeadConfigError(EmbedkitError):
    """A saved head's ``config.json`` that is not what ``RewardHead.save`` writes: names the file and field."""

    def __init__(self, path: str | Path, field: str, problem: str):
        self.path, self.field, self.problem = str(path), field, problem
        super().__init__(f"{path}: field {field!r}: {problem} (a damaged or foreign head: save it again)")


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def check_head_config(cfg, path: str | Path, *, fmt: str, schema_version: int) -> None:
    """Raise :class:`HeadConfigError` unless ``cfg`` has the top-level fields of a saved head, each of the
    right type: ``format``, ``schema_version`` (1..``schema_version``), ``head``, ``config`` (an object),
    ``input_dim`` (a positive integer), ``fingerprint`` (an object), and ``metrics``, ``history``, ``data``,
    ``data_setup`` objects where present. The head's own fields (its config dataclass, a PAL head's users
    and prior) are checked by :func:`check_fields` and the head's ``_restore_extra``."""
    if not isinstance(cfg, dict):
        raise HeadConfigError(path, "(top level)", f"expected a JSON object, found {_kind(cfg)}")
    if cfg.get("format") != fmt:
        raise HeadConfigError(path, "format", f"is {cfg.get('format')!r}, expected {fmt!r}")
    version = cfg.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= schema_version:
        raise HeadConfigError(
            path,
            "schema_version",
            f"is {version!r}; this embedkit reads heads of schema version 1 to {schema_version} "
            "(a newer embedkit may have written it: upgrade embedkit)",
        )
    for name, kinds, required in (
        ("head", (str,), True),
        ("config", (dict,), True),
        ("input_dim", (int,), True),
        ("fingerprint", (dict,), True),
        ("metrics", (dict,), False),
        ("history", (dict,), False),
        ("data", (dict,), False),
        ("data_setup", (dict, type(None)), False),
    ):
        if name not in cfg:
            if required:
                raise HeadConfigError(path, name, "missing")
            continue
        value = cfg[name]
        if not isinstance(value, kinds) or isinstance(value, bool):
            want = " or ".join(
                "null" if k is type(None) else {"dict": "object"}.get(k.__name__, k.__name__) for k in kinds
            )
            raise HeadConfigError(path, name, f"expected {want}, found {_kind(value)} {value!r:.40}")
    if cfg["input_dim"] < 1:
        raise HeadConfigError(path, "input_dim", f"expected a positive integer, found {cfg['input_dim']}")


_CHECKS = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "str": lambda v: isinstance(v, str),
}


def check_fields(values: dict, cls, path: str | Path, prefix: str = "config") -> None:
    """Each value saved for a dataclass (a head's config, the encoder fingerprint) has its field's declared
    type (an int for an int field, a finite number for a float, a string, a boolean); fields of other types
    are left to the dataclass, unknown and missing ones too."""
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        check = _CHECKS.get(kind)
        value = values[f.name]
        if check is not None and not check(value):
            raise HeadConfigError(
                path, f"{prefix}.{f.name}", f"expected {kind}, found {_kind(value)} {value!r:.40}"
            )


def array_field(value, shape: tuple[int, ...], path: str | Path, field: str) -> np.ndarray:
    """``value`` as a finite float array of exactly ``shape``, or a :class:`HeadConfigError`."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise HeadConfigError(
            path, field, f"expected numbers of shape {shape}, found {value!r:.60}"
        ) from None
    if arr.shape != shape:
        raise HeadConfigError(path, field, f"expected shape {shape} (this head's K), found {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise HeadConfigError(path, field, "expected finite numbers")
    return arr


def string_list(value, path: str | Path, field: str) -> list[str]:
    """``value`` as a list of user ids (strings), or a :class:`HeadConfigError`."""
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise HeadConfigError(
            path, field, f"expected a list of user ids (strings), found {_kind(value)} {value!r:.40}"
        )
    return list(value)
