"""Scoring new users at scale, and FAISS lookups, against the straightforward baselines, in one run.

(a) ``embedkit score`` on a trained persona head (PAL-B, K = 2, MiniLM): N synthetic new users, each with
    10 few-shot pairs (their persona's answers to persona questions) and 20 candidate responses (10
    questions x Yes/No), from the command line end to end (start-up included): fit every user's weights
    (MAP, one batched optimisation), score and rank every candidate, write the outputs. Against the
    straightforward per-user loop in Python (for each user: fit that user's weights, then score their
    candidates; measured on a sample of users, in process, so its start-up is not counted). Target:
    >= 50x the loop's users/s. Peak RSS of the command at 10k and 100k users.
(b) FAISS against numpy brute force: the nearest prototype and 5 most similar seen users for 1M user
    weight vectors, and the top 10 of 1M candidate responses for 1,000 users (exact search: identical
    answers required), plus an approximate IVF index's time and recall.

    .venv/bin/python benchmarks/score_users.py           # ~10 minutes on 2 CPU cores
    .venv/bin/python benchmarks/score_users.py --quick   # ~3 minutes

Writes benchmarks/results/score_users.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PERSONA_DIR, publish, result_name, result_record, run_measured, timed  # noqa: E402
from embedkit.data.items import collect_texts  # noqa: E402
from embedkit.datasets.persona import PersonaConfig, build_persona, load_personas  # noqa: E402
from embedkit.encoders.registry import create_encoder  # noqa: E402
from embedkit.extract import extract  # noqa: E402
from embedkit.heads import create_head, load_pair_data  # noqa: E402

PERSONAS = ("art", "literature")


def train_head(workdir: Path, device: str = "cpu") -> Path:
    build_persona(workdir / "persona", PersonaConfig(k_star=2))
    enc = create_encoder("minilm", device=device)
    extract(collect_texts([workdir / "persona/texts.jsonl"]), workdir / "cache", enc, progress=False)
    data = load_pair_data([workdir / "persona/pairs.jsonl"], workdir / "cache", encoder="minilm")
    create_head("pal-b", K=2, device=device).fit(data, progress=False).save(workdir / "head")
    return workdir / "head"


def write_users(workdir: Path, n_users: int, seed: int = 0) -> tuple[Path, Path]:
    """N new users: a persona each; 10 few-shot pairs and 10 candidate rows (Yes / No) each."""
    data = load_personas(PERSONA_DIR, list(PERSONAS))
    questions, agree = [], {p: set() for p in PERSONAS}
    for p in PERSONAS:
        for rec in data[p]:
            if rec["answer_matching_behavior"].strip().lower() == "yes":
                agree[p].add(len(questions))
            questions.append(rec["question"])
    rng = np.random.default_rng(seed)
    fs_path, cand_path = workdir / f"fewshot-{n_users}.jsonl", workdir / f"candidates-{n_users}.jsonl"
    with open(fs_path, "w") as fs, open(cand_path, "w") as cand:
        for u in range(n_users):
            persona = PERSONAS[u % 2]
            user = f"new-{u:07d}"
            qs = rng.choice(len(questions), 20, replace=False)
            for q in qs[:10]:
                yes = int(q) in agree[persona]
                fs.write(
                    json.dumps(
                        {
                            "user": user,
                            "prompt": questions[q],
                            "chosen": "Yes" if yes else "No",
                            "rejected": "No" if yes else "Yes",
                        }
                    )
                    + "\n"
                )
            for q in qs[10:]:
                cand.write(
                    json.dumps({"user": user, "prompt": questions[q], "responses": ["Yes", "No"]}) + "\n"
                )
    return fs_path, cand_path


def run_cli(head: Path, cache: Path, fewshot: Path, candidates: Path, out: Path, device: str = "cpu") -> dict:
    """`embedkit score` in a child process: wall time and the child's peak RSS."""
    cmd = [str(Path(sys.executable).with_name("embedkit")), "score", str(head), "--cache", str(cache),
           "--fewshot", str(fewshot), "--candidates", str(candidates), "--out", str(out), "--json", "--no-progress",
           "--overwrite", "--device", device]  # fmt: skip
    r = run_measured(cmd, "embedkit score")
    return {"seconds": r["seconds"], "peak_rss_mb": r["peak_rss_mb"], "summary": json.loads(r["stdout"])}


def per_user_loop(head_dir: Path, cache: Path, fewshot: Path, candidates: Path, n_users: int) -> dict:
    """The straightforward baseline: one user at a time, fit then score, in Python."""
    from embedkit.score import load_reward_model

    model = load_reward_model(head_dir, cache=cache, allow_encode=False)
    fs_rows = [json.loads(x) for x in fewshot.read_text().splitlines()[: n_users * 10]]
    cand_rows = [json.loads(x) for x in candidates.read_text().splitlines()[: n_users * 10]]
    model.reward(
        fs_rows[0]["prompt"], ["Yes", "No"], user=[{k: v for k, v in fs_rows[0].items() if k != "user"}]
    )  # warm-up
    t0 = time.perf_counter()
    rankings = []
    for u in range(n_users):
        shots = [{k: v for k, v in r.items() if k != "user"} for r in fs_rows[u * 10 : (u + 1) * 10]]
        w = model.weights_for(shots)[0]  # fit this user's weights
        rows = cand_rows[u * 10 : (u + 1) * 10]
        prompts = [row["prompt"] for row in rows for _ in row["responses"]]
        r = model.reward(prompts, [c for row in rows for c in row["responses"]], user=w)  # all 20 at once
        for j in range(len(rows)):
            rankings.append(np.argsort(-r[2 * j : 2 * j + 2]).tolist())
    seconds = time.perf_counter() - t0
    return {"users": n_users, "seconds": seconds, "users_per_s": n_users / seconds}


def faiss_vs_numpy(head_dir: Path, n_users: int, n_candidates: int, n_queries: int) -> dict:
    from embedkit.heads import load_head
    from embedkit.index import VectorIndex, brute_force
    from embedkit.index.users import ResponseIndex, UserLookup

    head = load_head(head_dir, device="cpu")
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(head.config.K), n_users).astype(np.float32)
    out = {"users": n_users, "candidates": n_candidates, "queries": n_queries}
    lk = UserLookup(head)
    t_faiss, (proto, _) = timed(lk.nearest_prototype, W)
    t_sim, (sim, sim_d) = timed(lk.similar_users, W, 5)
    seen = head.user_weights()

    def numpy_lookup():
        p = np.argmin(((W[:, None, :] - np.eye(head.config.K)[None]) ** 2).sum(-1), axis=1)
        return p, brute_force(seen, W, 5, "l2")

    t_np, (p_np, (s_d, s_np)) = timed(numpy_lookup)
    out.update(
        lookup_faiss_s=t_faiss + t_sim,
        lookup_numpy_s=t_np,
        lookup_ratio=t_np / (t_faiss + t_sim),
        prototype_identical=bool(np.array_equal(proto, p_np)),
        # seen users of one persona share almost the same weights: ties make ids differ, distances cannot
        similar_same_distances=bool(np.allclose(sim_d, s_d, atol=1e-5)),
        similar_identical_ids_frac=float(np.mean(sim == np.asarray(head.users_, dtype=object)[s_np])),
    )
    X = rng.normal(0, 1, (n_candidates, head.input_dim_)).astype(np.float32)
    t_build, ri = timed(ResponseIndex, head, X, "flat")
    prompts = rng.normal(0, 1, (n_queries, head.input_dim_)).astype(np.float32)
    queries = ri.queries(W[:n_queries], prompts)
    feats = np.asarray(ri.index.index.reconstruct_n(0, n_candidates))
    t_flat, (flat_s, ids) = timed(ri.index.search, queries, 10)
    t_bf, (ref_s, ref) = timed(brute_force, feats, queries, 10, "ip")
    ivf = VectorIndex.build(feats, metric="ip", kind="ivf")
    t_ivf, (_, ids_ivf) = timed(ivf.search, queries, 10)
    out.update(
        topk_build_s=t_build,
        topk_faiss_flat_s=t_flat,
        topk_numpy_s=t_bf,
        topk_ratio=t_bf / t_flat,
        topk_identical_frac=float(np.mean(ids == ref)),
        topk_same_scores=bool(np.allclose(flat_s, ref_s, atol=1e-4)),
        topk_ivf_s=t_ivf,
        topk_ivf_ratio=t_bf / t_ivf,
        topk_ivf_recall=float(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids_ivf, ref, strict=True)])
        ),
    )
    return out


def plot(res, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    a = res["score"]
    axes[0].bar(
        ["per-user loop", "embedkit score"],
        [a["loop"]["users_per_s"], a["cli_users_per_s"]],
        color=["grey", "tab:blue"],
    )
    axes[0].set_yscale("log")
    axes[0].set_ylabel("users / s")
    axes[0].set_title(f"new users: {a['ratio']:.0f}x")
    sizes = sorted(res["rss"], key=int)
    axes[1].plot([int(s) for s in sizes], [res["rss"][s]["peak_rss_mb"] for s in sizes], marker="o")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("new users")
    axes[1].set_ylabel("peak RSS (MB)")
    axes[1].set_title("memory of embedkit score")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def faiss_gpus() -> int:
    from embedkit.index import faiss_gpus as gpus

    return gpus()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10k users and smaller FAISS sets")
    ap.add_argument("--loop-users", type=int, default=100, help="users the per-user loop runs on")
    ap.add_argument(
        "--device",
        default="cpu",
        help="cpu, cuda or cuda:N for training and `score` (FAISS uses a GPU when faiss-gpu sees one)",
    )
    args = ap.parse_args()
    q = args.quick
    sizes = (1_000, 10_000) if q else (10_000, 100_000)
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-bench-score-"))
    try:
        print("training the persona head ...", flush=True)
        head = train_head(workdir, args.device)
        cache = workdir / "cache"
        rss = {}
        for n in sizes:
            print(f"embedkit score, {n:,} users ...", flush=True)
            fs, cand = write_users(workdir, n)
            rss[str(n)] = run_cli(head, cache, fs, cand, workdir / f"out-{n}.jsonl", args.device)
            rss[str(n)]["users"] = n
        big = str(sizes[-1])
        print(f"per-user loop, {args.loop_users} users ...", flush=True)
        fs, cand = workdir / f"fewshot-{big}.jsonl", workdir / f"candidates-{big}.jsonl"
        loop = per_user_loop(head, cache, fs, cand, args.loop_users)
        print("FAISS vs numpy ...", flush=True)
        fx = faiss_vs_numpy(head, 100_000 if q else 1_000_000, 100_000 if q else 1_000_000, 1000)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cli_ups = int(big) / rss[big]["seconds"]
    res = {
        **result_record(q),
        "score": {"loop": loop, "cli_users_per_s": cli_ups, "ratio": cli_ups / loop["users_per_s"]},
        "rss": rss,
        "faiss": fx,
        "faiss_gpus": faiss_gpus(),
    }
    checks = {
        "embedkit score >= 50x the per-user loop (users/s)": res["score"]["ratio"] >= 50,
        "exact FAISS answers identical to numpy (prototypes; neighbour distances and top-k scores)": fx[
            "prototype_identical"
        ]
        and fx["similar_same_distances"]
        and fx["topk_same_scores"],
    }
    res["targets"] = checks
    rows = [
        (
            f"per-user loop ({loop['users']} users)",
            f"{loop['seconds']:.2f} s",
            f"{loop['users_per_s']:.1f} users/s",
            "baseline",
        ),
    ]
    for n in sizes:
        r = rss[str(n)]
        rows.append(
            (
                f"embedkit score, {n:,} users (CLI, start-up included)",
                f"{r['seconds']:.1f} s",
                f"{n / r['seconds']:.0f} users/s",
                f"peak RSS {r['peak_rss_mb']:.0f} MB; {r['summary']['rows']:,} candidate rows ranked",
            )
        )
    rows.append(("speed-up at the largest size", "", "", f"{res['score']['ratio']:.0f}x (target >= 50)"))
    rows += [
        (
            f"nearest prototype + 5 similar seen users, {fx['users']:,} users: numpy",
            f"{fx['lookup_numpy_s']:.2f} s",
            "",
            "baseline",
        ),
        (
            "... FAISS (exact)",
            f"{fx['lookup_faiss_s']:.2f} s",
            "",
            f"{fx['lookup_ratio']:.2f}x; prototypes identical: {fx['prototype_identical']}; neighbour distances "
            f"identical: {fx['similar_same_distances']} (ids {fx['similar_identical_ids_frac']:.4f}: ties)",
        ),
        (
            f"top 10 of {fx['candidates']:,} candidates for {fx['queries']} users: numpy",
            f"{fx['topk_numpy_s']:.2f} s",
            "",
            "baseline",
        ),
        (
            "... FAISS flat (exact)",
            f"{fx['topk_faiss_flat_s']:.2f} s",
            "",
            f"{fx['topk_ratio']:.2f}x; identical: {fx['topk_identical_frac']:.4f}",
        ),
        (
            "... FAISS IVF (approximate)",
            f"{fx['topk_ivf_s']:.2f} s",
            "",
            f"{fx['topk_ivf_ratio']:.1f}x; recall@10 {fx['topk_ivf_recall']:.3f}",
        ),
    ]
    notes = [
        "Users: a persona each (art or literature), 10 few-shot pairs and 10 candidate rows x 2 responses (20 "
        "candidates); weights fitted by MAP (the head's default). The CLI time includes Python start-up, reading "
        "the files, fitting, the FAISS lookups of every user, scoring and writing both outputs.",
        "Peak RSS: the few-shot pairs are held in memory as compact arrays (row indices and labels) to fit all users "
        "at once; the candidates stream in chunks of 50,000 rows.",
        f"Top-k: {fx['candidates']:,} random {384}-d candidate embeddings through the head's f (build "
        f"{fx['topk_build_s']:.1f} s, not in the ratio); numpy baseline = one matrix product and argpartition per query batch (embedkit.index.brute_force).",
    ]
    name = result_name("score_users", args.device, q)
    quick_note = "QUICK run: smaller sizes, not the benchmark's numbers." if q else None
    header = ("case", "time", "rate", "result")
    publish(name, res, rows, header, notes, lambda path: plot(res, path), checks, quick_note)


if __name__ == "__main__":
    main()
