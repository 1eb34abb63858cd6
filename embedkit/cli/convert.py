"""``embedkit convert trl`` and ``embedkit convert columns``."""

from __future__ import annotations

from pathlib import Path

import click


def _out_option(f):
    f = click.option("--overwrite", is_flag=True, help="Replace an existing output file.")(f)
    return click.option(
        "--out", "out", required=True, type=click.Path(dir_okay=False), help="Pair file to write (JSONL)."
    )(f)


def _check_out(out: str, overwrite: bool) -> None:
    if Path(out).exists() and not overwrite:
        raise click.ClickException(f"{out} exists; pass --overwrite or choose another --out")


@click.group("convert")
def convert_group():
    """Convert preference data you have into the embedkit pair format (docs/pairs-format.md)."""


@convert_group.command("trl")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
def trl_command(input_path, out, overwrite):
    """TRL preference data: chosen/rejected as text or conversations, explicit or implicit prompt.

    Conversations become text as "role: content" blocks; an implicit prompt is the shared beginning of
    chosen and rejected. user, split, weight and margin fields are kept.
    """
    from embedkit.data.convert import from_trl, write_pairs

    _check_out(out, overwrite)
    n = write_pairs(from_trl(input_path), out)
    click.echo(f"wrote {n} pairs to {out}")


@convert_group.command("columns")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
@click.option("--prompt", "prompt", required=True, help="Field holding the prompt.")
@click.option("--left", "left", required=True, help="Field holding the first response.")
@click.option("--right", "right", required=True, help="Field holding the second response.")
@click.option("--label", "label", default=None, help="Field with one label per row.")
@click.option("--labels", "labels", default=None, help="Field with a list of per-annotator labels.")
@click.option("--user", "user", default=None, help="Field with the user / annotator id.")
@click.option(
    "--split", "split", default=None, help="Field with the split (train, val, test, fewshot, unseen_test)."
)
@click.option(
    "--map",
    "label_map",
    default=None,
    help="Translate label values: RAW=LABEL,... where LABEL is left, right, tie or -2..2 "
    "(e.g. 'A-is-clearly-better=2,A-is-slightly-better=1,Tie=0').",
)
def columns_command(input_path, out, overwrite, prompt, left, right, label, labels, user, split, label_map):
    """Any one-row-per-pair layout (JSONL, CSV, Parquet), mapped field by field; multi-annotator rows
    keep their list of labels."""
    from embedkit.data.convert import from_columns, parse_label_map, write_pairs

    _check_out(out, overwrite)
    rows = from_columns(
        input_path,
        prompt=prompt,
        left=left,
        right=right,
        label=label,
        labels=labels,
        user=user,
        split=split,
        label_map=parse_label_map(label_map),
    )
    n = write_pairs(rows, out)
    click.echo(f"wrote {n} pairs to {out}")
