"""``embedkit rewardbench``: a head's RewardBench / RewardBench 2 scores, per subset and per section."""

from __future__ import annotations

import json
from pathlib import Path

import click

from embedkit.cli.common import (
    cache_option,
    extract_missing_option,
    head_argument,
    head_device_option,
    json_option,
)
from embedkit.cli.options import field_options
from embedkit.options import REQUIRED, opt


def _markdown_path(out: Path) -> Path:
    return out.with_suffix(".md")


@click.command("rewardbench")
@head_argument()
@field_options(
    data=opt(
        REQUIRED,
        "A file of `embedkit convert rewardbench` (RewardBench filtered or RewardBench 2).",
        path="any",
    )
)
@cache_option()
@field_options(
    out=opt(
        REQUIRED,
        "Results as JSON (per-subset scores and counts, section scores, overall, the head and point scored); "
        "the same table in Markdown goes to OUT with the suffix .md.",
        path="file",
    ),
    users=opt(
        (),
        "PAL heads: score at this seen user's weights (repeat for several; one column each).",
        cli="--user",
        multiple=True,
    ),
    prototypes=opt(
        (),
        "PAL heads: score at prototype k (its one-hot weights; repeat, or 'all' for every prototype).",
        cli="--prototype",
        multiple=True,
    ),
)
@extract_missing_option("texts")
@head_device_option()
@field_options(overwrite=opt(False, "Replace an existing --out (and its .md)."))
@json_option("Print the results as JSON instead of a table.")
@field_options(progress=opt(True, "Show extraction progress."))
def rewardbench_command(
    head_dir, data, cache_dir, out, users, prototypes, extract_missing, device, overwrite, as_json, progress
):
    """Score a head on RewardBench or RewardBench 2 as allenai/reward-bench scores them.

    RewardBench: a row is won when reward(chosen) > reward(rejected) (a tie is lost); each section (Chat,
    Chat Hard, Safety, Reasoning) weights its subsets by upstream's EXAMPLE_COUNTS; overall is the mean of
    the sections. RewardBench 2: best-of-4 (chosen[0] must have the top reward; a tie at the top shares the
    win), the Ties subset by its own rule (accuracy and margins of ref / tied prompts); overall is the mean
    of the six subsets. Population heads (bt, mean-var, ...) give one score; a PAL head is scored at each
    --user and --prototype given, or at its zero-shot (mean) weights without either. Rules and upstream
    sources (allenai/reward-bench scripts/run_rm.py, scripts/run_v2.py, rewardbench/utils.py,
    rewardbench/constants.py): docs/metrics.md.

    \b
    Example:
      embedkit convert rewardbench filtered.parquet --out rb/pairs.jsonl
      embedkit extract rb/pairs.jsonl --cache rb/cache --encoder minilm
      embedkit rewardbench runs/pal-b --data rb/pairs.jsonl --cache rb/cache --prototype all --out rb/pal-b.json
    """
    from embedkit.atomic import write_text
    from embedkit.errors import MissingKeysError
    from embedkit.score import extract_missing_inputs, load_reward_model, missing_inputs_error
    from embedkit.score.rewardbench import read_rewardbench, results_table, score_rewardbench

    out_path = Path(out)
    for p in (out_path, _markdown_path(out_path)):
        if p.exists() and not overwrite:
            raise click.ClickException(f"{p} exists; pass --overwrite or choose another --out")
    model = load_reward_model(head_dir, cache=cache_dir, device=device, allow_encode=False)
    head = model.head
    if (users or prototypes) and not head.uses_user_weights:
        raise click.UsageError(f"--user / --prototype apply to PAL heads; {head.name} is a population model")
    points: list[str | None] = list(users)
    for k in prototypes:
        if k == "all":
            points += [f"prototype:{i}" for i in range(head.config.K)]
        elif k.isdigit():
            points.append(f"prototype:{k}")
        else:
            raise click.BadParameter(
                f"expected a prototype number or 'all', got {k!r}", param_hint="--prototype"
            )
    points = list(dict.fromkeys(points)) or [None]
    bench = read_rewardbench(data)
    if extract_missing:
        done = extract_missing_inputs(model, [], [data], kind="pairs", progress=progress)
        if done.encoded:
            click.echo(f"embedded {done.encoded} input(s) the cache lacked into {cache_dir}", err=True)
    try:
        results = [score_rewardbench(model, bench, user=p) for p in points]
    except MissingKeysError as e:
        raise missing_inputs_error(model, [], [data], "pairs", cache_dir, e) from None
    report = {
        "head": str(head_dir),
        "model": head.name,
        "K": head.config.K if head.uses_user_weights else None,
        "encoder": head.fingerprint_.describe(),
        "data": str(data),
        "benchmark": results[0]["benchmark"],
        "results": results,
    }
    table = results_table(results)
    md = (
        f"# {report['benchmark']}: {head.name} head `{head_dir}`\n\nData `{data}`, encoder {report['encoder']}.\n\n"
        + results_table(results, markdown=True)
    )
    write_text(out_path, json.dumps(report, indent=1) + "\n")
    write_text(_markdown_path(out_path), md)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"{report['benchmark']}: {head.name} head {head_dir} on {bench.path} ({len(bench)} rows)")
    click.echo(table, nl=False)
    first = results[0]
    if not first["complete"]:
        click.echo(
            f"not the whole benchmark: {len(first['missing_subsets'])} subset(s) missing "
            f"({', '.join(first['missing_subsets'][:4])}{', ...' if len(first['missing_subsets']) > 4 else ''}); "
            "sections and overall are over the subsets present",
            err=True,
        )
    if first["unsectioned_subsets"]:
        click.echo(
            f"subsets outside the benchmark's sections (scored, not in overall): {', '.join(first['unsectioned_subsets'])}",
            err=True,
        )
    click.echo(f"wrote {out_path} and {_markdown_path(out_path)}")
