"""``embedkit convert trl`` and ``embedkit convert columns``."""

from __future__ import annotations

from pathlib import Path

import click

from embedkit.cli.common import split_fraction_options
from embedkit.data.ratings import DEFAULT_PROMPT


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


@convert_group.command("ratings")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
@click.option("--user", "user", required=True, help="Field with the annotator id.")
@click.option(
    "--item",
    "item",
    required=True,
    help="Field with the item id (the same item rated by several annotators).",
)
@click.option("--text", "text", required=True, help="Field with the item's text (what gets embedded).")
@click.option("--score", "score", required=True, help="Field with the annotator's score (a number).")
@click.option(
    "--prefer", type=click.Choice(["higher", "lower"]), default="higher", show_default=True,
    help="Which end of the scale is preferred (lower for offensiveness or toxicity).",
)  # fmt: skip
@click.option(
    "--prompt", "prompt", default=None, help=f"The prompt of every pair (default: {DEFAULT_PROMPT!r})."
)
@click.option("--prompt-field", default=None, help="Or: a field with each item's prompt.")
@click.option(
    "--pairs-per-user", default=0, show_default=True, type=click.IntRange(min=0),
    help="At most this many pairs per annotator, drawn at random (0 = every pair of their items).",
)  # fmt: skip
@click.option(
    "--ties",
    type=click.Choice(["keep", "drop"]),
    default="keep",
    show_default=True,
    help="Keep equal scores as ties, or drop them.",
)
@click.option(
    "--likert", is_flag=True,
    help="Multi-annotator pairs instead: items rated by common annotators, with per-annotator labels and "
    "likert_left/likert_right scores (for mean-var, mse, likert-kl).",
)  # fmt: skip
@click.option(
    "--likert-range",
    default=None,
    help="With --likert: map scores from LO,HI onto 1..5 (default: they are 1..5).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of pair sampling, left/right order and splits.",
)
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
    input_path, out, overwrite, user, item, text, score, prefer, prompt, prompt_field, pairs_per_user, ties,
    likert, likert_range, seed, skip_bad, val_frac, test_frac, unseen_user_frac, fewshot_frac,
):  # fmt: skip
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
    from embedkit.data.ratings import RatingsConfig, ratings_to_pairs
    from embedkit.data.splits import SplitConfig

    _check_out(out, overwrite)
    rng_ = None
    if likert_range:
        try:
            lo, hi = (float(x) for x in likert_range.split(","))
            rng_ = (lo, hi)
        except ValueError:
            raise click.BadParameter(
                f"expected LO,HI, got {likert_range!r}", param_hint="--likert-range"
            ) from None
    cfg = RatingsConfig(
        user=user, item=item, text=text, score=score, prefer=prefer, prompt=prompt, prompt_field=prompt_field,
        pairs_per_user=pairs_per_user, ties=ties, likert=likert, likert_range=rng_, seed=seed,
    )  # fmt: skip
    split = None if likert else SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, seed)
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
@click.option(
    "--per-annotator",
    is_flag=True,
    help="One row per annotation with user = its evaluator (for PAL) instead of one row per comparison with all labels.",
)
@click.option(
    "--annotators",
    type=click.Choice(["all", "normal", "expert"]),
    default="all",
    show_default=True,
    help="Whose annotations to keep.",
)
def multipref_command(input_path, out, overwrite, per_annotator, annotators):
    """MultiPref (allenai/multipref, MultiPref-Train.jsonl layout): comparisons with their crowd and
    expert annotations -> pairs with graded labels (A-is-clearly-better = 2 ... B-is-clearly-better = -2)."""
    from embedkit.data.convert import from_multipref, write_pairs

    _check_out(out, overwrite)
    n = write_pairs(from_multipref(input_path, per_annotator=per_annotator, annotators=annotators), out)
    click.echo(f"wrote {n} pairs to {out}")


@convert_group.command("helpsteer2")
@click.argument("input_path", type=click.Path(dir_okay=False))
@_out_option
@click.option(
    "--attribute",
    default="helpfulness",
    show_default=True,
    help="Which per-annotator score decides the preference.",
)
def helpsteer2_command(input_path, out, overwrite, attribute):
    """HelpSteer2 with per-annotator scores (the disagreements file: one row per response, a list of 0-4
    scores per attribute, the two responses of a prompt one after the other) -> pairs with per-annotator
    graded labels and Likert scores (mean-var, mse, likert-kl)."""
    from embedkit.data.convert import from_helpsteer2, write_pairs

    _check_out(out, overwrite)
    n = write_pairs(from_helpsteer2(input_path, attribute=attribute), out)
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
    from embedkit.data.pickapic import convert_pickapic, iter_paths

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    s = convert_pickapic(iter_paths(inputs), out_dir, progress=progress)
    split = ", ".join(f"{k} {v}" for k, v in s["by_source_split"].items())
    click.echo(
        f"wrote {s['pairs']} pairs ({s['ties']} ties; {split}) of {s['users']} users to {out_dir}/pairs.jsonl; "
        f"{s['images_written']} images written, {s['images_reused']} repeats reused"
    )
