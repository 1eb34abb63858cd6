"""``embedkit``: extract embeddings once, train reward heads on them, score users."""

from __future__ import annotations

import click

from embedkit._version import __version__
from embedkit.cli.common import EmbedkitGroup, setup_logging

COMMANDS = {  # imported when used: `embedkit fit-head` imports neither the data sets nor the index
    "extract": "embedkit.cli.extract:extract_command",
    "encoders": "embedkit.cli.extract:encoders_command",
    "cache": "embedkit.cli.cache:cache_group",
    "build": "embedkit.cli.build:build_group",
    "convert": "embedkit.cli.convert:convert_group",
    "fit-head": "embedkit.cli.heads:fit_head_command",
    "eval": "embedkit.cli.heads:eval_command",
    "headroom": "embedkit.cli.headroom:headroom_command",
    "score": "embedkit.cli.score:score_command",
    "rewardbench": "embedkit.cli.rewardbench:rewardbench_command",
    "index": "embedkit.cli.index:index_group",
    "split": "embedkit.cli.split:split_command",
}


@click.group(cls=EmbedkitGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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


def main():  # console-script entry point
    cli(prog_name="embedkit")


if __name__ == "__main__":
    main()
