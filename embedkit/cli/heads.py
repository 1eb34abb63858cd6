"""``embedkit build persona``, ``embedkit fit-head`` and ``embedkit eval``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from embedkit.cli.common import cache_option
from embedkit.data.persona import PersonaConfig
from embedkit.data.splits import SplitConfig
from embedkit.heads.config import BTConfig, MeanVarConfig, PALAConfig, PALBConfig, TrainConfig

_PERSONA_DEFAULTS = PersonaConfig()
_SPLIT_DEFAULTS = SplitConfig()

# Head name -> config class: the options of fit-head. It mirrors embedkit.heads.api.HEADS (a test checks)
# without importing the heads, which would pull torch into every `--help`.
_CONFIGS = {
    "pal-a": PALAConfig,
    "pal-b": PALBConfig,
    "mean-var": MeanVarConfig,
    "bt": BTConfig,
    "mse": TrainConfig,
    "likert-kl": TrainConfig,
}


def head_config_options(f):
    """One click option per config field of any head; help says which heads use it and the default."""
    fields: dict[str, list] = {}
    for head, cls in _CONFIGS.items():
        for fld in dataclasses.fields(cls):
            fields.setdefault(fld.name, []).append((head, fld))
    for name in reversed(list(fields)):
        uses = fields[name]
        fld = uses[0][1]
        heads = [h for h, _ in uses]
        applies = "all heads" if len(heads) == len(_CONFIGS) else ", ".join(heads)
        helps = {fl.metadata["help"] for _, fl in uses}
        text = (
            " / ".join(f"{h}: {fl.metadata['help']}" for h, fl in uses)
            if len(helps) > 1
            else fld.metadata["help"]
        )
        if len({repr(fl.default) for _, fl in uses}) == 1:
            text += f" [{applies}; default {fld.default!r}]"
        else:
            text += " [default " + ", ".join(f"{h}: {fl.default!r}" for h, fl in uses) + "]"
        choices = sorted({c for _, fl in uses for c in (fl.metadata.get("choices") or ())})
        opt_name = "--" + name.replace("_", "-")
        if isinstance(fld.default, bool):
            f = click.option(f"{opt_name}/--no-{name.replace('_', '-')}", name, default=None, help=text)(f)
        else:
            typ = click.Choice(choices) if choices else type(fld.default)
            f = click.option(opt_name, name, type=typ, default=None, help=text)(f)
    return f


def build_config(model: str, given: dict):
    """The head's Config from the options the user set; an option of another head is an error."""
    cls = _CONFIGS[model]
    names = {fl.name for fl in dataclasses.fields(cls)}
    set_opts = {k: v for k, v in given.items() if v is not None}
    foreign = sorted(set(set_opts) - names)
    if foreign:
        raise click.UsageError(
            f"--model {model} has no option(s) {', '.join('--' + k.replace('_', '-') for k in foreign)}"
        )
    cfg = cls(**set_opts)
    cfg.validate()
    return cfg


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
@click.option("--seed", default=_PERSONA_DEFAULTS.seed, show_default=True, type=int)
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


def _split_options(f):
    for opt in reversed(
        [
            click.option(
                "--val-frac",
                default=_SPLIT_DEFAULTS.val_frac,
                show_default=True,
                help="Without a split column: seen-user pairs for validation.",
            ),
            click.option(
                "--test-frac",
                default=_SPLIT_DEFAULTS.test_frac,
                show_default=True,
                help="Without a split column: seen-user pairs for test.",
            ),
            click.option(
                "--unseen-user-frac",
                default=_SPLIT_DEFAULTS.unseen_user_frac,
                show_default=True,
                help="Without a split column: users held out as unseen.",
            ),
            click.option(
                "--fewshot-frac",
                default=_SPLIT_DEFAULTS.fewshot_frac,
                show_default=True,
                help="Without a split column: share of an unseen user's pairs for few-shot.",
            ),
            click.option(
                "--responses",
                type=click.Choice(["in-context", "alone"]),
                default="in-context",
                show_default=True,
                help="How responses were extracted (must match `embedkit extract --responses`).",
            ),
        ]
    ):
        f = opt(f)
    return f


@click.command("fit-head")
@click.option(
    "--model", "model", required=True, type=click.Choice(list(_CONFIGS)), help="Which head to train."
)
@click.option(
    "--pairs",
    "pairs",
    required=True,
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Pair file(s) in the documented format (docs/pairs-format.md); repeat for several.",
)
@cache_option()
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Head directory to write."
)
@click.option(
    "--encoder",
    default="minilm",
    show_default=True,
    help="Which cached namespace to train on: encoder name (or namespace id) used at extraction.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing head directory.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@_split_options
@head_config_options
def fit_head_command(
    model,
    pairs,
    cache_dir,
    out_dir,
    encoder,
    overwrite,
    progress,
    val_frac,
    test_frac,
    unseen_user_frac,
    fewshot_frac,
    responses,
    **config,
):
    """Train a reward head on cached embeddings (the encoder never runs).

    Texts are looked up in --cache by content; whatever is missing is named, with the extract command
    to run. The head is written to --out as config.json + model.safetensors + README.md.

    \b
    Example:
      embedkit fit-head --model pal-b --K 2 --pairs runs/persona/pairs.jsonl --cache runs/cache --out runs/pal-b
    """
    from embedkit.heads import create_head, load_pair_data

    cfg = build_config(model, config)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise click.ClickException(f"{out} exists and is not empty; pass --overwrite or choose another --out")
    data = load_pair_data(
        list(pairs),
        cache_dir,
        encoder=encoder,
        split=SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, cfg.seed),
        responses=responses,
    )
    head = create_head(model, **dataclasses.asdict(cfg)).fit(data, progress=progress)
    head.save(out, overwrite=overwrite)
    click.echo(
        f"{model}: {head.history_['epochs_run']} epochs, best validation {head.val_metric} "
        f"{head.history_['best_val']:.4f} (epoch {head.history_['best_epoch']}); saved to {out}"
    )
    _print_metrics(head.metrics_)


@click.command("eval")
@click.argument("head_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--pairs", "pairs", required=True, multiple=True, type=click.Path(dir_okay=False))
@cache_option()
@click.option(
    "--shots", default=None, help="PAL: comma-separated few-shot sizes for unseen users (e.g. 1,5,10)."
)
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON.")
@click.option(
    "--device", default=None, help="Run the head on this device (default: the one it was trained with)."
)
@_split_options
def eval_command(
    head_dir,
    pairs,
    cache_dir,
    shots,
    as_json,
    device,
    val_frac,
    test_frac,
    unseen_user_frac,
    fewshot_frac,
    responses,
):
    """Metrics of a saved head on pair files: seen users per split, unseen users by shots, per-user spread."""
    from embedkit.heads import load_head, load_pair_data

    head = load_head(head_dir, device=device)
    data = load_pair_data(
        list(pairs),
        cache_dir,
        encoder=head.fingerprint_,
        split=SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, head.config.seed),
        responses=responses,
    )
    kwargs = {}
    if shots:
        if not head.name.startswith("pal"):
            raise click.UsageError("--shots applies to pal-a / pal-b heads")
        try:
            kwargs["shots"] = [int(s) for s in shots.split(",")]
        except ValueError:
            raise click.BadParameter(
                f"expected integers like 1,5,10, got {shots!r}", param_hint="--shots"
            ) from None
        if min(kwargs["shots"]) < 1:
            raise click.BadParameter("shots must be >= 1", param_hint="--shots")
    metrics = head.evaluate(data, **kwargs)
    if as_json:
        click.echo(json.dumps(metrics, indent=1))
    else:
        _print_metrics(metrics)


def _print_metrics(metrics: dict) -> None:
    rows = list(_flatten(metrics))
    width = max((len(k) for k, _ in rows), default=0)
    for k, v in rows:
        click.echo(f"{k.ljust(width)}  {v:.4f}" if isinstance(v, float) else f"{k.ljust(width)}  {v}")


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v
