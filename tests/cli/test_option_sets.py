"""Every command's options stay as they were: names, defaults, choices, flags and arguments.

``option_sets.json`` records them, read from click's command objects; a refactor that generates a
command differently (from a registry, a config dataclass) must leave this record unchanged. After an
intended change of options, rewrite the record with ``EMBEDKIT_WRITE_OPTION_SETS=1 pytest
tests/cli/test_option_sets.py`` and commit it with the change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest

from embedkit.cli.main import cli

FIXTURE = Path(__file__).parent / "fixtures" / "option_sets.json"


def _plain(value):
    """A JSON-able form of a default (tuples as lists, other objects as their repr)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return repr(value)


def _default(p: click.Parameter):
    """The default as a user sees it: a flag with no default set is off (click >= 8.2 keeps an UNSET
    sentinel there, earlier versions None or False)."""
    default = p.default
    unset = default is None or type(default).__name__ == "Sentinel"
    if isinstance(p, click.Option) and p.is_flag and unset:
        return False
    return None if type(default).__name__ == "Sentinel" else _plain(default)


def _param(p: click.Parameter) -> dict:
    record = {
        "kind": "option" if isinstance(p, click.Option) else "argument",
        "opts": sorted(p.opts),
        "secondary": sorted(p.secondary_opts),
        "dest": p.name,
        "required": p.required,
        "nargs": p.nargs,
        "default": _default(p),
        "choices": list(p.type.choices) if isinstance(p.type, click.Choice) else None,
        "type": p.type.name,
    }
    if isinstance(p, click.Option):
        record["flag"] = p.is_flag
        record["multiple"] = p.multiple
        record["count"] = p.count
    return record


def option_sets() -> dict[str, list[dict]]:
    """``"embedkit convert ratings"`` -> its parameters, for every command and group under ``embedkit``."""
    out: dict[str, list[dict]] = {}

    def walk(cmd: click.Command, path: str, ctx: click.Context) -> None:
        # get_params, not .params: fit-head and headroom add their config options on first use, so .params
        # would depend on whether an earlier test ran them (the --help option itself is left out)
        help_option = cmd.get_help_option(ctx)
        params = [p for p in cmd.get_params(ctx) if p is not help_option]
        out[path] = sorted((_param(p) for p in params), key=lambda r: (r["kind"], r["dest"] or ""))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                walk(sub, f"{path} {name}", click.Context(sub, parent=ctx, info_name=name))

    walk(cli, "embedkit", click.Context(cli, info_name="embedkit"))
    return out


def test_option_sets_unchanged():
    now = option_sets()
    if os.environ.get("EMBEDKIT_WRITE_OPTION_SETS"):
        FIXTURE.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(FIXTURE.read_text())
    assert sorted(now) == sorted(recorded), "commands added or removed"
    for command in recorded:
        assert now[command] == recorded[command], f"the options of `{command}` changed"


@pytest.mark.parametrize("command", ["embedkit convert", "embedkit build"])
def test_the_record_covers_the_groups(command):
    """The record reaches the subcommands (a walk that stopped at the groups would compare nothing)."""
    recorded = json.loads(FIXTURE.read_text())
    subs = [c for c in recorded if c.startswith(command + " ")]
    assert len(subs) >= 4 and all(recorded[c] for c in subs)
