"""``embedkit score``: rewards for new (and seen) users from cached vectors."""

from __future__ import annotations

import json

import click

from embedkit.cli.common import head_argument, json_option
from embedkit.cli.options import config_from, config_options, dataset_split_option
from embedkit.score.run import ScoreConfig


@click.command("score")
@head_argument()
@config_options(ScoreConfig)
@json_option("Print the summary as JSON.")
@dataset_split_option
def score_command(head_dir, as_json, **given):
    """Score pairs or candidate responses for each row's user with a trained head, from cached vectors.

    PAL heads personalise: new users' weights are fitted from --fewshot pairs (all users in one batched
    optimisation), users the head was trained on keep theirs, and everyone else gets the zero-shot weights.
    Population heads (bt, mean-var, mse, likert-kl) give one reward for everyone (mean-var adds sigma).
    Inputs stream in chunks; the output is written atomically, so an interrupted run leaves nothing half
    written and simply runs again.

    HEAD is a head's folder (fit-head --out) or, where no such folder exists, a Hugging Face Hub id
    ORG/NAME or ORG/NAME@REVISION, taken from the local Hugging Face cache (offline: HF_HUB_OFFLINE=1) or
    downloaded when online.

    \b
    Examples:
      embedkit score runs/pal-b --cache runs/cache --fewshot new_users.jsonl --pairs todo.jsonl --out scored.jsonl
      embedkit score runs/pal-b --cache runs/cache --user-weights scored.users.jsonl --candidates c.jsonl --out ranked.parquet
    """
    from embedkit.score.run import score_files

    run = config_from(ScoreConfig, given, error=click.UsageError)
    result = score_files(head_dir, run, on_note=lambda line: click.echo(line, err=True))  # reads --users
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"scored {result['rows']} rows -> {result['out']}")
    if "users_file" in result:
        by = ", ".join(f"{n} {s}" for s, n in result["users_by_source"].items())
        only_fewshot = result["users"] - result["users_in_file"]
        extra = f"; {only_fewshot} of them only in the few-shot file(s)" if only_fewshot > 0 else ""
        click.echo(
            f"{result['users_in_file']} users in the scored rows; weights of {result['users']} users ({by}{extra}) "
            f"-> {result['users_file']}"
        )
    if result["accuracy"] is not None:
        left_out = [
            f"{n} {what}" for n, what in ((result["tie_rows"], "ties"), (result["unlabelled_rows"], "unlabelled"))
            if n
        ]  # fmt: skip
        why = f" ({', '.join(left_out)} left out: they prefer no side)" if left_out else ""
        click.echo(
            f"accuracy {result['accuracy']:.4f} on the {result['labelled_pairs']} rows that prefer a side, of "
            f"{result['rows']}{why}"
        )
        for k, v in result["accuracy_by_shots"].items():
            label = {
                "seen": "seen users",
                "population": "population",
                "file": "--user-weights",
                "attributes": "--users only",
            }.get(k, f"{k} shots")
            click.echo(f"  {label:>12}: {v:.4f} ({result['pairs_by_shots'][k]} rows)")
