"""Beyond the Binary (Tables 1-2): Bradley-Terry with and without the margin term of eq. (4).

Each training pair keeps one binary judgment (the first annotator's, as in a binary preference dataset)
and gets a margin m = |sum_i j_i - n/2| / (n/2) (eq. 3) from n synthetic judgments; the loss is
-log sigmoid(r_chosen - r_rejected - m). Test pairs carry all n judgments; the target is the aggregate
preference p* (the share preferring A). Reported: Pearson correlation and mean L1 between the model's
P(A > B) = sigmoid(r_A - r_B) and p*, on all test pairs and separately on subjective (divisive topics,
where the population splits) and objective pairs (consensual topics).

Data: ``embedkit build annotators`` with n = 10 judgments per pair (the paper samples 10 from an LLM), MiniLM
features; the two models share data, splits, seed and every other setting.

    .venv/bin/python benchmarks/repro_beyond_binary.py           # ~3 minutes on 2 CPU cores (3 seeds)
    .venv/bin/python benchmarks/repro_beyond_binary.py --quick   # ~1 minute

Writes benchmarks/results/repro_beyond_binary.{json,md,png}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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
from embedkit.heads.metrics import pearson  # noqa: E402

# The paper's Table 1 (Pearson) / Table 2 (L1 is reported per category; the Pearson rows are quoted here)
PAPER = {
    "all ID Pearson": (0.734, 0.749),
    "multiple correct (subjective) Pearson": (0.572, 0.626),
    "single correct (objective) Pearson": (0.802, 0.799),
}


def binary_training_file(src: Path, dst: Path) -> None:
    """train/val rows: one binary label (the first annotator's) + the margin; test rows: all judgments."""
    rows = []
    for line in src.read_text().splitlines():
        r = json.loads(line)
        base = {k: r[k] for k in ("prompt", "left", "right", "split", "topic", "divisive", "p_star")}
        if r["split"] == "test":
            rows.append(
                {**base, "labels": ["left" if x > 0 else "right" if x < 0 else "tie" for x in r["labels"]]}
            )
        else:
            rows.append({**base, "label": r["original_label"], "margin": r["margin"]})
    dst.write_text("".join(json.dumps(r) + "\n" for r in rows))


def scores(head, data, rows_test) -> dict:
    test = data.in_split("test")
    p = 1 / (1 + np.exp(-head.predict_delta(test)))
    p_star = np.array([r["p_star"] for r in rows_test])
    div = np.array([r["divisive"] for r in rows_test])
    out = {}
    for name, m in (("all", np.ones(len(p), bool)), ("subjective", div), ("objective", ~div)):
        out[name] = {"pearson": float(pearson(p[m], p_star[m])), "l1": float(np.abs(p[m] - p_star[m]).mean())}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer statements, one seed")
    ap.add_argument("--seeds", type=int, default=None, help="seeds (default: 1 quick, 3 full)")
    args = ap.parse_args()
    q = args.quick
    seeds = range(args.seeds or (1 if q else 3))
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-bench-btb-"))
    runs = {"baseline": [], "margin": []}
    try:
        enc = create_encoder("minilm", device="cpu")
        for seed in seeds:
            d = workdir / f"ann{seed}"
            build_annotators(
                d, AnnotatorsConfig(per_pair=10, statements_per_topic=500 if q else 1000, seed=seed)
            )
            extract(collect_texts([d / "texts.jsonl"]), workdir / "cache", enc, progress=False)
            binary_training_file(d / "pairs.jsonl", d / "binary.jsonl")
            rows = [json.loads(x) for x in (d / "binary.jsonl").read_text().splitlines()]
            rows_test = [r for r in rows if r["split"] == "test"]
            data = load_pair_data([d / "binary.jsonl"], workdir / "cache", encoder="minilm")
            for name, margin in (("baseline", False), ("margin", True)):
                head = create_head("bt", labels="all", margin=margin, device="cpu", seed=seed).fit(
                    data, progress=False
                )
                runs[name].append(scores(head, data, rows_test))
                print(f"seed {seed} {name}: {runs[name][-1]}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def agg(name, part, metric):
        xs = [r[part][metric] for r in runs[name]]
        return [float(np.mean(xs)), float(np.std(xs))]

    summary = {
        name: {
            part: {m: agg(name, part, m) for m in ("pearson", "l1")}
            for part in ("all", "subjective", "objective")
        }
        for name in runs
    }
    rows = []
    for part, paper_key in (
        ("all", "all ID Pearson"),
        ("subjective", "multiple correct (subjective) Pearson"),
        ("objective", "single correct (objective) Pearson"),
    ):
        b, m = summary["baseline"][part], summary["margin"][part]
        rows.append(
            (
                part,
                f"{b['pearson'][0]:.3f} ± {b['pearson'][1]:.3f}",
                f"{m['pearson'][0]:.3f} ± {m['pearson'][1]:.3f}",
                f"{m['pearson'][0] - b['pearson'][0]:+.3f}",
                f"{b['l1'][0]:.3f} / {m['l1'][0]:.3f}",
                f"{PAPER[paper_key][0]:.3f} -> {PAPER[paper_key][1]:.3f}",
            )
        )
    checks = {
        "the margin term raises Pearson correlation with p* (all pairs)": summary["margin"]["all"]["pearson"][
            0
        ]
        > summary["baseline"]["all"]["pearson"][0],
        "the margin term lowers L1 to p* (all pairs)": summary["margin"]["all"]["l1"][0]
        < summary["baseline"]["all"]["l1"][0],
        "the gain is larger on subjective than on objective pairs (as in the paper)": (
            summary["margin"]["subjective"]["pearson"][0] - summary["baseline"]["subjective"]["pearson"][0]
            > summary["margin"]["objective"]["pearson"][0] - summary["baseline"]["objective"]["pearson"][0]
        ),
    }
    out = {
        "run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": q,
        "machine": machine(),
        "seeds": len(seeds),
        "summary": summary,
        "runs": runs,
        "paper": {k: list(v) for k, v in PAPER.items()},
        "targets": checks,
    }
    notes = [f"{'PASS' if ok else 'FAIL'}: {n}" for n, ok in checks.items()]
    notes += [
        "Data: embedkit build annotators with 10 simulated judgments per pair (MiniLM features); training rows keep the first "
        "annotator's binary choice plus the eq. (3) margin, test rows all 10 judgments; p* = share preferring A (ties 1/2).",
        "Subjective = the divisive topics (annotators split into fans and critics), objective = consensual topics: a stand-in "
        "for the paper's 'multiple correct' / 'single correct' categories. Paper numbers: Deberta-v3 reward model, human p*.",
        "Bradley-Terry on every training label (--labels all); the margin model adds --margin (the margin column).",
    ]
    if q:
        notes.append("QUICK run: 500 statements per topic, one seed; not the reproduction's numbers.")
    name = "repro_beyond_binary" + ("-quick" if q else "")
    publish(
        name,
        out,
        rows,
        (
            "test pairs",
            "Pearson, BT",
            "Pearson, BT + margin",
            "Δ",
            "L1 BT / + margin",
            "paper Pearson (BT -> margin)",
        ),
        notes,
        lambda path: plot(summary, path),
    )


def plot(summary, path):
    plt = pyplot()
    if plt is None:
        return
    parts = ["all", "subjective", "objective"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for a, metric in zip(ax, ("pearson", "l1"), strict=True):
        for i, name in enumerate(("baseline", "margin")):
            a.bar(
                np.arange(3) + 0.38 * i,
                [summary[name][p][metric][0] for p in parts],
                0.38,
                yerr=[summary[name][p][metric][1] for p in parts],
                capsize=3,
                label="BT" if name == "baseline" else "BT + margin",
            )
        a.set_xticks(np.arange(3) + 0.19, parts)
        a.set_title(
            "Pearson with p* (higher is better)" if metric == "pearson" else "L1 to p* (lower is better)"
        )
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
