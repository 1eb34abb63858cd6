"""``embedkit``: extract embeddings once, train reward heads on them, score users."""

from __future__ import annotations

import click

from embedkit._version import __version__
from embedkit.cli.build import build_group
from embedkit.cli.cache import cache_group
from embedkit.cli.common import EmbedkitGroup, setup_logging
from embedkit.cli.convert import convert_group
from embedkit.cli.extract import encoders_command, extract_command
from embedkit.cli.heads import eval_command, fit_head_command
from embedkit.cli.index import index_group
from embedkit.cli.rewardbench import rewardbench_command
from embedkit.cli.score import score_command
from embedkit.cli.split import split_command


@click.group(cls=EmbedkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="embedkit")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, verbose: int, debug: bool):
    """Pluralistic reward modelling on cached embeddings.

    \b
    Typical session:
      embedkit extract data/persona/*.jsonl --text-field statement --cache runs/cache
      embedkit cache ls --cache runs/cache
      embedkit cache verify --cache runs/cache
      embedkit build persona --out runs/persona
      embedkit extract runs/persona/texts.jsonl --cache runs/cache
      embedkit fit-head --model pal-b --K 2 --pairs runs/persona/pairs.jsonl --cache runs/cache --out runs/pal-b
      embedkit eval runs/pal-b --pairs runs/persona/pairs.jsonl --cache runs/cache
      embedkit score runs/pal-b --cache runs/cache --fewshot new.jsonl --pairs todo.jsonl --out scored.jsonl
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    setup_logging(verbose)


cli.add_command(extract_command)
cli.add_command(encoders_command)
cli.add_command(cache_group)
cli.add_command(build_group)
cli.add_command(convert_group)
cli.add_command(fit_head_command)
cli.add_command(eval_command)
cli.add_command(score_command)
cli.add_command(rewardbench_command)
cli.add_command(index_group)
cli.add_command(split_command)


def main():  # console-script entry point
    cli(prog_name="embedkit")


if __name__ == "__main__":
    main()
