"""Typed config fields: one ``opt(...)`` per setting, carrying the help text and the checks that the CLI
turns into its options (``embedkit.cli.options.config_options``), so a config dataclass is the single
source of a command's options, its ``--help``, its defaults and the saved settings.

Torch-free and dependency-free: every layer's configs use it.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Callable
from typing import Any

REQUIRED = dataclasses.MISSING
"""``opt(REQUIRED, ...)``: a field without a default (a required option)."""

RESPONSES = ("in-context", "alone", "images")
"""How pairs' responses are embedded (``embedkit.data.pairs.RESPONSE_MODES``)."""


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
    exists: bool = False,
    max_open: bool = False,
    multiple: bool = False,
):
    """A dataclass field with what its command-line option needs.

    ``choices``: the allowed values; ``min`` / ``max``: an allowed range (``min_open``: min excluded);
    ``cli``: the option's name when it is not ``--field-name`` (e.g. ``--K-star``); ``parse``: turns the
    option's string into the field's value (tuples such as ``LO,HI``), with ``show`` the reverse for the
    default shown in ``--help``; ``kind``: the value's type where the default (None) does not say it;
    ``flag_value``: the option may be given without a value, meaning this one (``--ray`` alone = ``local``);
    ``path``: the value names a ``"file"``, a ``"dir"`` or ``"any"`` of the two (the CLI refuses the other
    kind; ``exists``: and one that is not there); ``max_open``: max excluded; ``multiple``: the option may be
    repeated, the field holds a tuple of the values (default ``()``).
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
        "exists": exists,
        "max_open": max_open,
        "multiple": multiple,
    }
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def cli_name(f: dataclasses.Field) -> str:
    """The option a field declared with :func:`opt` is on the command line: its ``cli``, else ``--field-name``."""
    return f.metadata.get("cli") or "--" + f.name.replace("_", "-")


def file_tuple(files) -> tuple[str, ...]:
    """A ``multiple`` file field's value: one path (str or PathLike) or several -> a tuple of str."""
    if isinstance(files, str | os.PathLike):
        return (os.fspath(files),)
    return tuple(os.fspath(f) for f in files)


def check_fields(config) -> None:
    """Check ``config``'s field values against what their ``opt`` declares (choices, min / max), as the
    CLI's option types do for a command line: for configs built in Python. A ValueError naming the option."""
    for f in dataclasses.fields(config):
        meta, value = f.metadata, getattr(config, f.name)
        if "help" not in meta or value is None or meta.get("multiple"):
            continue
        name = cli_name(f)
        if meta.get("choices") and not meta.get("parse") and value not in meta["choices"]:
            raise ValueError(f"{name} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
        number = isinstance(f.default, int | float) and not isinstance(f.default, bool)
        if number and (not isinstance(value, numbers.Real) or isinstance(value, bool)):  # numpy's too
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            continue
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and (value < lo or (meta.get("min_open") and value == lo)):
            raise ValueError(f"{name} must be {'>' if meta.get('min_open') else '>='} {lo}, got {value}")
        if hi is not None and (value > hi or (meta.get("max_open") and value == hi)):
            raise ValueError(f"{name} must be {'<' if meta.get('max_open') else '<='} {hi}, got {value}")


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


# -- fields several commands' configs share, declared once (each command says what it does with them) --


def cache_field(help: str = "Embedding cache directory (created by `embedkit extract`).") -> Any:  # noqa: A002
    """``--cache DIR`` (required): the embedding cache a command reads or writes."""
    return opt(REQUIRED, help, cli="--cache", path="dir")


def pairs_field(help: str, *, required: bool = True) -> Any:  # noqa: A002
    """``--pairs FILE`` (repeatable): pair files (docs/pairs-format.md); ``help`` says what the command
    does with them."""
    return opt(REQUIRED if required else (), help, path="any", multiple=True)


def users_field(what: str) -> Any:
    """``--users FILE``: a users file of attributes (``embedkit.data.users``); ``what``: what the command
    does with it."""
    return opt(
        None,
        "A users file: one row of attributes per user id (JSONL, CSV, Parquet, a Hugging Face dataset folder, "
        "or a JSON object keyed by user id; docs/attributes.md). " + what,
        cli="--users",
        path="any",
    )


def users_id_field() -> Any:
    """``--users-id-field``: the column of ``--users`` that holds the user id."""
    return opt("user", "The column of --users that holds the user id (the pairs' user field).")


def responses_field(
    help: str = "How the pairs' responses were extracted (must match `embedkit extract --responses`).",
) -> Any:  # noqa: A002, E501
    """``--responses``: how pairs' responses were embedded (in-context, alone, images)."""
    return opt("in-context", help, RESPONSES)


def device_field(help: str = "Run the head on this device (default: the one it was trained with).") -> Any:  # noqa: A002, E501
    """``--device``: where a trained head runs."""
    return opt(None, help, kind=str)


def extract_missing_field(what: str = "inputs") -> Any:
    """``--extract-missing``: embed what the cache lacks with the head's encoder before scoring."""
    return opt(
        False,
        f"Embed {what} the cache lacks with the head's encoder (same fingerprint) and add them to the cache "
        f"first. Without it, missing {what} are named with the command to run.",
    )
