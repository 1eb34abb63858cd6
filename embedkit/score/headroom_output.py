"""The headroom report (:mod:`embedkit.score.headroom`) as files a person reads: Markdown, a plot, JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

OUTPUT_NAMES = ("headroom.json", "headroom.md", "headroom.png")


def _acc(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _pts(x, se=None) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{100 * x:+.1f}" + (f" ± {100 * se:.1f}" if se is not None and np.isfinite(se) else "")


def _share(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def headroom_markdown(report: dict, title: str | None = None) -> str:
    """The report as Markdown: the conclusion, ties and agreement, and a table per split."""
    ties, agree = report["ties"], report["agreement"]
    lines = [
        f"# {title or 'Headroom of ' + ', '.join(Path(p).name for p in report['pairs'])}",
        "",
        f"**{report['conclusion']}**",
        "",
        f"- {report['users']} users; {ties['pairs']} labelled pairs, {ties['tie_pairs']} of them ties "
        f"({_share(ties['share_of_pairs'])}; {_share(ties['share_of_labels'])} of all labels)"
        + (
            "" if ties["tie_pairs"] else " (none: a file converted with --ties drop has had its ties removed)"
        ),
        f"- agreement: {agree['units']} item pairs labelled more than once ({agree['labels']} labels); "
        f"Krippendorff's alpha (nominal, first preferred / tie / second preferred) "
        f"{_acc(agree['alpha_nominal'])}; every label agrees on {_share(agree['units_all_agree'])} of them",
    ]
    for name, s in report["splits"].items():
        cfg = report["config"]
        lines += [
            "",
            f"## {name} split",
            "",
            f"{s['data']}; {cfg['model']} K={cfg['K']}; seen users' test accuracy {_acc(s['seen_test'])}; "
            f"{s['new_users']} new users, {s['test_pairs']} test pairs.",
            "",
            "| new users' weights | users | scored pairs | accuracy | population point, same pairs | gain (points) |",
            "|---|---|---|---|---|---|",
            f"| population point (zero-shot) | {s['new_users']} | {s['test_pairs']} | {_acc(s['population'])} | "
            f"{_acc(s['population'])} | 0 |",
        ]
        for shots, v in s["few_shot"].items():
            lines.append(
                f"| few-shot, {shots} pair{'' if shots == '1' else 's'} | {v['users']} | {v['pairs']} | {_acc(v['accuracy'])} | "
                f"{_acc(v['zero_shot'])} | {_pts(v['gain'])} |"
            )
        o = s["oracle"]
        if o.get("pairs"):
            lines.append(
                f"| oracle per-user fit (all other items) | {o['users']} | {o['pairs']} | {_acc(o['accuracy'])} "
                f"| {_acc(o['population'])} | {_pts(o['gain'], o['gain_se'])} |"
            )
        else:
            lines.append(f"| oracle per-user fit | - | - | - | - | {o.get('note', '-')} |")
        slot = s["attribute_prior"]
        lines.append(
            f"| attribute prior | {slot.get('users', '-')} | {slot.get('pairs', '-')} | "
            f"{_acc(slot.get('accuracy'))} | {_acc(slot.get('population'))} | "
            + (
                f"{_pts(slot['gain'], slot.get('gain_se'))} ({slot['status']})"
                if "gain" in slot
                else slot.get("status", "-")
            )
            + " |"
        )
        notes = []
        if s["few_shot_missing"]:
            notes.append(f"no new user has {s['few_shot_missing'][0]} or more few-shot pairs")
        if s.get("few_shot_fallback"):
            notes.append(
                "the head's calibration found no prior strength that reliably beats the population point, so "
                "its few-shot fit returns that point (gains of 0)"
            )
        overlap = ", ".join(
            f"{split}: {100 * v['both_items_in_train']:.0f}% of pairs with both items in training pairs, "
            f"{100 * v['any_item_in_train']:.0f}% with one"
            for split, v in s["item_overlap"].items()
            if split in ("fewshot", "unseen_test")
        )
        notes.append(f"item overlap with the training pairs: {overlap}")
        if o.get("pairs"):
            notes.append(
                f"oracle: weights fitted on {o['fit_pairs_per_user']:.0f} pairs per user and fold on average "
                f"(weak prior, logit variance {o['prior_var']:g}); {o['pairs_not_scored']} test pairs across the "
                "two halves of a user's items are not scored"
            )
        lines += [""] + [f"- {n}" for n in notes]
    lines += [
        "",
        "Accuracy: the share of a new user's test preferences ranked their way (ties left out). Each row is "
        "compared with the population point on the same users' same pairs; the gain is the difference, in "
        "points (± one standard error, clustered by user, for the oracle). See docs/headroom.md.",
        "",
    ]
    return "\n".join(lines)


def plot_headroom(report: dict, path: str | os.PathLike):
    """One panel per split: new users' accuracy by shots (0 = the population point), the population point
    on the same users, and the oracle with the population point on its pairs. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    splits = report["splits"]
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4), squeeze=False)
    for ax, (name, s) in zip(axes[0], splits.items(), strict=True):
        shots = [int(k) for k in s["few_shot"]]
        ax.plot(
            [0, *shots],
            [s["population"], *(v["accuracy"] for v in s["few_shot"].values())],
            "o-",
            label="few-shot",
        )
        ax.plot(
            shots,
            [v["zero_shot"] for v in s["few_shot"].values()],
            "k:",
            label="population point, same users",
        )
        o = s["oracle"]
        if o.get("pairs"):
            ax.axhline(
                o["accuracy"], color="tab:green", ls="--", label=f"oracle per-user fit ({o['pairs']} pairs)"
            )
            ax.axhline(o["population"], color="tab:gray", ls="--", label="population point, oracle's pairs")
        ax.set_xscale("symlog", linthresh=1)
        ticks = [0, *shots]
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.set_xlabel("few-shot pairs per new user")
        ax.set_ylabel("new users' test accuracy")
        ax.set_title(f"{name} split ({s['new_users']} new users)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


class _NoPlot(Exception):
    """matplotlib is not installed: no plot (the temporary file is removed)."""


def write_headroom(
    report: dict, out_dir: str | os.PathLike, overwrite: bool = False
) -> dict[str, Path | None]:
    """Write OUT/headroom.json, headroom.md and headroom.png (each whole or not at all; the plot only with
    matplotlib). An existing report is replaced only with ``overwrite``. Returns {kind: path or None}."""
    from embedkit.atomic import replacing_file, write_text
    from embedkit.errors import InputError
    from embedkit.heads.metrics import json_ready

    out = Path(out_dir)
    existing = [n for n in OUTPUT_NAMES if (out / n).exists()]
    if existing and not overwrite:
        raise InputError(
            f"{out / existing[0]} exists; pass --overwrite or choose another --out", file=str(out)
        )
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "headroom.json", json.dumps(json_ready(report), indent=1, allow_nan=False) + "\n")
    write_text(out / "headroom.md", headroom_markdown(report))
    png = None
    try:
        with replacing_file(out / "headroom.png") as tmp:
            png = plot_headroom(report, tmp)
            if png is None:
                raise _NoPlot
    except _NoPlot:
        pass
    return {
        "json": out / "headroom.json",
        "markdown": out / "headroom.md",
        "plot": out / "headroom.png" if png else None,
    }
