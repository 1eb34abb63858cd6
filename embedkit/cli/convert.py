"""``embedkit convert``: trl, columns, ratings, lewidi, multipref, helpsteer2, rewardbench, pick-a-pic.

The commands are generated from the data set registry (``embedkit.datasets.registry``, by
``embedkit.cli.datasets``); ``convert lewidi`` is written by hand below while the annotator-attributes
work (#30) changes what it writes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from embedkit.cli.datasets import (
    DatasetGroup,
    _check_out,
    _out_option,
    _pairs_out,
    _ratings_options,
    rating_split,
)
from embedkit.cli.options import config_from, config_options, take_split_options
from embedkit.data.ratings import PairingConfig
from embedkit.datasets.lewidi import LeWiDiConfig


@click.group("convert", cls=DatasetGroup, command="convert")
def convert_group():
    """Convert preference data you have into the embedkit pair format (docs/pairs-format.md)."""


@click.command("lewidi")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@_out_option
@config_options(LeWiDiConfig)
@functools.partial(_ratings_options, prefer="lower")
def lewidi_command(inputs, out, overwrite, skip_bad, **options):
    """LeWiDi JSON files (per-annotator labels: MD-Agreement, CSC, ...) -> preference pairs.

    Reads both LeWiDi layouts (2023: comma-separated annotators / annotations, text a string, or for
    conversations a JSON-encoded object; 2025: annotations an object, text an object) and pairs them
    exactly as `convert ratings` does: within each annotator, the item they labelled lower preferred by
    default (less offensive, less sarcastic; --prefer higher for the other way: the run shows one pair
    to check it by), equal labels ties. A text with fields is its fields joined by a newline, or those
    --text-fields names. --source-split keeps the files' own train/dev/test item split (item-disjoint).
    Bad items (not a LeWiDi file, annotator and annotation counts that differ, a label outside the scale:
    the error names the labels' range for --scale, an item id twice, a file given twice) stop the run
    naming file, item id and field; --skip-bad lists them in the report and goes on. Held-out splits of
    fewer than 100 pairs, and items repeating another's text and labels, are warned about.

    \b
    Examples:
      embedkit convert lewidi MD-Agreement_train.json MD-Agreement_dev.json MD-Agreement_test.json \\
          --out md/pairs.jsonl --source-split --prompt "Which tweet is less offensive?" --ties drop
      embedkit convert lewidi CSC_dev.json CSC_test.json --out csc/likert.jsonl --likert --likert-range 1,6
      embedkit convert lewidi ConvAbuse_train.json --out abuse/pairs.jsonl --scale -3,1 --prefer higher \\
          --text-fields prev_user,user
    """
    from embedkit.datasets.lewidi import lewidi_to_pairs
    from embedkit.datasets.lewidi_annotators import find_annotator_meta, write_annotator_meta

    _check_out(out, overwrite)
    split_given = take_split_options(options)
    cfg = config_from(LeWiDiConfig, options)
    pairing = config_from(PairingConfig, options)
    split = rating_split(split_given, pairing, item_split=cfg.source_split)
    meta = find_annotator_meta(inputs, cfg.annotator_meta)
    users = Path(out).with_name(Path(out).stem + ".annotators.jsonl")
    if meta is not None:  # a bad metadata file, or one already written, stops the run before any pair
        from embedkit.data.users import read_user_attributes

        read_user_attributes(meta)
        if users.exists() and not overwrite:
            raise click.ClickException(f"{users} exists; pass --overwrite or choose another --out")
    rows, report = lewidi_to_pairs(inputs, cfg, pairing, split=split, skip_bad=skip_bad)
    _pairs_out(rows, report, out, ", ".join(inputs), unit="item")
    if meta is not None:
        done = write_annotator_meta(meta, users, {str(r["user"]) for r in rows})
        without = done["annotators_in_pairs_without_metadata"]
        click.echo(
            f"annotator metadata of {done['annotators']} annotators ({', '.join(done['columns'])}) from {meta} -> "
            f"{users} (fit-head / eval / score --users)"
            + (
                f"; {without} annotators of the pairs have none (e.g. {', '.join(done['examples_without'])})"
                if without
                else ""
            )
        )
