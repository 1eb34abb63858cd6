"""PAL Figure 4 (section 4.2.1): PAL-B on the heterogeneous persona data, MiniLM features.

- (a) seen-user test accuracy for K = 1..K* on K* = 2..6 (expected: -> ~100% at K = K*);
- (b) against the number of comparisons per seen user n_p (K = K* = 2);
- (c) against the latent dimension d of f and g (K = K* = 2; 0 = the embedding width, residual);
- (d) unseen users: accuracy against few-shot comparisons, for K = 1, 2, 3 on K* = 2 (expected: no change
  for K = 1, diminishing returns for K > 1, more shots needed as K grows).

Mean ± std over seeds (the persona data's draw and the initialisation), bars as in the paper. Settings:
embedkit's defaults (2-layer MLPs, dropout 0.5 and weight decay 1e-2 as in PAL C.2, logistic loss, learning
rates raised to 1e-3 / 5e-2 with early stopping); ``--paper-lr`` uses PAL C.2's learning rate 1e-4 for the
MLPs and 5e-3 for the prototypes and user weights instead (slower; shown side by side on panel (a) K = K*).

    .venv/bin/python benchmarks/repro_persona.py           # ~1.5 hours on 2 CPU cores
    .venv/bin/python benchmarks/repro_persona.py --quick   # ~9 minutes

Writes benchmarks/results/repro_persona.{json,md,png}.
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
from embedkit.datasets.persona import PersonaConfig, build_persona  # noqa: E402
from embedkit.encoders.registry import create_encoder  # noqa: E402
from embedkit.extract import extract  # noqa: E402
from embedkit.heads import create_head, load_pair_data  # noqa: E402

PAPER_LR = dict(lr=1e-4, user_lr=5e-3)


class Runner:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.enc = create_encoder("minilm", device="cpu")

    def data(self, k_star: int, seed: int, users: int, n_p: int, fewshot: int = 20):
        out = self.workdir / f"persona-{k_star}-{seed}-{users}-{n_p}-{fewshot}"
        if not (out / "pairs.jsonl").exists():
            cfg = PersonaConfig(
                k_star=k_star,
                users_per_persona=users,
                queries_per_user=n_p,
                fewshot_per_unseen_user=fewshot,
                seed=seed,
            )
            build_persona(out, cfg)
            extract(collect_texts([out / "texts.jsonl"]), self.workdir / "cache", self.enc, progress=False)
        return load_pair_data([out / "pairs.jsonl"], self.workdir / "cache", encoder="minilm")

    def fit(self, data, seed: int, **kw):
        return create_head("pal-b", device="cpu", seed=seed, **kw).fit(data, progress=False)


def mean_std(xs):
    return [float(np.mean(xs)), float(np.std(xs))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="K* in {2, 3}, fewer users, one seed")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per point (default: 1 quick, 3 full)")
    args = ap.parse_args()
    q = args.quick
    seeds = range(args.seeds or (1 if q else 3))
    users = 30 if q else 100
    k_stars = (2, 3) if q else (2, 3, 4, 5, 6)
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-bench-persona-"))
    res: dict = {"a": {}, "a_paper_lr": {}, "b": {}, "c": {}, "d": {}}
    try:
        r = Runner(workdir)
        for ks in k_stars:  # (a)
            for K in sorted({1, *range(2, ks + 1)} if not q else {1, ks}):
                acc = [
                    r.fit(r.data(ks, s, users, 50), s, K=K).metrics_["seen"]["test"]["accuracy"]
                    for s in seeds
                ]
                res["a"][f"{ks}|{K}"] = mean_std(acc)
                print(f"(a) K*={ks} K={K}: {np.mean(acc):.4f}", flush=True)
            acc = [
                r.fit(r.data(ks, s, users, 50), s, K=ks, **PAPER_LR).metrics_["seen"]["test"]["accuracy"]
                for s in seeds
            ]
            res["a_paper_lr"][str(ks)] = mean_std(acc)
            print(f"(a) K*={ks} K={ks} paper lr: {np.mean(acc):.4f}", flush=True)
        for n_p in (10, 20, 50) if q else (10, 20, 30, 50, 100):  # (b)
            acc = [
                r.fit(r.data(2, s, users, n_p), s, K=2).metrics_["seen"]["test"]["accuracy"] for s in seeds
            ]
            res["b"][str(n_p)] = mean_std(acc)
            print(f"(b) n_p={n_p}: {np.mean(acc):.4f}", flush=True)
        for d in (16, 64, 0) if q else (8, 16, 64, 128, 0):  # (c)
            acc = [
                r.fit(r.data(2, s, users, 50), s, K=2, latent_dim=d).metrics_["seen"]["test"]["accuracy"]
                for s in seeds
            ]
            res["c"][str(d)] = mean_std(acc)
            print(f"(c) d={d}: {np.mean(acc):.4f}", flush=True)
        shots = [1, 2, 5, 10, 20]
        for K in (1, 2, 3):  # (d)
            per = {str(k): [] for k in shots}
            zero = []
            for s in seeds:
                data = r.data(2, s, users, 50)
                head = r.fit(data, s, K=K)
                ev = head.evaluate(data, shots=shots)["unseen"]
                zero.append(ev["zero_shot"])
                for k in shots:
                    per[str(k)].append(ev["by_shots"][str(k)])
            res["d"][str(K)] = {"zero_shot": mean_std(zero), **{k: mean_std(v) for k, v in per.items()}}
            print(f"(d) K={K}: " + ", ".join(f"{k}: {np.mean(v):.4f}" for k, v in per.items()), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for ks in k_stars:
        ks_K = [k for k in range(1, ks + 1) if f"{ks}|{k}" in res["a"]]
        rows.append(
            (
                f"(a) K* = {ks}",
                ", ".join(
                    f"K={k}: {res['a'][f'{ks}|{k}'][0]:.3f} ± {res['a'][f'{ks}|{k}'][1]:.3f}" for k in ks_K
                ),
                f"{res['a_paper_lr'][str(ks)][0]:.3f}",
                "~1.00 at K = K*",
            )
        )
    rows.append(
        (
            "(b) n_p (K = K* = 2)",
            ", ".join(f"{k}: {v[0]:.3f}" for k, v in res["b"].items()),
            "",
            "rises with n_p",
        )
    )
    rows.append(
        (
            "(c) latent d (K = K* = 2)",
            ", ".join(f"{'D' if k == '0' else k}: {v[0]:.3f}" for k, v in res["c"].items()),
            "",
            "flat in d",
        )
    )
    for K, v in res["d"].items():
        rows.append(
            (
                f"(d) unseen, K = {K}",
                f"zero-shot {v['zero_shot'][0]:.3f}; "
                + ", ".join(f"{k}: {x[0]:.3f}" for k, x in v.items() if k != "zero_shot"),
                "",
                "flat for K = 1; rising, saturating for K > 1",
            )
        )
    checks = {
        f"K = K* reaches >= 0.95 seen accuracy (K* = {ks})": res["a"][f"{ks}|{ks}"][0] >= 0.95
        for ks in k_stars
    }
    checks["K = 1 stays below K = K* (K* = 2)"] = res["a"]["2|1"][0] < res["a"]["2|2"][0] - 0.05
    d2 = res["d"]["2"]
    checks["unseen accuracy (K = 2) rises from zero-shot with shots"] = (
        d2["20"][0] > d2["zero_shot"][0] + 0.05
    )
    out = {
        "run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": q,
        "machine": machine(),
        "seeds": len(seeds),
        "users_per_persona": users,
        "results": res,
        "targets": checks,
    }
    notes = [f"{'PASS' if ok else 'FAIL'}: {n}" for n, ok in checks.items()]
    notes += [
        f"Persona data (PAL 4.2.1): {users} seen + {users} unseen users per persona, n_p = 50 comparisons per seen user "
        "unless varied, 20 few-shot + 30 test comparisons per unseen user; MiniLM (all-MiniLM-L6-v2) features.",
        "The 'paper lr' column: K = K* with PAL C.2's learning rates (1e-4 MLPs, 5e-3 prototypes and weights) instead of "
        "embedkit's raised ones; both with early stopping on validation accuracy.",
        f"Mean ± std over {len(seeds)} seed(s).",
    ]
    if q:
        notes.append("QUICK run: fewer users and settings, one seed; not the reproduction's numbers.")
    name = "repro_persona" + ("-quick" if q else "")
    publish(
        name,
        out,
        rows,
        ("panel", "embedkit (default lr)", "paper lr (K = K*)", "paper, qualitatively"),
        notes,
        lambda path: plot(res, k_stars, path),
    )


def plot(res, k_stars, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(1, 4, figsize=(18, 4))
    Ks = sorted({int(k.split("|")[1]) for k in res["a"]})
    width = 0.8 / len(Ks)
    for i, K in enumerate(Ks):
        xs = [j for j, ks in enumerate(k_stars) if f"{ks}|{K}" in res["a"]]
        ax[0].bar(
            np.array(xs) + i * width,
            [res["a"][f"{k_stars[j]}|{K}"][0] for j in xs],
            width,
            yerr=[res["a"][f"{k_stars[j]}|{K}"][1] for j in xs],
            label=f"K = {K}",
            capsize=2,
        )
    ax[0].set_xticks(np.arange(len(k_stars)) + width * (len(Ks) - 1) / 2, [str(k) for k in k_stars])
    ax[0].set_xlabel("true K*")
    ax[0].set_ylabel("seen-user test accuracy")
    ax[0].set_ylim(0.5, 1.02)
    ax[0].set_title("(a) accuracy vs K")
    ax[0].legend(fontsize=7)
    for a, key, title, xl in (
        (ax[1], "b", "(b) comparisons per user", "n_p"),
        (ax[2], "c", "(c) latent dimension", "d (D = embedding width)"),
    ):
        labels = list(res[key])
        a.bar(
            range(len(labels)),
            [res[key][k][0] for k in labels],
            yerr=[res[key][k][1] for k in labels],
            capsize=3,
        )
        a.set_xticks(range(len(labels)), ["D" if k == "0" else k for k in labels])
        a.set_ylim(0.5, 1.02)
        a.set_xlabel(xl)
        a.set_title(title)
    for K, v in res["d"].items():
        ks = [k for k in v if k != "zero_shot"]
        ax[3].errorbar(
            [int(k) for k in ks],
            [v[k][0] for k in ks],
            yerr=[v[k][1] for k in ks],
            marker="o",
            capsize=3,
            label=f"K = {K}",
        )
    ax[3].set_xscale("log")
    ax[3].set_xlabel("few-shot comparisons per new user")
    ax[3].set_title("(d) unseen users (K* = 2)")
    ax[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
