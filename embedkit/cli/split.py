"""``embedkit split``: leakage and no-leakage subsets of a pair file against another one."""

from __future__ import annotations

from pathlib import Path

import click

from embedkit.cli.common import cache_option


@click.command("split")
@click.argument("pairs", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--dedup-against",
    "other",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The pair file to check against (e.g. the training set another model saw).",
)
@cache_option()
@click.option(
    "--encoder",
    default="minilm",
    show_default=True,
    help="Cached namespace whose embeddings decide near-duplicates: the --encoder given to `embedkit extract`.",
)
@click.option(
    "--threshold",
    default=0.98,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Cosine similarity at or above which two items are near-duplicates.",
)
@click.option(
    "--fields",
    type=click.Choice(["all", "prompt", "responses"]),
    default="all",
    show_default=True,
    help="Which items make a pair leak: its prompt, its responses, or either.",
)
@click.option(
    "--approximate",
    is_flag=True,
    help="Search near-duplicates with an approximate FAISS index beyond 200k items (faster, may miss some).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for leakage.jsonl, no_leakage.jsonl and report.json.",
)
@click.option(
    "--responses",
    type=click.Choice(["in-context", "alone"]),
    default="in-context",
    show_default=True,
    help="How text responses were extracted (image responses are detected).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files in --out.")
def split_command(
    pairs, other, cache_dir, encoder, threshold, fields, approximate, responses, out_dir, overwrite
):
    """Split PAIRS into pairs that share items with --dedup-against (leakage) and pairs that do not.

    Prompts are compared with the other file's prompts and responses with its responses: exactly by content
    key (a text's content, an image's bytes) and nearly by the cosine similarity of their cached embeddings
    (FAISS, exact search by default). Both files must be extracted into --cache under --encoder. Leaking rows
    get a "leak" field naming the matching item; report.json has the counts and a few examples.

    \b
    Example (PAL 4.3: Pick-a-Pic v2 test against v1 train):
      embedkit split v2/pairs.jsonl --dedup-against v1/pairs.jsonl --cache CACHE --encoder clip-h14 --out v2-split
    """
    from embedkit.data.leakage import FIELDS, split_leakage

    out = Path(out_dir)
    existing = [n for n in ("leakage.jsonl", "no_leakage.jsonl") if (out / n).exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{out}/{existing[0]} exists; pass --overwrite or choose another --out")
    report = split_leakage(
        pairs,
        other,
        cache_dir,
        out,
        encoder=encoder,
        threshold=threshold,
        fields=FIELDS if fields == "all" else (fields,),
        exact_index=not approximate,
        responses=responses,
    )
    d = report["duplicate_items"]
    click.echo(
        f"{report['leakage']} of {report['total']} pairs leak, {report['no_leakage']} do not (threshold "
        f"{threshold}); duplicate prompts: {d['prompt']['exact']} exact + {d['prompt']['near_only']} near, "
        f"responses: {d['responses']['exact']} exact + {d['responses']['near_only']} near"
    )
    for ex in report["examples"][:3]:
        for f, h in ex.items():
            if f != "line":
                click.echo(
                    f"  line {ex['line']} {f} ({h['type']}, cosine {h['cosine']:.4f}): {str(h['item'])[:60]!r}"
                )
    click.echo(f"wrote {out}/leakage.jsonl, {out}/no_leakage.jsonl and {out}/report.json")
