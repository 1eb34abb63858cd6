"""``embedkit headroom``: how much personalisation can gain on a pair file at all."""

from __future__ import annotations

import json

import click

from embedkit.cli.common import cache_option, json_option, pairs_option, users_options
from embedkit.cli.options import config_from, config_options, dataset_split_option, field_options
from embedkit.options import REQUIRED, opt


def _config():
    from embedkit.score.headroom_config import HeadroomConfig

    return HeadroomConfig


class HeadroomCommand(click.Command):
    """headroom with one option per field of ``HeadroomConfig``, added on first use (help, parsing), so that
    listing the commands does not import the scoring package (and torch)."""

    def get_params(self, ctx):
        if not getattr(self, "_config_options_added", False):
            self._config_options_added = True
            at = next(i for i, p in enumerate(self.params) if p.name == "overwrite")
            self.params[at:at] = reversed(config_options(_config())(lambda: None).__click_params__)
        return super().get_params(ctx)


@click.command("headroom", cls=HeadroomCommand)
@pairs_option(
    "Pair file(s) with a user column (docs/pairs-format.md), ties included if it has them; repeat for several."
)
@cache_option()
@field_options(
    out_dir=opt(REQUIRED, "Folder for headroom.json, headroom.md and headroom.png.", cli="--out", path="dir"),
    overwrite=opt(False, "Replace a report already in --out."),
)
@json_option("Print the report as JSON instead of Markdown.")
@field_options(progress=opt(True, "Show the heads' progress bars."))
@users_options(
    "Fills the report's attribute-prior row: the head is fitted with the attributes, and new users are scored "
    "at their attribute point against the population point."
)
@dataset_split_option
def headroom_command(
    pairs, cache_dir, out_dir, overwrite, as_json, progress, attributes_file, users_id_field, **options
):
    """The headroom report: how much can personalisation gain on these pairs at all?

    Fits a head with per-user weights (PAL-B, K=3 by default) on two splits of the pairs, per-user and
    item-disjoint (a progress line per split), holding --unseen-user-frac of the users out as new users,
    and reports for them: the accuracy of the population point (zero-shot), of few-shot weights at
    --shots pairs, and of an oracle per-user fit on all of a user's other items (the ceiling of
    personalisation with this encoder and head), each against the population point on the same pairs,
    with the item overlap of each split; and from the labels alone, the share of ties and Krippendorff's
    alpha on item pairs several users labelled. Ends with one line: "personalisation can add at most X
    points here; 20 shots add Z". Writes --out/headroom.json, .md and .png; see docs/headroom.md.

    \b
    Example:
      embedkit headroom --pairs runs/persona/pairs.jsonl --cache runs/cache --out runs/headroom
    """
    from pathlib import Path

    from embedkit.heads.metrics import json_ready
    from embedkit.score.headroom import headroom_report
    from embedkit.score.headroom_output import OUTPUT_NAMES, headroom_markdown, write_headroom

    cfg = config_from(_config(), options)
    existing = [n for n in OUTPUT_NAMES if (Path(out_dir) / n).exists()]
    if existing and not overwrite:  # before the heads are fitted, not after
        raise click.ClickException(
            f"{Path(out_dir) / existing[0]} exists; pass --overwrite or choose another --out"
        )
    from embedkit.cli.common import read_users

    report = headroom_report(
        list(pairs),
        cache_dir,
        cfg,
        progress=progress,
        notify=lambda line: click.echo(line, err=True),
        users=read_users(attributes_file, users_id_field),
    )
    paths = write_headroom(report, out_dir, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(json_ready(report), indent=1, allow_nan=False))
    else:
        click.echo(headroom_markdown(report))
    written = ", ".join(str(p) for p in paths.values() if p is not None)
    click.echo(
        f"written: {written}" + ("" if paths["plot"] else " (no plot: matplotlib is not installed)"), err=True
    )
