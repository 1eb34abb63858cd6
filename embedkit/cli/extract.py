"""``embedkit extract`` and ``embedkit encoders``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import click

from embedkit.cli.common import cache_option


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@cache_option()
@click.option(
    "--encoder",
    default="minilm",
    show_default=True,
    help="Registered encoder name (see `embedkit encoders`), a sentence-transformers model "
    "directory, or a Hub id org/name.",
)
@click.option(
    "--text-field",
    default=None,
    help="Field (JSONL) or column (CSV/Parquet) holding the text. Default: `text`, or, for a "
    "pair file (prompt + chosen/rejected or left/right), the prompt and both responses.",
)
@click.option(
    "--responses",
    type=click.Choice(["in-context", "alone"]),
    default="in-context",
    show_default=True,
    help="Pair files: embed each response after its prompt (prompt + newline + response), or alone.",
)
@click.option(
    "--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Texts per forward pass."
)
@click.option(
    "--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto (cuda when available)."
)
@click.option("--fp16", is_flag=True, help="Compute in float16 (CUDA only).")
@click.option(
    "--dtype",
    type=click.Choice(["float16", "float32"]),
    default="float16",
    show_default=True,
    help="Storage dtype of the cached embeddings (part of the fingerprint).",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="L2-normalise embeddings before storing (a different namespace from unnormalised).",
)
@click.option(
    "--shard-size",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per HDF5 shard; a crash loses at most one shard of work.",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Skip bad rows (listed in a report file) instead of stopping at the first.",
)
@click.option(
    "--bad-rows-report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where --skip-bad lists the skipped rows. Default: CACHE/bad-rows-<time>.jsonl.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def extract_command(
    inputs,
    cache_dir,
    encoder,
    text_field,
    responses,
    batch_size,
    device,
    fp16,
    dtype,
    normalize,
    shard_size,
    skip_bad,
    bad_rows_report,
    progress,
):
    """Embed the texts of INPUT files (JSONL, CSV, TSV, Parquet) into the cache at --cache.

    Only texts the cache lacks under this encoder's fingerprint are encoded (a text seen twice is
    encoded once), so a second run costs almost nothing and an interrupted run resumes where it
    stopped. Bad input stops the run before anything is written, naming the file, line and field.

    \b
    Examples:
      embedkit extract data/persona/*.jsonl --text-field statement --cache runs/cache
      embedkit extract pairs.jsonl --cache runs/cache --device cuda --fp16 --batch-size 256
    """
    from embedkit.cache.store import EmbeddingCache
    from embedkit.data.texts import collect_texts
    from embedkit.encoders.registry import create_encoder
    from embedkit.extract import extract, write_bad_rows_report

    items = collect_texts(inputs, text_field=text_field, responses=responses, skip_bad=skip_bad)
    if items.bad:
        if bad_rows_report is None:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            bad_rows_report = Path(cache_dir) / f"bad-rows-{stamp}.jsonl"
        report = write_bad_rows_report(items.bad, bad_rows_report)
        click.echo(
            f"skipped {len(items.bad)} bad row(s), listed in {report}; first: {items.bad[0]}", err=True
        )
    if not items.texts:
        raise click.ClickException("no usable texts in the input")
    enc = create_encoder(encoder, device=device, normalize=normalize, fp16=fp16, dtype=dtype)
    result = extract(
        items, EmbeddingCache(cache_dir), enc, batch_size=batch_size, shard_size=shard_size, progress=progress
    )
    for q in result.quarantined:
        click.echo(f"moved corrupt shard to {q}; its rows were re-encoded", err=True)
    click.echo(
        f"{items.records} records, {items.occurrences} texts, {result.items} unique; "
        f"{result.cached_before} already cached, {result.encoded} encoded "
        f"into {result.shards_written} shard(s)"
    )
    rate = f", {result.items_per_second:.0f} texts/s" if result.encoded else ""
    click.echo(f"namespace {result.namespace} = {result.fingerprint.describe()}")
    click.echo(f"done in {result.seconds:.1f}s{rate}")


@click.command("encoders")
def encoders_command():
    """List the registered encoder names."""
    from embedkit.encoders.registry import list_encoders

    for name, help_ in list_encoders().items():
        click.echo(f"{name:10s} {help_}")
    click.echo("\nAny sentence-transformers model directory or Hub id (org/name) also works as --encoder.")
