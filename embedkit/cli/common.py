"""What every command shares: error handling, logging, the --cache option."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from embedkit.cli.options import field_options
from embedkit.errors import EmbedkitError, OptionError
from embedkit.options import (
    cache_field,
    device_field,
    extract_missing_field,
    opt,
    pairs_field,
    users_field,
    users_id_field,
)

GLOBAL_FLAGS = ("--debug", "--verbose", "-v", "-vv", "-vvv")


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move ``--debug`` / ``-v`` found after the subcommand to the front, where the group parses them, so
    ``embedkit fit-head ... --debug`` works like ``embedkit --debug fit-head ...`` (not after ``--``)."""
    stop = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:stop] if a in GLOBAL_FLAGS]
    rest = [a for a in args[:stop] if a not in GLOBAL_FLAGS]
    return flags + rest + args[stop:]


class EmbedkitGroup(click.Group):
    """A click group that turns library exceptions into one-line messages and exit code 1, and accepts
    the global flags (``--debug``, ``-v``) anywhere on the command line.

    ``lazy``: command name -> ``"module:attribute"``, imported when the command is used or listed, so
    ``embedkit fit-head`` does not import what ``build`` or ``split`` need (data sets, the leakage index)."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx, name):
        if name in self.lazy and name not in self.commands:
            module, attr = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def parse_args(self, ctx, args):
        if ctx.parent is None:
            args = hoist_global_flags(list(args))
        return super().parse_args(ctx, args)

    def _usage_context(self, ctx):
        """The context of the subcommand that ran, for its Usage line (the group's when it cannot be made)."""
        name = ctx.invoked_subcommand
        cmd = self.get_command(ctx, name) if name else None
        if cmd is None:
            return ctx
        try:
            return cmd.make_context(name, [], parent=ctx, resilient_parsing=True)
        except click.ClickException:
            return ctx

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OptionError as e:  # options that do not go together, found by the library
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.UsageError(str(e), ctx=self._usage_context(ctx)) from None
        except (
            EmbedkitError,
            ArithmeticError,
            FileNotFoundError,
            ModuleNotFoundError,
            RuntimeError,
            ValueError,
        ) as e:  # ArithmeticError: e.g. a training loss that became nan (FloatingPointError)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"Error: {e}", err=True, fg="red")
            sys.exit(1)
        except OSError as e:  # the last net: what no library path named more precisely (a file it could not
            # read or write), still one line, with the file the system named
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = f": {os.fsdecode(e.filename)}" if e.filename is not None else ""
            click.secho(f"Error: {e.strerror or e}{where}", err=True, fg="red")
            sys.exit(1)


def users_options(what: str):
    """--users FILE and --users-id-field: a users file of attributes (embedkit.data.users), ``what`` says
    what the command does with it."""
    return field_options(attributes_file=users_field(what), users_id_field=users_id_field())


def read_users(attributes_file, id_field):
    """The --users file's attributes (None without one)."""
    if not attributes_file:
        return None
    from embedkit.data.users import read_user_attributes

    return read_user_attributes(attributes_file, id_field)


def head_argument():
    """HEAD: a saved head's folder, or a Hugging Face Hub id ``org/name[@revision]`` (resolved by
    ``embedkit.heads.load_head``: the local Hugging Face cache, or a download when online)."""
    return click.argument("head_dir", metavar="HEAD")


def pairs_option(help: str):  # noqa: A002 - mirrors click's name
    """--pairs FILE (required, repeatable): the pair files a command reads; ``help`` says what it does with
    them."""
    return field_options(pairs=pairs_field(help))


def cache_option():
    """--cache DIR (required): the embedding cache."""
    return field_options(cache_dir=cache_field())


def head_device_option():
    """--device: where the head runs (default: where it was trained)."""
    return field_options(device=device_field())


def json_option(help: str):  # noqa: A002
    """--json: print the result as JSON (``help``: what is printed)."""
    return field_options(as_json=opt(False, help, cli="--json"))


def extract_missing_option(what: str = "inputs"):
    """--extract-missing: embed what the cache lacks with the head's encoder first."""
    return field_options(extract_missing=extract_missing_field(what))


def setup_logging(verbose: int) -> None:
    """Warnings as ``Warning: ...`` lines on stderr; ``-v`` adds info, ``-vv`` debug with logger names."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    fmt = "%(levelname)s %(name)s: %(message)s" if verbose > 1 else "%(levelname)s: %(message)s"
    logging.addLevelName(logging.WARNING, "Warning")
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)


def progress_lines(on: bool) -> None:
    """Progress messages of long runs (one line per K of --K auto, one per epoch when stderr is not a
    terminal) on stderr, as plain lines, when ``on``."""
    log = logging.getLogger("embedkit.progress")
    log.propagate = False
    log.handlers = [h for h in log.handlers if not getattr(h, "_embedkit", False)]
    if on:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._embedkit = True
        log.addHandler(handler)
    log.setLevel(logging.INFO if on else logging.WARNING)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
