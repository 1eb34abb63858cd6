"""``embedkit build``: preference datasets built from data embedkit ships or the user has."""

from __future__ import annotations

from pathlib import Path

import click

from embedkit.data.persona import PersonaConfig

_PERSONA_DEFAULTS = PersonaConfig()


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
@click.option(
    "--K-star",
    "k_star",
    default=2,
    show_default=True,
    type=click.IntRange(1, 6),
    help="Number of personas, in PAL Table 1's order (art, literature, math, music, science, sports).",
)
@click.option(
    "--personas", default=None, help="Comma-separated persona names instead of --K-star (e.g. math,music)."
)
@click.option(
    "--persona-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder of persona files (interest-in-<name>.jsonl or <name>.jsonl). Default: data/persona.",
)
@click.option(
    "--users-per-persona",
    default=_PERSONA_DEFAULTS.users_per_persona,
    show_default=True,
    type=click.IntRange(min=1),
    help="N: seen users per persona, and as many unseen users.",
)
@click.option(
    "--queries-per-user",
    default=_PERSONA_DEFAULTS.queries_per_user,
    show_default=True,
    type=click.IntRange(min=1),
    help="n_p: pairs per seen user (split into train/val/test).",
)
@click.option(
    "--queries-per-unseen-user",
    default=_PERSONA_DEFAULTS.queries_per_unseen_user,
    show_default=True,
    type=click.IntRange(min=2),
    help="n_p,unseen: pairs per unseen user (few-shot + held-out test).",
)
@click.option(
    "--fewshot-per-unseen-user",
    default=_PERSONA_DEFAULTS.fewshot_per_unseen_user,
    show_default=True,
    type=click.IntRange(min=1),
    help="Of an unseen user's pairs, how many are few-shot (the rest are unseen_test).",
)
@click.option(
    "--seed",
    default=_PERSONA_DEFAULTS.seed,
    show_default=True,
    type=int,
    help="Seed of the users' queries and of the seen users' train/val/test split.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing pairs.jsonl in --out.")
def persona_command(
    out_dir,
    k_star,
    personas,
    persona_dir,
    users_per_persona,
    queries_per_user,
    queries_per_unseen_user,
    fewshot_per_unseen_user,
    seed,
    overwrite,
):
    """PAL's semi-synthetic persona dataset (section 4.2.1): a user prefers "Yes" exactly when the
    statement agrees with their persona.

    \b
    Then:
      embedkit extract OUT/texts.jsonl --cache CACHE
      embedkit fit-head --model pal-b --K 2 --pairs OUT/pairs.jsonl --cache CACHE --out HEAD
    """
    from embedkit.data.persona import DEFAULT_PERSONA_DIR, build_persona

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    cfg = PersonaConfig(
        k_star=k_star,
        users_per_persona=users_per_persona,
        queries_per_user=queries_per_user,
        queries_per_unseen_user=queries_per_unseen_user,
        fewshot_per_unseen_user=fewshot_per_unseen_user,
        seed=seed,
    )
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
@click.option(
    "--setting",
    type=click.Choice(["mixture", "partition"]),
    default="mixture",
    show_default=True,
    help="Users inside the prototypes' convex hull (mixture) or on the prototypes (partition).",
)
@click.option(
    "--d",
    "d",
    default=16,
    show_default=True,
    type=click.IntRange(min=1),
    help="Dimension of items and ideal points.",
)
@click.option(
    "--K-star",
    "k_star",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="True number of prototypes K*.",
)
@click.option(
    "--users-per-prototype",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seen users = this x K* (PAL: N = 50 K*); as many unseen users.",
)
@click.option(
    "--samples-per-user",
    default=100,
    show_default=True,
    type=click.IntRange(min=2),
    help="n: training comparisons per seen user (a tenth become validation).",
)
@click.option(
    "--test-per-user",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Held-out comparisons per user (PAL: 50).",
)
@click.option(
    "--fewshot-per-unseen-user",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Comparisons of each unseen user available to fit their weights.",
)
@click.option(
    "--delta", default=1.0, show_default=True, type=float, help="Minimum distance between prototypes."
)
@click.option(
    "--flip",
    default="0",
    show_default=True,
    help="Noisy annotators: each user flips labels with a probability drawn from LOW,HIGH (e.g. 0.2,0.3), or one value.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of everything drawn.")
@click.option("--overwrite", is_flag=True, help="Replace an existing pairs.jsonl in --out.")
def synthetic_command(
    out_dir,
    cache_dir,
    setting,
    d,
    k_star,
    users_per_prototype,
    samples_per_user,
    test_per_user,
    fewshot_per_unseen_user,
    delta,
    flip,
    seed,
    overwrite,
):
    """PAL's synthetic ideal-point data (section 4.1, appendix C.1): items and prototypes from N(0, I/d),
    a linear f*, users preferring the item closer to their ideal point. The item vectors go straight into
    --cache (namespace encoder "synthetic"); no encoder runs.

    \b
    Then:
      embedkit fit-head --model pal-a --K 3 --pairs OUT/pairs.jsonl --cache CACHE --encoder NAMESPACE --out HEAD
    """
    from embedkit.data.synthetic import SyntheticConfig, build_synthetic

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    try:
        lo, hi = (float(x) for x in (flip.split(",") * 2)[:2]) if "," in flip else (float(flip), float(flip))
    except ValueError:
        raise click.BadParameter(
            f"expected LOW,HIGH or one number, got {flip!r}", param_hint="--flip"
        ) from None
    cfg = SyntheticConfig(
        d=d, k_star=k_star, setting=setting, users_per_prototype=users_per_prototype,
        samples_per_user=samples_per_user, test_per_user=test_per_user,
        fewshot_per_unseen_user=fewshot_per_unseen_user, delta=delta, flip=(lo, hi), seed=seed,
    )  # fmt: skip
    s = build_synthetic(out_dir, cache_dir, cfg)
    click.echo(
        f"{s['pairs']} pairs over {s['items']} items; {s['seen_users']} seen + {s['unseen_users']} unseen users "
        f"({setting}, K*={k_star}, d={d}); label noise leaves a Bayes accuracy of ~{s['bayes_accuracy']:.3f}"
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
@click.option(
    "--personas",
    default="art,literature,math,music",
    show_default=True,
    help="Comma-separated persona topics.",
)
@click.option(
    "--divisive",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many of the topics (the first ones) split the population.",
)
@click.option(
    "--agreed-ties",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many of the topics (the last ones) leave nearly everyone indifferent: high-agreement ties, "
    "which single-value reward models confuse with disagreement.",
)
@click.option(
    "--pool",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Simulated annotators in the population.",
)
@click.option(
    "--per-pair",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    help="Annotators per pair (MultiPref: 4).",
)
@click.option(
    "--noise",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Standard deviation of the noise on each judgment's strength.",
)
@click.option(
    "--statements-per-topic",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Statements (pairs) per topic.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the population, the judgments and the splits.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing pairs.jsonl in --out.")
def annotators_command(
    out_dir, personas, divisive, agreed_ties, pool, per_pair, noise, statements_per_topic, seed, overwrite
):
    """A semi-synthetic multi-annotator set from the persona statements: simulated annotators who are fans,
    critics or indifferent on each topic judge "Yes" against "No" with graded strengths and Likert scores;
    divisive topics split them, so pairs there diverge; on --agreed-ties topics nearly everyone is indifferent
    (high-agreement ties). Stands in for MultiPref / HelpSteer2 (Diverging
    Preferences, Table 3) and for Beyond the Binary's synthetic judgments; see embedkit/data/annotators.py.

    \b
    Then:
      embedkit extract OUT/texts.jsonl --cache CACHE
      embedkit fit-head --model mean-var --pairs OUT/pairs.jsonl --cache CACHE --out HEAD
    """
    from embedkit.data.annotators import AnnotatorsConfig, build_annotators

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    names = tuple(p.strip() for p in personas.split(",") if p.strip())
    cfg = AnnotatorsConfig(
        personas=names, divisive=divisive, agreed_ties=agreed_ties, pool=pool, per_pair=per_pair, noise=noise,
        statements_per_topic=statements_per_topic, seed=seed,
    )  # fmt: skip
    try:
        s = build_annotators(out_dir, cfg)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"{s['pairs']} pairs ({s['diverging_pairs']} diverging, {100 * s['diverging_share']:.0f}%) judged by "
        f"{per_pair} of {pool} simulated annotators; {s['texts']} texts to extract; wrote {out_dir}/pairs.jsonl"
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
@click.option(
    "--mixture-ratio",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="beta: the share of each user's pairs that get a colour filter.",
)
@click.option(
    "--seen-users",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="The most active users of each group who are seen (the rest are new users).",
)
@click.option(
    "--min-labels",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="Keep users with more than this many non-tie pairs.",
)
@click.option(
    "--tint",
    default=0.3,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Filter strength s: pixel -> (1 - s) pixel + s colour (pure blue or pure red).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the shortlists.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT/pairs.jsonl.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def pick_a_filter_command(
    pairs, out_dir, mixture_ratio, seen_users, min_labels, tint, seed, overwrite, progress
):
    """PAL's Pick-a-Filter (section 4.2.2, appendix B) from a converted Pick-a-Pic pair file.

    Keeps non-tie pairs of users with pairs in both train and test and more than --min-labels of them,
    sorts them by count and alternates them into two equal groups with similar totals: G1 prefers cold tones
    (blue filter), G2 warm (red). The --seen-users most active of each group are seen. Per user, a share
    --mixture-ratio of the pairs is shortlisted; half get the group's winning filter on the winner, half the
    losing filter on the loser; labels are unchanged. Rows record group, filtered (none / winner / loser),
    user_split and an embedkit split. A Table 5 report is printed and written to OUT/report.json; see
    embedkit/data/pickapic.py.

    \b
    Then:
      embedkit extract OUT/pairs.jsonl --cache CACHE --encoder clip-h14
      embedkit fit-head --model pal-b --K 2 --pairs OUT/pairs.jsonl --cache CACHE --encoder clip-h14 --out HEAD
    """
    from embedkit.data.pickapic import PickAFilterConfig, build_pick_a_filter, table5_lines

    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")
    cfg = PickAFilterConfig(
        mixture_ratio=mixture_ratio, seen_users=seen_users, min_labels=min_labels, tint=tint, seed=seed
    )
    report = build_pick_a_filter(pairs, out_dir, cfg, progress=progress)
    click.echo(
        f"{report['users_kept']} users ({report['users_in_train_and_test']} with pairs in train and test), "
        f"{report['pairs']} pairs ({report['ties_dropped']} ties dropped); filtered: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report["filtered"].items()))
    )
    for line in table5_lines(report):
        click.echo(line)
    click.echo(f"wrote {out_dir}/pairs.jsonl, images/ and report.json")
