"""Typed config fields: one ``opt(...)`` per setting, carrying the help text and the checks that the CLI
turns into its options (``embedkit.cli.options.config_options``), so a config dataclass is the single
source of a command's options, its ``--help``, its defaults and the saved settings.

Torch-free and dependency-free: every layer's configs use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

REQUIRED = dataclasses.MISSING
"""``opt(REQUIRED, ...)``: a field without a default (a required option)."""


def opt(
    default: Any,
    help: str,  # noqa: A002 - mirrors click's name
    choices: tuple | None = None,
    *,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    min_open: bool = False,
    cli: str | None = None,
    parse: Callable[[str], Any] | None = None,
    show: Callable[[Any], str] | None = None,
    metavar: str | None = None,
    kind: type | None = None,
    flag_value: Any = None,
    path: str | None = None,
):
    """A dataclass field with what its command-line option needs.

    ``choices``: the allowed values; ``min`` / ``max``: an allowed range (``min_open``: min excluded);
    ``cli``: the option's name when it is not ``--field-name`` (e.g. ``--K-star``); ``parse``: turns the
    option's string into the field's value (tuples such as ``LO,HI``), with ``show`` the reverse for the
    default shown in ``--help``; ``kind``: the value's type where the default (None) does not say it;
    ``flag_value``: the option may be given without a value, meaning this one (``--ray`` alone = ``local``);
    ``path``: the value names a ``"file"`` or a ``"dir"`` (the CLI refuses the other kind).
    """
    meta = {
        "help": help,
        "choices": choices,
        "min": min,
        "max": max,
        "min_open": min_open,
        "cli": cli,
        "parse": parse,
        "show": show,
        "metavar": metavar,
        "kind": kind,
        "flag_value": flag_value,
        "path": path,
    }
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def csv_tuple(value: str) -> tuple[str, ...]:
    """``a,b,c`` -> ``("a", "b", "c")`` (blank entries dropped)."""
    return tuple(v.strip() for v in str(value).split(",") if v.strip())


def float_range(value: str) -> tuple[float, float]:
    """``LO,HI`` (or one number for both) -> ``(lo, hi)``."""
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise ValueError(f"expected LO,HI or one number, got {value!r}")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"expected LO,HI or one number, got {value!r}") from None


def joined(value) -> str:
    """The inverse of :func:`csv_tuple` / :func:`float_range`, for defaults shown in ``--help``."""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
