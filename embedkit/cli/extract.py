"""``embedkit extract`` and ``embedkit encoders``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import click

from embedkit.cli.common import cache_option
from embedkit.cli.options import dataset_split_option
from embedkit.encoders.registry import ENCODERS, OPTIONS


def encoder_family_options(f):
    """One option per family option of the encoder registry (--layer, --pool, ...), default None: an
    encoder that does not take an option it is given refuses it."""
    for name, o in reversed(OPTIONS.items()):
        if o.choices:
            typ = click.Choice(list(o.choices))
        elif o.min is not None:
            typ = click.IntRange(min=o.min) if o.type is int else o.type
        else:
            typ = o.type
        f = click.option(f"--{name.replace('_', '-')}", name, default=None, type=typ, help=o.help)(f)
    return f


@click.command("extract")
@click.argument("inputs", nargs=-1, type=click.Path())
@cache_option()
@click.option(
    "--encoder",
    default="minilm",
    show_default=True,
    help=f"Registered name ({', '.join(ENCODERS)}; see `embedkit encoders`), "
    "open_clip:ARCH:PRETRAINED (or open_clip:hf-hub:ORG/NAME, open_clip:local-dir:PATH), hf:PATH_OR_ID (a "
    "causal LM directory, GGUF file or Hub id), a "
    "sentence-transformers model directory, or a Hub id org/name.",
)
@click.option(
    "--text-field",
    default=None,
    help="Field (JSONL) or column (CSV/Parquet) holding the text. Default: `text`, or, for a "
    "pair file (prompt + chosen/rejected or left/right), the prompt and both responses.",
)
@click.option(
    "--image-field",
    default=None,
    help="Field / column holding image paths (relative to the file; they may not leave its folder). "
    "Needs an image encoder (clip-h14, open_clip:...).",
)
@click.option(
    "--responses",
    type=click.Choice(["in-context", "alone", "images"]),
    default="in-context",
    show_default=True,
    help="Pair files: embed each response after its prompt (prompt + newline + response), alone, or as "
    "images (paths relative to the pair file; detected from the file extension anyway).",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=0),
    help="Processes decoding images while the model runs (0 = none). Default: one per CPU, as many as "
    "fit in half the available memory (512 MB each).",
)
@encoder_family_options
@click.option(
    "--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Texts per forward pass."
)
@click.option(
    "--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto (cuda when available)."
)
@click.option("--fp16", is_flag=True, help="Compute in float16 (CUDA only).")
@click.option(
    "--bf16", is_flag=True, help="Compute in bfloat16 (CUDA only; LLM and open_clip encoders autocast)."
)
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
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Spread the encoding over a Ray cluster (Ray Data, one worker per GPU): `--ray` alone starts Ray "
    "on this machine, `--ray auto` joins the cluster started with `ray start`, `--ray HOST:PORT` or "
    "`--ray ray://HOST:10001` a given one. The cache folder must be on storage every node sees. Put "
    "--ray after the inputs (or give it a value), or it takes the next input for an address.",
)
@click.option(
    "--ray-workers",
    default=None,
    type=click.IntRange(min=1),
    help="With --ray: encoder workers (default: one per GPU in the cluster, else one per 4 CPUs).",
)
@click.option(
    "--wait-lock",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="If another extraction is writing to the cache, wait up to this long for it to finish instead "
    "of stopping at once (a lock left by a killed process is taken over immediately).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@dataset_split_option
def extract_command(
    inputs,
    cache_dir,
    encoder,
    text_field,
    image_field,
    responses,
    workers,
    batch_size,
    device,
    fp16,
    bf16,
    dtype,
    normalize,
    shard_size,
    skip_bad,
    bad_rows_report,
    ray_address,
    ray_workers,
    wait_lock,
    progress,
    **family,
):
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
    from embedkit.extract import extract_files, write_bad_rows_report

    if ray_address is not None and Path(ray_address).exists():
        raise click.UsageError(
            f"--ray took {ray_address!r} (an input) for a cluster address: put --ray after the inputs, or "
            "write `--ray local`"
        )
    if not inputs:
        raise click.UsageError("Missing argument 'INPUTS...'.")
    if ray_workers is not None and ray_address is None:
        raise click.UsageError("--ray-workers needs --ray")
    if ray_address is not None and device.startswith("cuda:"):
        raise click.UsageError(
            f"--device {device} with --ray: Ray gives each worker its own GPU, which it sees as cuda; use "
            "--device auto (or cuda)"
        )
    options = dict(device=device, normalize=normalize, fp16=fp16, bf16=bf16, dtype=dtype, **family)
    result = extract_files(
        inputs,
        cache_dir,
        encoder,
        options,
        text_field=text_field,
        image_field=image_field,
        responses=responses,
        skip_bad=skip_bad,
        ray_address=ray_address,
        ray_workers=ray_workers,
        batch_size=batch_size,
        shard_size=shard_size,
        progress=progress,
        workers=workers,
        wait_lock=wait_lock,
    )
    bad = result.bad_rows + result.bad_images
    if bad:
        report = write_bad_rows_report(bad, bad_rows_report or _default_report(cache_dir))
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
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
