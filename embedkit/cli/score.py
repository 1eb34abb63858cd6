"""``embedkit score``: rewards for new (and seen) users from cached vectors."""

from __future__ import annotations

import json
from pathlib import Path

import click

from embedkit.atomic import committing, finish_commit
from embedkit.cli.common import (
    cache_option,
    extract_missing_option,
    head_argument,
    head_device_option,
    read_users,
    users_options,
)
from embedkit.cli.options import dataset_split_option


@click.command("score")
@head_argument()
@cache_option()
@click.option(
    "--pairs",
    multiple=True,
    type=click.Path(),
    help="Pairs to score (the pair format; labels optional): each output row is the input row plus p_left "
    "(probability the left / chosen response is preferred by the row's user), reward_left, reward_right.",
)
@click.option(
    "--candidates",
    multiple=True,
    type=click.Path(),
    help='Rows {"user", "prompt", "responses": [...]}: each output row adds rewards (one per response) and '
    "ranking (response indices, best first).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: JSONL, or Parquet for .parquet. The users' weights go to OUT.users.jsonl (.parquet).",
)
@click.option(
    "--fewshot",
    multiple=True,
    type=click.Path(),
    help="Labelled pairs with a user field: each of their users' weights is fitted from them (PAL heads). "
    "Users without few-shot pairs get zero-shot weights; seen users keep their trained weights.",
)
@users_options(
    "PAL heads: a user in it with no few-shot pairs (and not a seen user) is scored from attributes alone "
    "(the head's attribute prior); with few-shot pairs, their attribute point is the prior's mean."
)
@click.option(
    "--user-weights",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A users file from an earlier run (OUT.users.jsonl): score again without refitting those users.",
)
@click.option(
    "--fewshot-method",
    type=click.Choice(["map", "mle", "knn"]),
    default=None,
    help="How --fewshot weights are fitted (default: the head's, map). See `embedkit fit-head --help`.",
)
@extract_missing_option()
@click.option(
    "--chunk-size",
    default=50_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows scored at a time.",
)
@head_device_option()
@click.option("--overwrite", is_flag=True, help="Replace an existing --out (and its users file).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@dataset_split_option
def score_command(
    head_dir,
    cache_dir,
    pairs,
    candidates,
    out,
    fewshot,
    attributes_file,
    users_id_field,
    user_weights,
    fewshot_method,
    extract_missing,
    chunk_size,
    device,
    overwrite,
    as_json,
    progress,
):
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
    from embedkit.errors import MissingKeysError
    from embedkit.score import (
        UserWeights,
        extract_missing_inputs,
        fit_users,
        load_reward_model,
        missing_inputs_error,
        read_fewshot,
        score_candidates_file,
        score_pairs_file,
        users_file,
    )

    if bool(pairs) == bool(candidates):
        raise click.UsageError("give exactly one of --pairs or --candidates")
    out_path, users_path = Path(out), users_file(out)
    finish_commit(out_path)  # a run killed after it committed its two files: complete it first
    for p in (out_path, users_path):
        if p.exists() and not overwrite:
            raise click.ClickException(f"{p} exists; pass --overwrite or choose another --out")
    model = load_reward_model(head_dir, cache=cache_dir, device=device, allow_encode=False)
    head = model.head
    if (fewshot or user_weights or attributes_file) and not head.uses_user_weights:
        raise click.UsageError(
            f"--fewshot / --users / --user-weights apply to PAL heads; {head.name} is a population model"
        )
    attrs = read_users(attributes_file, users_id_field)
    inputs = list(pairs or candidates)
    kind = "pairs" if pairs else "candidates"
    if extract_missing:
        done = extract_missing_inputs(model, list(fewshot), inputs, kind=kind, progress=progress)
        if done.encoded:
            click.echo(f"embedded {done.encoded} input(s) the cache lacked into {cache_dir}", err=True)
    model.embedder.open()  # a cache that lacks the head's vectors: its error before any progress bar
    try:
        weights = None
        if head.uses_user_weights:
            given = UserWeights.load(user_weights, head.config.K) if user_weights else None
            fs = read_fewshot(model, list(fewshot)) if fewshot else None
            weights = fit_users(head, fs, given=given, method=fewshot_method, attributes=attrs)
        scorer = score_pairs_file if pairs else score_candidates_file
        # The scored rows and the users' weights change together: both are written under hidden names,
        # then renamed, the users file first and the scored file last (embedkit.atomic.committing).
        with committing(users_path, out_path) as (users_tmp, out_tmp):
            summary, uw = scorer(
                model, inputs, out_tmp, weights=weights, chunk_size=chunk_size, progress=progress
            )
            if uw is not None:
                uw.save(users_tmp)
    except MissingKeysError as e:  # name every input the cache lacks, not just the first chunk's
        raise missing_inputs_error(model, list(fewshot), inputs, kind, cache_dir, e) from None
    result = summary.to_dict()
    result["out"] = str(out_path)
    if uw is not None:
        result["users_file"] = str(users_path)
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(f"scored {result['rows']} rows -> {out_path}")
    if uw is not None:
        by = ", ".join(f"{n} {s}" for s, n in result["users_by_source"].items())
        only_fewshot = result["users"] - result["users_in_file"]
        extra = f"; {only_fewshot} of them only in the few-shot file(s)" if only_fewshot > 0 else ""
        click.echo(
            f"{result['users_in_file']} users in the scored rows; weights of {result['users']} users ({by}{extra}) "
            f"-> {users_path}"
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
