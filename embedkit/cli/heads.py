"""``embedkit fit-head`` and ``embedkit eval``: parse the options, call the library (``create_head(...).fit``,
``embedkit.heads.select_k``, ``embedkit.heads.evaluate.evaluate_head``), print. The options generated from
the heads' configs: ``cli/head_options.py``; the metrics table: ``cli/metrics_table.py``."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click

from embedkit.cli.common import head_argument, json_option, progress_lines
from embedkit.cli.head_options import FitHeadCommand
from embedkit.cli.metrics_table import print_metrics
from embedkit.cli.options import (
    config_from,
    config_options,
    dataset_split_option,
    split_options,
    take_split_options,
)
from embedkit.data.splits import SplitConfig
from embedkit.heads.run_config import EvalConfig, FitConfig

_SPLIT_HELP = {  # the split options' help in fit-head (eval: without "(early stopping)", + the default)
    "val_frac": "Without a split column: seen users' pairs for validation (early stopping).",
    "test_frac": "Without a split column: seen users' pairs for test.",
    "unseen_user_frac": "Without a split column: users held out of training as unseen (new) users.",
    "fewshot_frac": "Without a split column: share of each unseen user's pairs used to fit their weights "
    "(few-shot); the rest test.",
    "by": "Without a split column: val/test pairs drawn within each seen user (user; their items may be in "
    "training pairs too), or item-disjoint (item: val/test items held out, a pair in a split only when both "
    "its items are; pairs across splits are left out).",
}
_EVAL_SPLIT_HELP = {
    k: v.replace(" (early stopping)", "") + " Default: the head's." for k, v in _SPLIT_HELP.items()
}


@click.command("fit-head", cls=FitHeadCommand)
@config_options(FitConfig, skip=("split",))
@json_option("Print the training summary and metrics as one JSON object (with --K auto, the selection too).")
@split_options(helps=_SPLIT_HELP)
@dataset_split_option
def fit_head_command(as_json, **given):
    """Train a reward head on cached embeddings (the encoder never runs).

    Texts are looked up in --cache by content; whatever is missing is named, with the complete extract
    command to run. The head is written to --out as config.json + model.safetensors + README.md, and it
    remembers its data set-up (pair files and their hashes, splits, --responses, encoder namespace), so
    `embedkit eval` sees the data exactly as training did.

    \b
    Example:
      embedkit fit-head --model pal-b --K 2 --pairs runs/persona/pairs.jsonl --cache runs/cache --out runs/pal-b
    """
    t_start = time.perf_counter()
    from embedkit.heads.fit import fit_head

    imports = time.perf_counter() - t_start  # torch and the heads, on first use
    split = config_from(SplitConfig, take_split_options(given), error=click.UsageError)  # --seed: the head's
    run = config_from(FitConfig, given, error=click.UsageError, split=split)
    options = given  # what is left: the head's own options (None: not given)
    progress_lines(run.progress)
    result = fit_head(run, options)  # reads --users after checking the options
    head, selection = result.head, result.selection
    timings = {"imports": imports, **result.timings, "command": time.perf_counter() - t_start}
    h = head.history_
    if as_json:
        from embedkit.heads.metrics import json_ready

        summary = {
            "model": run.model,
            "out": str(run.out_dir),
            "config": dataclasses.asdict(head.config),
            "epochs_run": h["epochs_run"],
            "best_epoch": h["best_epoch"],
            "val_metric": head.val_metric,
            "best_val": h["best_val"],
            "metrics": head.metrics_,
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        if selection is not None:
            summary["k_selection"] = selection.to_dict()
        click.echo(json.dumps(json_ready(summary), indent=1, allow_nan=False))
        return
    if selection is not None:
        _print_selection(selection, Path(run.out_dir))
    click.echo(
        f"{run.model}: {h['epochs_run']} epochs (best at {h['best_epoch']}); validation {head.val_metric} "
        f"{h['best_val']:.4f}; saved to {run.out_dir}"
    )
    print_metrics(head.name, head.metrics_)


def _print_selection(sel, out: Path) -> None:
    """--K auto: the table of K = 1..K_MAX, the recommendation and where the selection was saved."""
    click.echo("  K  val accuracy (± 1 SE)  val loss  test accuracy  seconds")
    for r in sel.rows:
        mark = "  <- chosen" if r["K"] == sel.chosen else ""
        mark += f"  (mean of {len(r['val_accuracy_seeds'])} seeds)" if "val_accuracy_seeds" in r else ""
        mark += "  (stopped at the epoch cap, unconverged)" if not r.get("converged", True) else ""
        loss = f"{r['val_loss']:.4f}" if r.get("val_loss") is not None else "   -  "
        click.echo(
            f"{r['K']:>3}  {r['val_accuracy']:.4f} ± {r['val_se']:.4f}       {loss}    {r['test_accuracy']:.4f}"
            f"    {r['seconds']:>6.1f}{mark}"
        )
    click.echo(sel.message)
    for warning in sel.warnings:
        click.echo(f"warning: {warning}")
    plot = out / "k_selection.png"
    click.echo(f"selection: {out / 'k_selection.json'}" + (f", plot {plot}" if plot.exists() else ""))


@click.command("eval")
@head_argument()
@config_options(EvalConfig, skip=("split",))
@json_option("Print metrics as JSON (undefined metrics are null).")
@split_options(helps=_EVAL_SPLIT_HELP, stored=True)
@dataset_split_option
def eval_command(head_dir, as_json, **given):
    """Metrics of a saved head on pair files: seen users per split, unseen users by shots, per-user spread.

    The head's data set-up is used by default: its split fractions and seed, its --responses and its
    encoder namespace, so evaluating on the training files reproduces the training splits exactly (the split
    options change the fractions; the seed is always the head's). On
    other files, users the head has not seen are evaluated as new (unseen) users. A file with group /
    filtered columns (Pick-a-Filter) also gets test metrics per value of each (by.group.*, by.filtered.*).

    HEAD is a head's folder (fit-head --out) or, where no such folder exists, a Hugging Face Hub id
    ORG/NAME or ORG/NAME@REVISION, taken from the local Hugging Face cache (offline: HF_HUB_OFFLINE=1) or
    downloaded when online.
    """
    from embedkit.heads import load_head
    from embedkit.heads.evaluate import evaluate_run

    split = take_split_options(given)
    run = config_from(EvalConfig, given, error=click.UsageError, split=split)
    head = load_head(head_dir, device=run.device)
    metrics = evaluate_run(head, run, on_note=lambda note: click.echo(f"note: {note}", err=True))
    if as_json:
        from embedkit.heads.metrics import json_ready

        click.echo(json.dumps(json_ready(metrics), indent=1, allow_nan=False))
    else:
        print_metrics(head.name, metrics)
