"""Diverging Preferences, Table 3: single-value against distributional reward models on preference
accuracy and diverging-pair AUROC.

MultiPref and HelpSteer2 are not available here, so the data is ``embedkit build annotators``: persona
statements judged by 4 simulated annotators each (fans, critics and indifferent people per topic, graded
strengths and Likert-5 scores; of four topics two are divisive, one consensual, and on one nearly everyone is
indifferent, so its pairs are high-agreement ties), MiniLM features. With the real sets, convert
them and pass the files instead: ``embedkit convert multipref`` / ``embedkit convert helpsteer2`` write the
same layout (``--pairs FILE --cache DIR`` skips the build; DIR holds its texts extracted with MiniLM).

Heads (all on the same splits): Bradley-Terry with aggregated labels and with all labels, MSE regression
and Likert classification (KL) on the per-response scores, mean-variance with the independent-NLL
baseline (Siththaranjan et al.) and with the KL loss. Diverging AUROC: a pair diverges when at least one
annotator prefers each side; the score is -|r_A - r_B| for single-value heads, the mean-variance score
with lambda tuned on val, p(1) p(5) for the classifier (the paper's choices).

    .venv/bin/python benchmarks/repro_diverging.py           # ~5 minutes on 2 CPU cores (3 seeds)
    .venv/bin/python benchmarks/repro_diverging.py --quick   # ~1-2 minutes

Writes benchmarks/results/repro_diverging.{json,md,png}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, publish, pyplot  # noqa: E402
from embedkit.data.items import collect_texts  # noqa: E402
from embedkit.datasets.annotators import AnnotatorsConfig, build_annotators  # noqa: E402
from embedkit.encoders.registry import create_encoder  # noqa: E402
from embedkit.extract import extract  # noqa: E402
from embedkit.heads import create_head, load_pair_data  # noqa: E402

# Table 3 of the paper: (MultiPref acc, AUROC, HelpSteer2 acc, AUROC); None where the paper has no number
PAPER = {
    "Bradley-Terry (aggregated labels)": (0.663, 0.458, 0.683, 0.482),
    "Bradley-Terry (all labels)": (0.648, 0.438, 0.678, 0.489),
    "MSE regression (all labels)": (None, None, 0.675, 0.481),
    "Mean-Var (NLL, indep.)": (0.533, 0.549, 0.574, 0.573),
    "Mean-Var (KL)": (0.664, 0.615, 0.684, 0.582),
    "Classification (KL)": (None, None, 0.659, 0.648),
}
HEADS = {
    "Bradley-Terry (aggregated labels)": ("bt", {"labels": "aggregate"}),
    "Bradley-Terry (all labels)": ("bt", {"labels": "all"}),
    "MSE regression (all labels)": ("mse", {}),
    "Mean-Var (NLL, indep.)": ("mean-var", {"loss": "nll"}),
    "Mean-Var (KL)": ("mean-var", {"loss": "kl"}),
    "Classification (KL)": ("likert-kl", {}),
}


def test_metrics(head, data) -> tuple[float, float]:
    m = head.evaluate(data)["test"]
    return float(m["accuracy"]), float(m["diverging_auroc"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer statements, one seed")
    ap.add_argument("--seeds", type=int, default=None, help="seeds (default: 1 quick, 3 full)")
    ap.add_argument(
        "--pairs",
        default=None,
        help="a converted real set (convert multipref / helpsteer2) instead of the build",
    )
    ap.add_argument(
        "--cache", default=None, help="with --pairs: the cache its texts were extracted into (MiniLM)"
    )
    args = ap.parse_args()
    q = args.quick
    seeds = range(args.seeds or (1 if q else 3))
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-bench-div-"))
    per_head: dict[str, list] = {name: [] for name in HEADS}
    lambdas, diverging_share = [], []
    try:
        enc = create_encoder("minilm", device="cpu")
        for seed in seeds:
            if args.pairs:
                pairs, cache = Path(args.pairs), Path(args.cache)
            else:
                pairs, cache = workdir / f"ann{seed}" / "pairs.jsonl", workdir / "cache"
                s = build_annotators(
                    pairs.parent,
                    AnnotatorsConfig(agreed_ties=1, statements_per_topic=300 if q else 1000, seed=seed),
                )
                diverging_share.append(s["diverging_share"])
                extract(collect_texts([pairs.parent / "texts.jsonl"]), cache, enc, progress=False)
            data = load_pair_data([pairs], cache, encoder="minilm")
            for name, (model, kw) in HEADS.items():
                head = create_head(model, device="cpu", seed=seed, **kw).fit(data, progress=False)
                per_head[name].append(test_metrics(head, data))
                if model == "mean-var" and kw["loss"] == "kl":
                    lambdas.append(head.lambda_)
                print(
                    f"seed {seed} {name}: acc {per_head[name][-1][0]:.4f}, AUROC {per_head[name][-1][1]:.4f}",
                    flush=True,
                )
            if args.pairs:
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        name: {
            "accuracy": [float(np.mean([a for a, _ in v])), float(np.std([a for a, _ in v]))],
            "auroc": [float(np.mean([u for _, u in v])), float(np.std([u for _, u in v]))],
        }
        for name, v in per_head.items()
    }
    fmt = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    rows = [
        (
            name,
            f"{s['accuracy'][0]:.3f} ± {s['accuracy'][1]:.3f}",
            f"{s['auroc'][0]:.3f} ± {s['auroc'][1]:.3f}",
            f"{fmt(PAPER[name][0])} / {fmt(PAPER[name][1])}",
            f"{fmt(PAPER[name][2])} / {fmt(PAPER[name][3])}",
        )
        for name, s in summary.items()
    ]
    kl, bt = summary["Mean-Var (KL)"], summary["Bradley-Terry (aggregated labels)"]
    checks = {
        "Mean-Var (KL) diverging AUROC beats Bradley-Terry's (as in the paper)": kl["auroc"][0]
        > bt["auroc"][0],
        "Mean-Var (KL) beats Mean-Var (NLL) on accuracy (as in the paper)": kl["accuracy"][0]
        > summary["Mean-Var (NLL, indep.)"]["accuracy"][0],
        "single-value heads' AUROC near or below chance (<= 0.55)": all(
            summary[n]["auroc"][0] <= 0.55
            for n in (
                "Bradley-Terry (aggregated labels)",
                "Bradley-Terry (all labels)",
                "MSE regression (all labels)",
            )
        ),
    }
    out = {
        "run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": q,
        "machine": machine(),
        "data": args.pairs or "embedkit build annotators (semi-synthetic)",
        "seeds": len(per_head[next(iter(per_head))]),
        "summary": summary,
        "mean_var_kl_lambda": lambdas,
        "diverging_share": diverging_share,
        "paper": {k: list(v) for k, v in PAPER.items()},
        "targets": checks,
    }
    notes = [f"{'PASS' if ok else 'FAIL'}: {n}" for n, ok in checks.items()]
    notes += [
        f"Data: {out['data']}; diverging pairs (at least one annotator on each side): "
        + (f"{100 * np.mean(diverging_share):.0f}% " if diverging_share else "")
        + "(MultiPref: 39%, HelpSteer2: 24%). The paper's numbers are on its real sets with Llama-3-8B reward models; "
        "compare the ordering of the heads, not the values.",
        f"Mean-Var (KL) lambda chosen on val per seed (grid 0..16): {lambdas}.",
        "2-layer MLP heads on MiniLM features, embedkit defaults; test split of 20% of the pairs.",
    ]
    if q:
        notes.append("QUICK run: 300 statements per topic, one seed; not the reproduction's numbers.")
    name = "repro_diverging" + ("-quick" if q else "")
    publish(
        name,
        out,
        rows,
        (
            "reward model",
            "pref. accuracy",
            "diverging AUROC",
            "paper MultiPref acc / AUROC",
            "paper HelpSteer2 acc / AUROC",
        ),
        notes,
        lambda path: plot(summary, path),
    )


def plot(summary, path):
    plt = pyplot()
    if plt is None:
        return
    names = list(summary)
    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    for a, key, title in (
        (ax[0], "accuracy", "preference accuracy"),
        (ax[1], "auroc", "diverging-pair AUROC"),
    ):
        a.barh(
            range(len(names)),
            [summary[n][key][0] for n in names],
            xerr=[summary[n][key][1] for n in names],
            capsize=3,
        )
        a.set_yticks(range(len(names)), names, fontsize=8)
        a.axvline(0.5, color="grey", ls="--")
        a.set_xlim(0.3, 1.0)
        a.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
