"""``embedkit extract`` and ``embedkit encoders``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import click

from embedkit.cli.common import cache_option, json_option
from embedkit.cli.options import config_from, config_options, dataset_split_option
from embedkit.encoders.registry import family_options, option_classes
from embedkit.extract.config import ExtractConfig


def encoder_family_options(f):
    """One option per field of each encoder family's option dataclass (--layer, --pool, --prompt, ...),
    default None: an encoder that does not take an option it is given refuses it."""
    for cls in reversed(option_classes()):
        f = config_options(cls)(f)
    return f


@click.command("extract")
@click.argument("inputs", nargs=-1, type=click.Path())
@cache_option()
@config_options(ExtractConfig)
@encoder_family_options
@dataset_split_option
def extract_command(inputs, cache_dir, **given):
    """Embed the texts and images of INPUTs (JSONL, CSV, TSV, Parquet files; Hugging Face dataset folders
    (save_to_disk, --split for a DatasetDict) or .arrow files; folders of images) into
    the cache at --cache.

    Only items the cache lacks under this encoder's fingerprint are encoded (a text or picture seen
    twice is encoded once), so a second run costs almost nothing and an interrupted run resumes where
    it stopped. Bad input stops the run before anything is written, naming the file, line and field.

    \b
    Examples:
      embedkit extract data/persona/*.jsonl --text-field statement --cache runs/cache
      embedkit extract pairs.jsonl --cache runs/cache --device cuda --fp16 --batch-size 256
      embedkit extract photos/ image_pairs.jsonl --encoder clip-h14 --cache runs/cache
      embedkit extract pairs.jsonl --encoder smollm2 --template chat --cache runs/cache
      embedkit extract queries.jsonl --encoder org/e5-like --prompt-name query --truncate-dim 256 --cache runs/cache
      embedkit extract big.parquet --cache /shared/cache --encoder mpnet --fp16 --ray auto
    """
    from embedkit.extract import write_bad_rows_report

    family = {name: given.pop(name) for name in family_options()}
    cfg = config_from(ExtractConfig, given, error=click.UsageError)
    if cfg.ray_address is not None and Path(cfg.ray_address).exists():
        raise click.UsageError(
            f"--ray took {cfg.ray_address!r} (an input) for a cluster address: put --ray after the inputs, or "
            "write `--ray local`"
        )
    if not inputs:
        raise click.UsageError("Missing argument 'INPUTS...'.")
    result = cfg.run(inputs, cache_dir, **family)
    bad = result.bad_rows + result.bad_images
    if bad:
        report = write_bad_rows_report(bad, cfg.bad_rows_report or _default_report(cache_dir))
        click.echo(
            f"skipped {len(result.bad_rows)} bad row(s) and {len(result.bad_images)} unreadable image(s), "
            f"listed in {report}; first: {bad[0]}",
            err=True,
        )
    for q in result.quarantined:
        click.echo(f"moved corrupt shard to {q}; its rows were re-encoded", err=True)
    what = f"{result.texts} texts" + (f" + {result.images} images" if result.images else "")
    click.echo(
        f"{result.records} records, {result.occurrences} items, {result.items} unique ({what}); "
        f"{result.cached_before} already cached, {result.encoded} encoded "
        f"into {result.shards_written} shard(s)"
    )
    if result.truncated:
        click.echo(
            f"{result.truncated} text(s) were longer than --max-length {result.max_length} tokens and truncated",
            err=True,
        )
    rate = f", {result.items_per_second:.0f} items/s" if result.encoded else ""
    click.echo(f"namespace {result.namespace} = {result.fingerprint.describe()}")
    click.echo(f"done in {result.seconds:.1f}s{rate}")


def _default_report(cache_dir) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return Path(cache_dir) / f"bad-rows-{stamp}.jsonl"


@click.command("encoders")
@json_option("Print JSON instead of a table.")
def encoders_command(as_json):
    """List the encoders: registered names and general forms, what they embed, and what they need."""
    from embedkit.encoders.registry import encoder_table

    rows = encoder_table()
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=1))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        status = "ready" if r["ready"] else r["needs"]
        click.echo(f"{r['name'].ljust(width)}  [{r['embeds']}; {status}]\n{'':{width}}  {r['help']}")
