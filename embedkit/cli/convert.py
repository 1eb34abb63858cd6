"""``embedkit convert``: trl, columns, ratings, multipref, helpsteer2, pick-a-pic."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from embedkit.cli.common import split_fraction_options
from embedkit.cli.options import config_from, config_options
from embedkit.data.convert import ColumnsConfig
from embedkit.data.ratings import RatingsConfig
from embedkit.datasets.helpsteer2 import HelpSteer2Config
from embedkit.datasets.multipref import MultiPrefConfig


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
@config_options(ColumnsConfig)
def columns_command(input_path, out, overwrite, **options):
    """Any one-row-per-pair layout (JSONL, CSV, Parquet), mapped field by field; multi-annotator rows
    keep their list of labels."""
    from embedkit.data.convert import from_columns, write_pairs

    _check_out(out, overwrite)
    rows = from_columns(input_path, **dataclasses.asdict(config_from(ColumnsConfig, options)))
    n = write_pairs(rows, out)
    click.echo(f"wrote {n} pairs to {out}")


@convert_group.command("ratings")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
@config_options(RatingsConfig)
@click.option(
    "--skip-bad", is_flag=True, help="Skip bad rows (listed in the report) instead of stopping at the first."
)
@split_fraction_options(
    {
        "val_frac": "Split column: seen annotators' pairs for validation.",
        "test_frac": "Split column: seen annotators' pairs for test.",
        "unseen_user_frac": "Split column: annotators held out as new users.",
        "fewshot_frac": "Split column: share of a new annotator's pairs for few-shot.",
    }
)
def ratings_command(
    input_path, out, overwrite, skip_bad, val_frac, test_frac, unseen_user_frac, fewshot_frac, **options
):
    """Per-item ratings (one row per annotator, item and score) -> preference pairs.

    Pairs are drawn within each annotator from two items they rated; their scores decide the label (a
    difference of 1 is a slight preference, 2 or more a strong one, equal scores a tie) and left/right
    is random. A split column is drawn as fit-head would (seen and new annotators). Bad rows (missing
    or non-numeric score, missing field) are named with file and line; annotators with a single item
    are listed (they give no pairs). A report goes next to --out (OUT.report.json).

    \b
    Example (1-5 offensiveness ratings, less offensive preferred):
      embedkit convert ratings ratings.csv --out pairs.jsonl --user annotator --item comment_id \\
          --text comment --score offensiveness --prefer lower --prompt "Which comment is less offensive?"
    """
    import json as _json

    from embedkit.data.convert import write_pairs
    from embedkit.data.ratings import ratings_to_pairs
    from embedkit.data.splits import SplitConfig

    _check_out(out, overwrite)
    cfg = config_from(RatingsConfig, options)
    split = None if cfg.likert else SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, cfg.seed)
    rows, report = ratings_to_pairs(input_path, cfg, split=split, skip_bad=skip_bad)
    if not rows:
        raise click.ClickException(
            f"{input_path}: no pairs could be formed (each annotator needs two rated items)"
        )
    n = write_pairs(iter(rows), out)
    report_path = Path(out).with_name(Path(out).stem + ".report.json")
    report_path.write_text(_json.dumps(report, indent=1) + "\n")
    click.echo(
        f"{report['ratings']} ratings by {report['annotators']} annotators of {report['items']} items -> "
        f"{n} pairs ({report['ties']} ties) in {out}; report {report_path}"
    )
    if report["skipped_rows"]:
        first = report["skipped_rows"][0]
        click.echo(
            f"skipped {len(report['skipped_rows'])} bad row(s); first: {first['file']}:{first['line']}: {first['error']}",
            err=True,
        )
    if report["annotators_with_one_item"]:
        first = report["annotators_with_one_item"][0]
        click.echo(
            f"{len(report['annotators_with_one_item'])} annotator(s) rated a single item and give no pairs "
            f"(e.g. {first['user']!r} at {first['file']}:{first['line']})",
            err=True,
        )


@convert_group.command("multipref")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
@config_options(MultiPrefConfig)
def multipref_command(input_path, out, overwrite, **options):
    """MultiPref (allenai/multipref, MultiPref-Train.jsonl layout): comparisons with their crowd and
    expert annotations -> pairs with graded labels (A-is-clearly-better = 2 ... B-is-clearly-better = -2)."""
    from embedkit.data.convert import write_pairs
    from embedkit.datasets.multipref import from_multipref

    _check_out(out, overwrite)
    n = write_pairs(
        from_multipref(input_path, **dataclasses.asdict(config_from(MultiPrefConfig, options))), out
    )
    click.echo(f"wrote {n} pairs to {out}")


@convert_group.command("helpsteer2")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
@config_options(HelpSteer2Config)
def helpsteer2_command(input_path, out, overwrite, **options):
    """HelpSteer2 with per-annotator scores (the disagreements file: one row per response, a list of 0-4
    scores per attribute, the two responses of a prompt one after the other) -> pairs with per-annotator
    graded labels and Likert scores (mean-var, mse, likert-kl)."""
    from embedkit.data.convert import write_pairs
    from embedkit.datasets.helpsteer2 import from_helpsteer2

    _check_out(out, overwrite)
    n = write_pairs(
        from_helpsteer2(input_path, **dataclasses.asdict(config_from(HelpSteer2Config, options))), out
    )
    click.echo(f"wrote {n} pairs to {out}")


@convert_group.command("pick-a-pic")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for pairs.jsonl and images/ (each image once, by content hash).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace an existing OUT/pairs.jsonl (images are kept and reused)."
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar over the records."
)
def pickapic_command(inputs, out_dir, overwrite, progress):
    """Pick-a-Pic parquet files (or folders of them) -> an image pair file.

    Reads the Pick-a-Pic layout (caption, jpg_0 / jpg_1 image bytes, label_0 / label_1 with 0.5 / 0.5 for a
    tie, user_id, image and ranking ids) one record batch at a time, so multi-GB files never sit in memory.
    Each distinct image is written once under OUT/images/ by SHA-256; OUT/pairs.jsonl has user, prompt =
    caption, left / right = image paths relative to it, label (left, right or tie) and source_split (from a
    split column, else from the file name: train, validation or test).

    \b
    Then:
      embedkit build pick-a-filter OUT/pairs.jsonl --out FILTERED
      embedkit extract OUT/pairs.jsonl --cache CACHE --encoder clip-h14
    """
    from embedkit.datasets.pick_a_pic import convert_pickapic, iter_paths

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    s = convert_pickapic(iter_paths(inputs), out_dir, progress=progress)
    split = ", ".join(f"{k} {v}" for k, v in s["by_source_split"].items())
    click.echo(
        f"wrote {s['pairs']} pairs ({s['ties']} ties; {split}) of {s['users']} users to {out_dir}/pairs.jsonl; "
        f"{s['images_written']} images written, {s['images_reused']} repeats reused"
    )
