"""``embedkit fit-head`` and ``embedkit eval``."""

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
    progress_lines,
    read_users,
    split_fraction_options,
    users_options,
)
from embedkit.cli.options import dataset_split_option
from embedkit.data.splits import SplitConfig
from embedkit.heads.registry import HEADS, config_class


def _configs() -> dict:
    """Head name -> config class: the options of fit-head, from the registry. Read when fit-head itself
    is used (``FitHeadCommand``), so other commands never import a head's module."""
    return {name: entry.load_config() for name, entry in HEADS.items()}


class KParam(click.ParamType):
    """An integer K >= 1, or auto (fit K = 1..--K-max and keep the smallest within noise of the best)."""

    name = "K|auto"

    def convert(self, value, param, ctx):
        if value is None or value == "auto":
            return value
        try:
            k = int(value)
        except ValueError:
            self.fail(f"expected an integer K >= 1 or auto, got {value!r}", param, ctx)
        if k < 1:
            self.fail(f"expected an integer K >= 1 or auto, got {k}", param, ctx)
        return k


def head_config_options(f):
    """One click option per config field of any head; help says which heads use it and the default."""
    configs = _configs()
    fields: dict[str, list] = {}
    for head, cls in configs.items():
        for fld in dataclasses.fields(cls):
            fields.setdefault(fld.name, []).append((head, fld))
    for name in reversed(list(fields)):
        uses = fields[name]
        fld = uses[0][1]
        heads = [h for h, _ in uses]
        applies = "all heads" if len(heads) == len(configs) else ", ".join(heads)
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
            typ = KParam() if name == "K" else click.Choice(choices) if choices else type(fld.default)
            f = click.option(opt_name, name, type=typ, default=None, help=text)(f)
    return f


def build_config(model: str, given: dict):
    """The head's Config from the options the user set; an option of another head is an error."""
    cls = config_class(model)
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


_SPLIT_HELP = {
    "val_frac": "seen users' pairs for validation (early stopping)",
    "test_frac": "seen users' pairs for test",
    "unseen_user_frac": "users held out of training as unseen (new) users",
    "fewshot_frac": "share of each unseen user's pairs used to fit their weights (few-shot); the rest test",
}


def _split_options(for_eval: bool):
    """The split options. fit-head shows the defaults; eval defaults to the head's stored set-up."""

    def deco(f):
        helps = {name: f"Without a split column: {text}." for name, text in _SPLIT_HELP.items()}
        if for_eval:
            helps = {
                k: v + " Default: the head's own (fit-head's) value; the seed is always the head's."
                for k, v in helps.items()
            }
        f = split_fraction_options(helps, for_eval)(f)
        f = click.option(
            "--split-by",
            type=click.Choice(["user", "item"]),
            default=None if for_eval else "user",
            show_default=not for_eval,
            help="Without a split column: val/test pairs drawn within each seen user (user; their items may be "
            "in training pairs too), or item-disjoint (item: val/test items held out, a pair in a split only "
            "when both its items are; pairs across splits are left out)."
            + (" Default: the head's." if for_eval else ""),
        )(f)
        return click.option(
            "--responses",
            type=click.Choice(["in-context", "alone", "images"]),
            default=None if for_eval else "in-context",
            show_default=not for_eval,
            help=(
                "How the pairs' responses were extracted (must match `embedkit extract --responses`)."
                + (" Default: the head's." if for_eval else "")
            ),
        )(f)

    return deco


class FitHeadCommand(click.Command):
    """fit-head with one option per field of the registered heads' configs, added on first use (help,
    parsing), so that importing the CLI imports no head module."""

    def get_params(self, ctx):
        if not getattr(self, "_config_options_added", False):
            self._config_options_added = True
            self.params.extend(reversed(head_config_options(lambda: None).__click_params__))
        return super().get_params(ctx)


@click.command("fit-head", cls=FitHeadCommand)
@click.option("--model", "model", required=True, type=click.Choice(list(HEADS)), help="Which head to train.")
@click.option(
    "--pairs",
    "pairs",
    required=True,
    multiple=True,
    type=click.Path(),
    help="Pair file(s) in the documented format (docs/pairs-format.md): JSONL, CSV, Parquet, or a Hugging Face "
    "dataset folder (save_to_disk) or .arrow file; repeat for several.",
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
@_split_options(for_eval=False)
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
    """--K auto: fit K = 1..k_max, print the table and the recommendation, save the chosen head with the
    selection next to it (k_selection.json, k_selection.png)."""
    from embedkit.heads.metrics import json_ready
    from embedkit.heads.select_k import plot_selection, select_k

    kwargs = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "K"}
    head, sel = select_k(model, data, k_max, progress=progress, repeats=repeats, **kwargs)
    plotted = []

    def selection_files(folder: Path) -> None:  # written into the head's folder before it appears
        (folder / "k_selection.json").write_text(
            json.dumps(json_ready(sel.to_dict()), indent=1, allow_nan=False) + "\n"
        )
        plotted.append(plot_selection(sel, folder / "k_selection.png"))

    head.save(out, overwrite=overwrite, extra=selection_files)
    plotted = plotted[0]
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
@click.option(
    "--pairs",
    "pairs",
    required=True,
    multiple=True,
    type=click.Path(),
    help="Pair file(s) (or Hugging Face dataset folders) to evaluate on: the training file(s), or new ones (users the head has not seen are "
    "evaluated as new users); repeat for several.",
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
@_split_options(for_eval=True)
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
    from embedkit.heads import load_head, load_pair_data
    from embedkit.heads.pair_data import item_overlap
    from embedkit.heads.provenance import reuse_setup

    head = load_head(head_dir, device=device)
    split, responses, notes = reuse_setup(
        head.data_setup_,
        list(pairs),
        head.config.seed,
        dict(
            val_frac=val_frac,
            test_frac=test_frac,
            unseen_user_frac=unseen_user_frac,
            fewshot_frac=fewshot_frac,
            by=split_by,
        ),
        responses,
    )
    for note in notes:
        click.echo(f"note: {note}", err=True)
    data = load_pair_data(
        list(pairs),
        cache_dir,
        encoder=head.fingerprint_,
        split=split,
        responses=responses,
        seen_users=getattr(head, "users_", None),
        encoder_spec=head.data_setup_.encoder_spec if head.data_setup_ else "",
    )
    kwargs = {}
    if shots:
        if not head.uses_user_weights:
            raise click.UsageError(f"--shots applies to heads with per-user weights (PAL), not {head.name}")
        try:
            kwargs["shots"] = [int(s) for s in shots.split(",")]
        except ValueError:
            raise click.BadParameter(
                f"expected integers like 1,5,10, got {shots!r}", param_hint="--shots"
            ) from None
        if min(kwargs["shots"]) < 1:
            raise click.BadParameter("shots must be >= 1", param_hint="--shots")
    attrs = read_users(attributes_file, users_id_field)
    if attrs is not None and not head.uses_user_weights:
        raise click.UsageError(f"--users applies to heads with per-user weights (PAL), not {head.name}")
    metrics = head.evaluate(data, **kwargs)
    metrics["item_overlap"] = item_overlap(data)
    if attrs is not None:
        from embedkit.heads.attributes import evaluate_attributes

        metrics["attributes"] = evaluate_attributes(head, data, attrs, kwargs.get("shots"))
    if data.tags:  # e.g. Pick-a-Filter's group and filtered columns (PAL Figure 15)
        from embedkit.heads.api import evaluate_by_tags

        metrics["by"] = evaluate_by_tags(head, data, **kwargs)
    if as_json:
        from embedkit.heads.metrics import json_ready

        click.echo(json.dumps(json_ready(metrics), indent=1, allow_nan=False))
    else:
        print_metrics(head.name, metrics)


LEGEND = {
    "accuracy": "accuracy: share of the annotators' preferences the head ranks the same way (ties left "
    "out); chance is 0.5",
    "seen": "seen.*: users the head was trained on, per split (train / val / test)",
    "per_user": "seen.test.per_user: each seen user's own test accuracy, summarised over users "
    "(mean, std, min, max)",
    "unseen": "unseen.*: users held out of training. zero_shot: the mean of the seen users' weights; "
    "by_shots.N: weights fitted from N of each user's few-shot pairs (f, g and prototypes frozen), over the "
    "users with at least N; shots.N: those users and their test pairs, and their zero-shot accuracy",
    "unseen_users": "unseen_users: a population model's accuracy on the pairs of users held out of training "
    "(fewshot + unseen_test), scored like any other pair (no per-user weights)",
    "items": "items.*: the held-out pairs' responses no training pair touched, with their annotators' scores: "
    "spearman of the predicted sigma with the spread of those scores, and partial_spearman_given_mu the same "
    "with the predicted mean taken out (how much sigma explains beyond mu); spearman_mu for comparison",
    "diverging_pairs": "diverging_pairs: how many pairs have annotators on both sides (what diverging_auroc "
    "rests on)",
    "lambda": "lambda: weight of the predicted spread in the divergence score |mu_A - mu_B| - "
    "lambda (sigma_A + sigma_B), tuned on val; the validation -loss line is minus the KL loss",
    "diverging_auroc": "diverging_auroc: how well the head flags pairs annotators disagree on (0.5 = "
    "chance, 1 = perfect)",
    "pearson": "pearson, l1: agreement of P(A > B) with the annotators' share preferring A",
    "kl": "kl / mse: the training loss on this split",
    "item_overlap": "item_overlap.<split>: share of that split's pairs whose items (both, or any) are in training "
    "pairs: high shares mean the split measures memory of items as much as generalisation (--split-by item "
    "holds items out)",
    "attributes": "attributes.* (--users): new users' accuracy with the head's attribute prior vs the population "
    "point: zero_shot (each user's attribute point, gain ± gain_se clustered by user), shots.N (few-shot MAP with "
    "the attribute point vs the population point as the prior's mean), groups.<column>.<value> (seen users' mean "
    "weights and the prototype they lean to; new users' accuracy: population, attributes, fewshot on all their "
    "few-shot pairs); prior: whether the attribute prior is used or fell back, and why",
    "by": "by.<column>.<value>: test metrics on the test pairs with that value of the file's group / filtered "
    "column (Pick-a-Filter: colour group; filter on the winner, the loser, or none)",
}


def print_metrics(head_name: str, metrics: dict) -> None:
    """The metrics as an aligned table (undefined ones with their reason), then a short legend."""
    from embedkit.heads.metrics import Undefined

    rows = list(_flatten({k: v for k, v in metrics.items() if k != "model"}))
    width = max((len(k) for k, _ in rows), default=0)
    for k, v in rows:
        if isinstance(v, Undefined):
            text = f"undefined ({v.reason})"
        elif isinstance(v, float):
            text = f"{v:.4f}"
        else:
            text = str(v)
        click.echo(f"{k.ljust(width)}  {text}")
    keys = {part for k, _ in rows for part in k.split(".")}
    legend = [line for name, line in LEGEND.items() if name in keys]
    if "model" in metrics:
        legend.insert(0, f"{head_name} is {metrics['model']}")
    if legend:
        click.echo("\n" + "\n".join(f"  {line}" for line in legend))


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v
