"""What ``embedkit fit-head`` and ``embedkit eval`` print of a head's metrics: an aligned table (undefined
metrics with their reason) and a legend of the metric names that appear in it."""

from __future__ import annotations

import click

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
