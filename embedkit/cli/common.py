"""What every command shares: error handling, logging, the --cache option."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from embedkit.errors import EmbedkitError

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

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (EmbedkitError, FileNotFoundError, ModuleNotFoundError, RuntimeError, ValueError) as e:
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

    def deco(f):
        f = click.option(
            "--users-id-field",
            "users_id_field",
            default="user",
            show_default=True,
            help="The column of --users that holds the user id (the pairs' user field).",
        )(f)
        return click.option(
            "--users",
            "attributes_file",
            default=None,
            type=click.Path(),
            help="A users file: one row of attributes per user id (JSONL, CSV, Parquet, a Hugging Face dataset "
            "folder, or a JSON object keyed by user id; docs/attributes.md). " + what,
        )(f)

    return deco


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
    them (fit-head, eval, headroom)."""
    return click.option("--pairs", "pairs", required=True, multiple=True, type=click.Path(), help=help)


def cache_option(**kw):
    return click.option(
        "--cache",
        "cache_dir",
        required=True,
        type=click.Path(file_okay=False),
        help="Embedding cache directory (created by `embedkit extract`).",
        **kw,
    )


def head_device_option():
    return click.option(
        "--device", default=None, help="Run the head on this device (default: the one it was trained with)."
    )


def extract_missing_option(what: str = "inputs"):
    return click.option(
        "--extract-missing",
        is_flag=True,
        help=f"Embed {what} the cache lacks with the head's encoder (same fingerprint) and add them to the cache "
        f"first. Without it, missing {what} are named with the command to run.",
    )


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


SPLIT_FIELDS = ("val_frac", "test_frac", "unseen_user_frac", "fewshot_frac")


def split_fraction_options(helps: dict[str, str], for_eval: bool = False):
    """--val-frac, --test-frac, --unseen-user-frac, --fewshot-frac (in [0, 1)), one help text each from
    ``helps``; defaults from :class:`SplitConfig`, or None for eval (the head's stored values)."""
    from embedkit.data.splits import SplitConfig

    defaults = SplitConfig()

    def deco(f):
        for name in reversed(SPLIT_FIELDS):
            f = click.option(
                "--" + name.replace("_", "-"),
                name,
                type=click.FloatRange(0, 1, max_open=True),
                default=None if for_eval else getattr(defaults, name),
                show_default=not for_eval,
                help=helps[name],
            )(f)
        return f

    return deco
