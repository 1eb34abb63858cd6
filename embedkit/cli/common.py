"""What every command shares: error handling, logging, the --cache option."""

from __future__ import annotations

import logging
import sys

import click

from embedkit.errors import EmbedkitError


class EmbedkitGroup(click.Group):
    """A click group that turns library exceptions into one-line messages and exit code 1."""

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


def cache_option(**kw):
    return click.option(
        "--cache",
        "cache_dir",
        required=True,
        type=click.Path(file_okay=False),
        help="Embedding cache directory (created by `embedkit extract`).",
        **kw,
    )


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
