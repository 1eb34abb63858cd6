"""``embedkit convert``: trl, columns, ratings, lewidi, multipref, helpsteer2, rewardbench, pick-a-pic."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import click

from embedkit.cli.common import split_fraction_options
from embedkit.cli.options import config_from, config_options
from embedkit.data.convert import ColumnsConfig
from embedkit.data.pairs import SPLITS
from embedkit.data.ratings import PairingConfig, RatingsFields
from embedkit.datasets.helpsteer2 import HelpSteer2Config
from embedkit.datasets.lewidi import LeWiDiConfig
from embedkit.datasets.multipref import MultiPrefConfig
from embedkit.datasets.rewardbench import RewardBenchConfig


def _out_option(f):
    f = click.option("--overwrite", is_flag=True, help="Replace an existing output file.")(f)
    return click.option(
        "--out", "out", required=True, type=click.Path(dir_okay=False), help="Pair file to write (JSONL)."
    )(f)


def _check_out(out: str, overwrite: bool) -> None:
    from embedkit.atomic import finish_commit

    finish_commit(out)  # a run killed after it committed its files: complete it first
    if Path(out).exists() and not overwrite:
        raise click.ClickException(f"{out} exists; pass --overwrite or choose another --out")


@click.group("convert")
def convert_group():
    """Convert preference data you have into the embedkit pair format (docs/pairs-format.md)."""


@convert_group.command("trl")
@click.argument("input_path", type=click.Path())
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
@click.argument("input_path", type=click.Path())
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


_SPLIT_HELP = {
    "val_frac": "Split column: seen annotators' pairs (--split-by item: items) for validation.",
    "test_frac": "Split column: seen annotators' pairs (--split-by item: items) for test.",
    "unseen_user_frac": "Split column: annotators held out as new users.",
    "fewshot_frac": "Split column: share of a new annotator's pairs for few-shot (--split-by user).",
}


def _ratings_options(f, **defaults):
    """What convert ratings and convert lewidi share: the pairing, the split column, --skip-bad."""
    f = click.option(
        "--skip-bad",
        is_flag=True,
        help="Skip bad rows (listed in the report) instead of stopping at the first.",
    )(f)
    f = click.option(
        "--split-by",
        type=click.Choice(["user", "item"]),
        default="user",
        show_default=True,
        help="Split column: val/test pairs drawn within each seen annotator (user), or item-disjoint (item: "
        "val/test items held out; a pair is in a split only when both its items are, so test pairs compare "
        "items no training pair touched).",
    )(f)
    f = split_fraction_options(_SPLIT_HELP)(f)
    return config_options(PairingConfig, defaults=defaults)(f)


def _pairs_out(rows: list[dict], report: dict, out: str, source: str, unit: str = "row") -> None:
    """Write converted rating pairs and their report (OUT.report.json), saying first how many pairs were
    possible and what capped them, then what was skipped, repeated or dropped."""
    import json as _json

    from embedkit.atomic import committing, write_text
    from embedkit.data.convert import write_pairs

    if not rows:
        raise click.ClickException(
            f"{source}: no pairs could be formed (each annotator needs two rated items)"
        )
    capped = f", capped by {report['capped']}" if report.get("capped") else ""
    click.echo(f"{report['possible_pairs']} pairs possible; writing {len(rows)}{capped}", err=True)
    report_path = Path(out).with_name(Path(out).stem + ".report.json")
    # the report and the pairs change together (the report first, the pair file last: embedkit.atomic)
    with committing(report_path, out) as (report_tmp, out_tmp):
        write_text(report_tmp, _json.dumps(report, indent=1) + "\n")
        n = write_pairs(iter(rows), out_tmp)
    click.echo(
        f"{report['ratings']} ratings by {report['annotators']} annotators of {report['items']} items -> "
        f"{n} pairs ({report['ties']} ties) in {out}; report {report_path}"
    )
    example = report["preferred"].get("example")
    if example:
        won, lost = example["preferred"], example["other"]
        click.echo(
            f"--prefer {report['preferred']['prefer']}: the item with the {report['preferred']['prefer']} score is "
            f"preferred; e.g. {example['user']} scored {won['item']} {won['score']:g} ({won['text']!r:.60}) and "
            f"{lost['item']} {lost['score']:g} ({lost['text']!r:.60}), so {won['item']} is the preferred side "
            f"(--prefer {'higher' if report['preferred']['prefer'] == 'lower' else 'lower'} turns this round)"
        )
    if report.get("small_splits"):
        small = sorted(report["small_splits"], key=lambda x: SPLITS.index(x["split"]))
        sizes = ", ".join(f"{x['split']} {x['pairs']}" for x in small)
        worst = max(small, key=lambda x: x["accuracy_se"])
        click.echo(
            f"small held-out split(s) of the {n} pairs: {sizes} pairs; an accuracy on n pairs has a standard "
            f"error up to 0.5/sqrt(n) ({worst['accuracy_se']:.2f} at {worst['pairs']}), too noisy to tell heads "
            "apart: give them more annotators or items (the split fractions, --split-by)",
            err=True,
        )
    if report.get("repeated_items"):
        first = report["repeated_items"][0]
        click.echo(
            f"{len(report['repeated_items'])} item(s) repeat an earlier item's text, annotators and labels exactly "
            f"(e.g. {first['item']} in {first['file']} repeats {first['repeats']} in {first['repeats_file']}): "
            "each annotator's two copies make a tie pair. Is a file given twice under another name?",
            err=True,
        )
    skipped = report.get("skipped_rows", report.get("skipped_items", []))
    if skipped:
        first = skipped[0]
        where = f"{first['file']}:{first['line']}" if first.get("line") else first["file"]
        click.echo(f"skipped {len(skipped)} bad {unit}(s); first: {where}: {first['error']}", err=True)
    if report["repeated_rows"]:
        first = report["repeated_rows"][0]
        click.echo(
            f"{len(report['repeated_rows'])} row(s) repeat an earlier row exactly and were read once (e.g. "
            f"{first['file']}:{first['line']} repeats line {first['repeats_line']})",
            err=True,
        )
    if report.get("dropped_across_item_splits"):
        click.echo(
            f"{report['dropped_across_item_splits']} pair(s) compare items of two different splits and were "
            "left out (item-disjoint split)",
            err=True,
        )
    if report["annotators_with_one_item"]:
        first = report["annotators_with_one_item"][0]
        where = f" at {first['file']}:{first['line']}" if first.get("line") else ""
        click.echo(
            f"{len(report['annotators_with_one_item'])} annotator(s) rated a single item and give no pairs "
            f"(e.g. {first['user']!r}{where})",
            err=True,
        )


@convert_group.command("ratings")
@click.argument("input_path", type=click.Path())
@_out_option
@config_options(RatingsFields)
@_ratings_options
def ratings_command(input_path, out, overwrite, skip_bad, split_by, val_frac, test_frac, unseen_user_frac,
                    fewshot_frac, **options):  # fmt: skip
    """Per-item ratings (one row per annotator, item and score) -> preference pairs.

    Pairs are drawn within each annotator from two items they rated; their scores decide the label (a
    difference of 1 is a slight preference, 2 or more a strong one, equal scores a tie) and left/right
    is random. A split column is drawn as fit-head would (seen and new annotators), or item-disjoint
    (--split-by item). Bad rows (missing or non-numeric score, missing field) are named with file and
    line; annotators with a single item are listed (they give no pairs). A report goes next to --out
    (OUT.report.json).

    \b
    Example (1-5 offensiveness ratings, less offensive preferred):
      embedkit convert ratings ratings.csv --out pairs.jsonl --user annotator --item comment_id \\
          --text comment --score offensiveness --prefer lower --prompt "Which comment is less offensive?"
    """
    from embedkit.data.ratings import ratings_to_pairs
    from embedkit.data.splits import SplitConfig

    _check_out(out, overwrite)
    fields = config_from(RatingsFields, options)
    pairing = config_from(PairingConfig, options)
    split = None
    if not pairing.likert or split_by == "item":
        split = SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, pairing.seed, by=split_by)
    rows, report = ratings_to_pairs(input_path, fields, pairing, split=split, skip_bad=skip_bad)
    _pairs_out(rows, report, out, input_path)


@convert_group.command("lewidi")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@_out_option
@config_options(LeWiDiConfig)
@functools.partial(_ratings_options, prefer="lower")
def lewidi_command(inputs, out, overwrite, skip_bad, split_by, val_frac, test_frac, unseen_user_frac,
                   fewshot_frac, **options):  # fmt: skip
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
    from embedkit.data.splits import SplitConfig
    from embedkit.datasets.lewidi import find_annotator_meta, lewidi_to_pairs, write_annotator_meta

    _check_out(out, overwrite)
    cfg = config_from(LeWiDiConfig, options)
    pairing = config_from(PairingConfig, options)
    split = None
    if not pairing.likert or split_by == "item" or cfg.source_split:
        split = SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, pairing.seed, by=split_by)
    meta = find_annotator_meta(inputs, cfg.annotator_meta)
    if meta is not None:  # a bad metadata file stops the run before any pair is written
        from embedkit.data.users import read_user_attributes

        read_user_attributes(meta)
    rows, report = lewidi_to_pairs(inputs, cfg, pairing, split=split, skip_bad=skip_bad)
    _pairs_out(rows, report, out, ", ".join(inputs), unit="item")
    if meta is not None:
        users = Path(out).with_name(Path(out).stem + ".annotators.jsonl")
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


@convert_group.command("multipref")
@click.argument("input_path", type=click.Path())
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
@click.argument("input_path", type=click.Path())
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


@convert_group.command("rewardbench")
@click.argument("input_path", type=click.Path())
@_out_option
@config_options(RewardBenchConfig)
def rewardbench_command(input_path, out, overwrite, **options):
    """RewardBench (allenai/reward-bench, the filtered split) or RewardBench 2 (allenai/reward-bench-2)
    -> pairs that `embedkit extract` embeds and `embedkit rewardbench` scores.

    Version 1 rows (prompt, chosen and rejected strings, subset, id) become one pair each. A version 2
    row (chosen and rejected lists: best-of-4, or the Ties subset's several correct answers) becomes a pair
    of chosen[0] with every rejected completion and of every other chosen with rejected[0], each with the
    completions' positions (chosen_index, rejected_index), so every completion is scored once and best-of-4
    is recomputed by id. Bad rows stop the run naming file, line and field; nothing is written then.
    The files: the Hugging Face data sets allenai/reward-bench (split filtered) and allenai/reward-bench-2
    (split test), as Parquet or JSONL.

    \b
    Then:
      embedkit extract OUT --cache CACHE --encoder E
      embedkit rewardbench HEAD --data OUT --cache CACHE --out results.json
    """
    from embedkit.data.convert import write_pairs
    from embedkit.datasets.rewardbench import from_rewardbench

    _check_out(out, overwrite)
    cfg = config_from(RewardBenchConfig, options)
    rows = from_rewardbench(input_path, version=cfg.version)
    n = write_pairs(rows, out)
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
