"""``embedkit build``: preference datasets built from data embedkit ships or the user has."""

from __future__ import annotations

from pathlib import Path

import click

from embedkit.cli.options import config_from, config_options
from embedkit.datasets.annotators import AnnotatorsConfig
from embedkit.datasets.persona import PersonaConfig
from embedkit.datasets.pick_a_filter import PickAFilterConfig
from embedkit.datasets.synthetic import SyntheticConfig


@click.group("build")
def build_group():
    """Build preference datasets."""


@build_group.command("persona")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder for pairs.jsonl, texts.jsonl and persona.json.",
)
@config_options(PersonaConfig, skip=("val_frac", "test_frac"))
@click.option(
    "--personas", default=None, help="Comma-separated persona names instead of --K-star (e.g. math,music)."
)
@click.option(
    "--persona-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder of persona files (interest-in-<name>.jsonl or <name>.jsonl). Default: data/persona.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing pairs.jsonl in --out.")
def persona_command(out_dir, personas, persona_dir, overwrite, **options):
    """PAL's semi-synthetic persona dataset (section 4.2.1): a user prefers "Yes" exactly when the
    statement agrees with their persona.

    \b
    Then:
      embedkit extract OUT/texts.jsonl --cache CACHE
      embedkit fit-head --model pal-b --K 2 --pairs OUT/pairs.jsonl --cache CACHE --out HEAD
    """
    from embedkit.datasets.persona import DEFAULT_PERSONA_DIR, build_persona

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    cfg = config_from(PersonaConfig, options)
    names = [p.strip() for p in personas.split(",") if p.strip()] if personas else None
    s = build_persona(out_dir, cfg, persona_dir or DEFAULT_PERSONA_DIR, names)
    click.echo(
        f"{s['pairs']} pairs from {s['statements']} statements of {', '.join(s['personas'])}; "
        f"{s['seen_users']} seen + {s['unseen_users']} unseen users; {s['texts']} texts to extract"
    )
    click.echo(
        f"wrote {out_dir}/pairs.jsonl, {out_dir}/texts.jsonl (and the unseen users' fewshot.jsonl, unseen_test.jsonl)"
    )


@build_group.command("synthetic")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for pairs.jsonl and truth.json.",
)
@click.option(
    "--cache",
    "cache_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Cache the item vectors go into.",
)
@config_options(SyntheticConfig)
@click.option("--overwrite", is_flag=True, help="Replace an existing pairs.jsonl in --out.")
def synthetic_command(out_dir, cache_dir, overwrite, **options):
    """PAL's synthetic ideal-point data (section 4.1, appendix C.1): items and prototypes from N(0, I/d),
    a linear f*, users preferring the item closer to their ideal point. The item vectors go straight into
    --cache (namespace encoder "synthetic"); no encoder runs.

    \b
    Then:
      embedkit fit-head --model pal-a --K 3 --pairs OUT/pairs.jsonl --cache CACHE --encoder NAMESPACE --out HEAD
    """
    from embedkit.datasets.synthetic import build_synthetic

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    cfg = config_from(SyntheticConfig, options)
    s = build_synthetic(out_dir, cache_dir, cfg)
    click.echo(
        f"{s['pairs']} pairs over {s['items']} items; {s['seen_users']} seen + {s['unseen_users']} unseen users "
        f"({cfg.setting}, K*={cfg.k_star}, d={cfg.d}); label noise leaves a Bayes accuracy of ~{s['bayes_accuracy']:.3f}"
    )
    click.echo(
        f"wrote {out_dir}/pairs.jsonl and truth.json; item vectors in {cache_dir}, namespace {s['namespace']}"
    )


@build_group.command("annotators")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for pairs.jsonl and texts.jsonl.",
)
@config_options(AnnotatorsConfig, skip=("val_frac", "test_frac"))
@click.option("--overwrite", is_flag=True, help="Replace an existing pairs.jsonl in --out.")
def annotators_command(out_dir, overwrite, **options):
    """A semi-synthetic multi-annotator set from the persona statements: simulated annotators who are fans,
    critics or indifferent on each topic judge "Yes" against "No" with graded strengths and Likert scores;
    divisive topics split them, so pairs there diverge; on --agreed-ties topics nearly everyone is indifferent
    (high-agreement ties). Stands in for MultiPref / HelpSteer2 (Diverging
    Preferences, Table 3) and for Beyond the Binary's synthetic judgments; see embedkit/datasets/annotators.py.

    \b
    Then:
      embedkit extract OUT/texts.jsonl --cache CACHE
      embedkit fit-head --model mean-var --pairs OUT/pairs.jsonl --cache CACHE --out HEAD
    """
    from embedkit.datasets.annotators import build_annotators

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    cfg = config_from(AnnotatorsConfig, options)
    s = build_annotators(out_dir, cfg)
    click.echo(
        f"{s['pairs']} pairs ({s['diverging_pairs']} diverging, {100 * s['diverging_share']:.0f}%) judged by "
        f"{cfg.per_pair} of {cfg.pool} simulated annotators; {s['texts']} texts to extract; wrote {out_dir}/pairs.jsonl"
    )


@build_group.command("pick-a-filter")
@click.argument("pairs", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for pairs.jsonl, images/ and report.json.",
)
@config_options(PickAFilterConfig)
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT/pairs.jsonl.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def pick_a_filter_command(pairs, out_dir, overwrite, progress, **options):
    """PAL's Pick-a-Filter (section 4.2.2, appendix B) from a converted Pick-a-Pic pair file.

    Keeps non-tie pairs of users with pairs in both train and test and more than --min-labels of them,
    sorts them by count and alternates them into two equal groups with similar totals: G1 prefers cold tones
    (blue filter), G2 warm (red). The --seen-users most active of each group are seen. Per user, a share
    --mixture-ratio of the pairs is shortlisted; half get the group's winning filter on the winner, half the
    losing filter on the loser; labels are unchanged. Rows record group, filtered (none / winner / loser),
    user_split and an embedkit split. A Table 5 report is printed and written to OUT/report.json; see
    embedkit/datasets/pick_a_filter.py.

    \b
    Then:
      embedkit extract OUT/pairs.jsonl --cache CACHE --encoder clip-h14
      embedkit fit-head --model pal-b --K 2 --pairs OUT/pairs.jsonl --cache CACHE --encoder clip-h14 --out HEAD
    """
    from embedkit.datasets.pick_a_filter import build_pick_a_filter, table5_lines

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    cfg = config_from(PickAFilterConfig, options)
    report = build_pick_a_filter(pairs, out_dir, cfg, progress=progress)
    click.echo(
        f"{report['users_kept']} users ({report['users_in_train_and_test']} with pairs in train and test), "
        f"{report['pairs']} pairs ({report['ties_dropped']} ties dropped); filtered: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report["filtered"].items()))
    )
    for line in table5_lines(report):
        click.echo(line)
    click.echo(f"wrote {out_dir}/pairs.jsonl, images/ and report.json")
