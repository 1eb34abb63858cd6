"""``embedkit fit-head`` and ``embedkit eval``: parse the options, call the library (``create_head(...).fit``,
``embedkit.heads.select_k``, ``embedkit.heads.evaluate.evaluate_head``), print. The options generated from
the heads' configs: ``cli/head_options.py``; the metrics table: ``cli/metrics_table.py``."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click

from embedkit.cli.common import (
    cache_option,
    head_argument,
    head_device_option,
    pairs_option,
    progress_lines,
    read_users,
    users_options,
)
from embedkit.cli.head_options import FitHeadCommand, build_config, split_options
from embedkit.cli.metrics_table import print_metrics
from embedkit.cli.options import dataset_split_option
from embedkit.data.splits import SplitConfig
from embedkit.heads.registry import HEADS


@click.command("fit-head", cls=FitHeadCommand)
@click.option("--model", "model", required=True, type=click.Choice(list(HEADS)), help="Which head to train.")
@pairs_option(
    "Pair file(s) in the documented format (docs/pairs-format.md): JSONL, CSV, Parquet, or a Hugging Face "
    "dataset folder (save_to_disk) or .arrow file; repeat for several."
)
@users_options(
    "PAL heads: a prior over new users' weights from their attributes, used where it beats the population "
    "point on the held-out calibration users."
)
@cache_option()
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Head directory to write."
)
@click.option(
    "--encoder",
    default="minilm",
    show_default=True,
    help="Which cached namespace to train on: the --encoder given to `embedkit extract`, or a namespace id "
    "from `embedkit cache ls`.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing head directory.")
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar per epoch."
)
@click.option(
    "--K-max",
    "k_max",
    default=6,
    show_default=True,
    type=click.IntRange(min=1),
    help="With --K auto: try K = 1..K_MAX and keep the smallest within noise of the best.",
)
@click.option(
    "--K-repeats",
    "k_repeats",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="With --K auto: when the validation curve over K is not monotonic (training noise), fit the Ks "
    "near the best this many more times with other seeds and choose on the mean (0 = never).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the training summary and metrics as one JSON object (with --K auto, the selection too).",
)
@split_options(for_eval=False)
@dataset_split_option
def fit_head_command(
    model,
    pairs,
    attributes_file,
    users_id_field,
    cache_dir,
    out_dir,
    encoder,
    overwrite,
    progress,
    k_max,
    k_repeats,
    as_json,
    val_frac,
    test_frac,
    unseen_user_frac,
    fewshot_frac,
    split_by,
    responses,
    **config,
):
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
    from embedkit.heads import create_head, load_pair_data

    timings = {"imports": time.perf_counter() - t_start}  # torch and the heads, on first use
    k_auto = config.get("K") == "auto"
    if k_auto:
        from embedkit.heads import HEADS, head_class

        if not head_class(model).supports_auto_k:
            able = " / ".join(n for n in sorted(HEADS) if head_class(n).supports_auto_k)
            raise click.UsageError(f"--K auto chooses the prototypes of {able} heads, not {model}")
        config["K"] = None
    cfg = build_config(model, config)
    if attributes_file:
        from embedkit.heads import head_class

        if not head_class(model).supports_user_attributes:
            raise click.UsageError(
                f"--users is a prior over per-user weights (pal-a, pal-b); {model} has none"
            )
        if k_auto:
            raise click.UsageError(
                "--users takes a fixed --K (choose K with --K auto first, then refit with --users)"
            )
    attrs = read_users(attributes_file, users_id_field)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise click.ClickException(f"{out} exists and is not empty; pass --overwrite or choose another --out")
    data = load_pair_data(
        list(pairs),
        cache_dir,
        encoder=encoder,
        split=SplitConfig(val_frac, test_frac, unseen_user_frac, fewshot_frac, cfg.seed, by=split_by),
        responses=responses,
    )
    timings["read_pairs_and_cache"] = time.perf_counter() - t_start - timings["imports"]
    progress_lines(progress)
    selection = None
    if k_auto:
        head, selection = _choose_k(
            model, data, k_max, k_repeats, cfg, progress, out, overwrite, quiet=as_json
        )
    else:
        head = create_head(model, **dataclasses.asdict(cfg)).fit(
            data, progress=progress, user_attributes=attrs
        )
        timings.update(head.timings_)
        t_save = time.perf_counter()
        head.save(out, overwrite=overwrite)
        timings["save"] = time.perf_counter() - t_save
    timings["command"] = time.perf_counter() - t_start
    h = head.history_
    if as_json:
        from embedkit.heads.metrics import json_ready

        summary = {
            "model": model,
            "out": str(out),
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
    click.echo(
        f"{model}: {h['epochs_run']} epochs (best at {h['best_epoch']}); validation {head.val_metric} "
        f"{h['best_val']:.4f}; saved to {out}"
    )
    print_metrics(head.name, head.metrics_)


def _choose_k(model, data, k_max, repeats, cfg, progress, out, overwrite, quiet=False):
    """--K auto: fit K = 1..k_max and save the chosen head with the selection next to it (the library's
    ``select_k`` and ``save_with_selection``), then print the table and the recommendation."""
    from embedkit.heads.select_k import save_with_selection, select_k

    kwargs = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "K"}
    head, sel = select_k(model, data, k_max, progress=progress, repeats=repeats, **kwargs)
    plotted = save_with_selection(head, sel, out, overwrite=overwrite)
    if quiet:
        return head, sel
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
    click.echo(
        f"selection: {Path(out) / 'k_selection.json'}"
        + (f", plot {Path(out) / 'k_selection.png'}" if plotted else "")
    )
    return head, sel


@click.command("eval")
@head_argument()
@pairs_option(
    "Pair file(s) (or Hugging Face dataset folders) to evaluate on: the training file(s), or new ones (users the head has not seen are "
    "evaluated as new users); repeat for several."
)
@users_options(
    "New users' zero-shot and few-shot accuracy with the head's attribute prior vs the population point, "
    "side by side, and per attribute value (attributes.*)."
)
@cache_option()
@click.option(
    "--shots", default=None, help="PAL: comma-separated few-shot sizes for unseen users (e.g. 1,5,10)."
)
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON (undefined metrics are null).")
@head_device_option()
@split_options(for_eval=True)
@dataset_split_option
def eval_command(
    head_dir,
    pairs,
    attributes_file,
    users_id_field,
    cache_dir,
    shots,
    as_json,
    device,
    val_frac,
    test_frac,
    unseen_user_frac,
    fewshot_frac,
    split_by,
    responses,
):
    """Metrics of a saved head on pair files: seen users per split, unseen users by shots, per-user spread.

    The head's data set-up is used by default: its split fractions and seed, its --responses and its
    encoder namespace, so evaluating on the training files reproduces the training splits exactly. On
    other files, users the head has not seen are evaluated as new (unseen) users. A file with group /
    filtered columns (Pick-a-Filter) also gets test metrics per value of each (by.group.*, by.filtered.*).

    HEAD is a head's folder (fit-head --out) or, where no such folder exists, a Hugging Face Hub id
    ORG/NAME or ORG/NAME@REVISION, taken from the local Hugging Face cache (offline: HF_HUB_OFFLINE=1) or
    downloaded when online.
    """
    from embedkit.heads import load_head
    from embedkit.heads.evaluate import evaluate_head

    head = load_head(head_dir, device=device)
    shot_sizes = None
    if shots:
        if not head.uses_user_weights:
            raise click.UsageError(f"--shots applies to heads with per-user weights (PAL), not {head.name}")
        try:
            shot_sizes = [int(s) for s in shots.split(",")]
        except ValueError:
            raise click.BadParameter(
                f"expected integers like 1,5,10, got {shots!r}", param_hint="--shots"
            ) from None
        if min(shot_sizes) < 1:
            raise click.BadParameter("shots must be >= 1", param_hint="--shots")
    attrs = read_users(attributes_file, users_id_field)
    if attrs is not None and not head.uses_user_weights:
        raise click.UsageError(f"--users applies to heads with per-user weights (PAL), not {head.name}")
    metrics = evaluate_head(
        head,
        list(pairs),
        cache_dir,
        split_options=dict(
            val_frac=val_frac,
            test_frac=test_frac,
            unseen_user_frac=unseen_user_frac,
            fewshot_frac=fewshot_frac,
            by=split_by,
        ),
        responses=responses,
        shots=shot_sizes,
        user_attributes=attrs,
        on_note=lambda note: click.echo(f"note: {note}", err=True),
    )
    if as_json:
        from embedkit.heads.metrics import json_ready

        click.echo(json.dumps(json_ready(metrics), indent=1, allow_nan=False))
    else:
        print_metrics(head.name, metrics)
