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
    click.echo(f"wrote {out_dir}/pairs.jsonl, {out_dir}/texts.jsonl")
