"""``embedkit split``: leakage and no-leakage subsets of a pair file against another one, or one file per
value of a column (``--by split``: train, fewshot, unseen_test, ...)."""

from __future__ import annotations

from pathlib import Path

import click

from embedkit.cli.options import config_from, config_options, field_options
from embedkit.index.leakage import LeakageConfig
from embedkit.options import REQUIRED, opt


@click.command("split")
@click.argument("pairs", type=click.Path(exists=True))
@field_options(
    other=opt(
        None,
        "The pair file to check against (e.g. the training set another model saw).",
        cli="--dedup-against",
        path="file",
        exists=True,
    ),
    by_field=opt(
        None,
        "Instead: write one file per value of FIELD, e.g. --by split gives OUT/fewshot.jsonl and "
        "OUT/unseen_test.jsonl for `embedkit score --fewshot ... --pairs ...`.",
        cli="--by",
        metavar="FIELD",
        kind=str,
    ),
    cache_dir=opt(
        None,
        "With --dedup-against: the embedding cache (created by `embedkit extract`).",
        cli="--cache",
        path="dir",
    ),
    encoder=opt(
        "minilm",
        "Cached namespace whose embeddings decide near-duplicates: the --encoder given to `embedkit extract`.",
    ),
)
@config_options(LeakageConfig)
@field_options(
    out_dir=opt(
        REQUIRED,
        "Folder for leakage.jsonl, no_leakage.jsonl and report.json (with --by: a file per value).",
        cli="--out",
        path="dir",
    ),
    overwrite=opt(False, "Replace existing output files in --out."),
)
def split_command(pairs, other, by_field, cache_dir, encoder, out_dir, overwrite, **options):
    """Split PAIRS into pairs that share items with --dedup-against (leakage) and pairs that do not; or,
    with --by FIELD, into one file per value of FIELD.

    Prompts are compared with the other file's prompts and responses with its responses: exactly by content
    key (a text's content, an image's bytes) and nearly by the cosine similarity of their cached embeddings
    (FAISS, exact search by default). Both files must be extracted into --cache under --encoder. Leaking rows
    get a "leak" field naming the matching item; report.json has the counts and a few examples.

    \b
    Examples:
      embedkit split v2/pairs.jsonl --dedup-against v1/pairs.jsonl --cache CACHE --encoder clip-h14 --out v2-split
      embedkit split pairs.jsonl --by split --out by-split     # by-split/fewshot.jsonl, by-split/unseen_test.jsonl, ...
    """
    if (other is None) == (by_field is None):
        raise click.UsageError(
            "give --dedup-against OTHER (leakage) or --by FIELD (a file per value), not both"
        )
    if by_field is not None:
        from embedkit.data.splits import write_by_field

        written = write_by_field([pairs], by_field, out_dir, overwrite=overwrite)
        for value, w in written.items():
            click.echo(f"{w['rows']:>8} rows with {by_field}={value} -> {w['file']}")
        return
    if cache_dir is None:
        raise click.UsageError("--dedup-against needs --cache (where both files' embeddings are)")
    from embedkit.index.leakage import split_leakage

    cfg = config_from(LeakageConfig, options)
    out = Path(out_dir)
    existing = [n for n in ("leakage.jsonl", "no_leakage.jsonl") if (out / n).exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{out}/{existing[0]} exists; pass --overwrite or choose another --out")
    report = split_leakage(pairs, other, cache_dir, out, encoder=encoder, **cfg.keywords())
    d = report["duplicate_items"]
    click.echo(
        f"{report['leakage']} of {report['total']} pairs leak, {report['no_leakage']} do not (threshold "
        f"{cfg.threshold}); duplicate prompts: {d['prompt']['exact']} exact + {d['prompt']['near_only']} near, "
        f"responses: {d['responses']['exact']} exact + {d['responses']['near_only']} near"
    )
    for ex in report["examples"][:3]:
        for f, h in ex.items():
            if f != "line":
                click.echo(
                    f"  line {ex['line']} {f} ({h['type']}, cosine {h['cosine']:.4f}): {str(h['item'])[:60]!r}"
                )
    click.echo(f"wrote {out}/leakage.jsonl, {out}/no_leakage.jsonl and {out}/report.json")
