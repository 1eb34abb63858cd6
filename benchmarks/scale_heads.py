"""PAL-B at paper scale: fit time, memory and arithmetic rate from 100k to 10M pairs, and `score` / `eval`
on files of those sizes.

Data: simulated users over real cached vectors. The pool is the 6,000 persona statements (data/persona)
embedded with MiniLM, as in benchmarks/pal_official.py; unique texts stay at 6,000 while pairs grow, as in
the paper's persona set (a few thousand statements, 40M pairs). Users are drawn as there (K = 2 hidden
prototypes, w_u ~ Dirichlet(0.3, 0.3), P(left) = sigmoid(20 (cos(x_l, z) - cos(x_r, z)))) with 1,000
pairs per user (the paper's Figure 4 setting), so users grow with pairs (100 -> 10,000). 90 / 5 / 5
train / val / test.

For each size, in a child process (so that its peak RSS is its own):
- the pairs are built as index arrays over the pool (what `load_pair_data` returns for a file of that
  size) and a PAL-B head (K = 2, the defaults otherwise) is fitted for ``--epochs`` epochs of
  ``--epoch-pairs`` pairs (0 = a full pass; see `fit-head --epoch-pairs`);
- measured: seconds per epoch (training + validation), seconds per million pairs trained, peak RSS
  before and after fitting, bytes per pair, and the achieved GFLOP/s of the networks' matrix products.
The same run measures the fp32 matrix-multiply rate torch reaches here (the shapes of f: 512 x 384 by
384 x 512, forward and backward), and projects the paper's full-scale Figure 4 (10,000 users per group,
1,000 pairs each, ~40M pairs at K* = 4) from the measured seconds per pair.

`score` and `eval` run as users run them (child processes, start-up included) on pair files of the
``--file-sizes`` sizes (JSONL, texts in full): wall time and peak RSS.

    .venv/bin/python benchmarks/scale_heads.py                      # 100k, 1M, 10M (~25 minutes)
    .venv/bin/python benchmarks/scale_heads.py --quick              # 20k, 100k (~2 minutes)

Writes benchmarks/results/scale_heads.{json,md,png} (scale_heads-quick.* with --quick). Time it with
nothing else running.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, publish, pyplot, result_name, result_record, run_measured, timed  # noqa: E402

PAIRS_PER_USER = 1000
K_TRUE = 2
FIG4_PAIRS, FIG4_K = 40_000_000, 4  # PAL Figure 4 at full scale: 4 groups x 10,000 users x 1,000 pairs


def rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pool(work: Path) -> Path:
    """Embed the persona statements with MiniLM into work/cache (once); return the pool file."""
    from benchmarks.pal_official import statements
    from embedkit.extract import extract_files

    texts, _ = statements()
    path = work / "pool.jsonl"
    if not (work / "cache").exists():
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        extract_files([path], work / "cache", "minilm", {"device": "cpu"}, progress=False)
    return path


def pool_vectors(work: Path):
    from benchmarks.pal_official import TOPICS, statements
    from embedkit.cache.keys import text_keys
    from embedkit.cache.store import EmbeddingCache

    texts, topic = statements()
    ns = EmbeddingCache(work / "cache").namespace(encoder="minilm")
    X = ns.get(text_keys(texts)).astype(np.float32)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    protos = np.stack([U[topic == t].mean(0) - U.mean(0) for t in TOPICS])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    return texts, X, U.astype(np.float32), protos.astype(np.float32), ns.fingerprint


def simulate(n: int, U: np.ndarray, protos: np.ndarray, seed: int = 0):
    """Index arrays of n pairs over the pool and their labels, in chunks (bounded memory)."""
    rng = np.random.default_rng(seed)
    n_users = max(20, n // PAIRS_PER_USER)
    W = rng.dirichlet([0.3] * K_TRUE, size=n_users).astype(np.float32)
    users = rng.integers(0, n_users, n).astype(np.int32)
    p, a, b = (rng.integers(0, len(U), n).astype(np.int32) for _ in range(3))
    y = np.empty(n, dtype=bool)
    for s in range(0, n, 200_000):
        sl = slice(s, s + 200_000)
        z = U[p[sl]] + 2 * W[users[sl]] @ protos
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        prob = 1 / (1 + np.exp(-20 * ((U[a[sl]] * z).sum(1) - (U[b[sl]] * z).sum(1))))
        y[sl] = rng.random(len(prob)) < prob
    return users, p, a, b, y, n_users


def child(args) -> None:
    """One size: build the pairs, fit PAL-B, print a JSON line of measurements."""
    import torch

    from embedkit.heads import create_head
    from embedkit.heads.pair_data import PairData

    work, n = args.work, args.child
    t0 = time.perf_counter()
    texts, X, U, protos, fp = pool_vectors(work)
    base_rss = rss_mb()
    users, p, a, b, y, n_users = simulate(n, U, protos)
    split = np.full(n, "train", dtype=object)
    split[int(0.9 * n) : int(0.95 * n)] = "val"
    split[int(0.95 * n) :] = "test"
    names = np.array([f"u{i}" for i in range(n_users)], dtype=object)
    counts = np.zeros((n, 5), dtype=np.float32)
    counts[np.arange(n), np.where(y, 4, 0)] = 1
    data = PairData(
        X=X, fingerprint=fp, prompt=p, a=a, b=b, user=names[users], counts=counts, y=y.astype(np.float32),
        weight=np.ones(n, dtype=np.float32), margin=np.full(n, np.nan, dtype=np.float32), split=split,
    )  # fmt: skip
    del users, y
    build_s = time.perf_counter() - t0
    data_rss = rss_mb()
    head = create_head(
        "pal-b",
        K=2,
        epochs=args.epochs,
        patience=args.epochs,
        epoch_pairs=args.epoch_pairs,
        device=args.device,
        loop=args.loop,
    )
    fit_s, _ = timed(head.fit, data, progress=False)
    h = head.history_
    per_epoch = min(int(0.9 * n), args.epoch_pairs or n)
    n_val = int(0.95 * n) - int(0.9 * n)
    # matrix-product FLOPs: each of f (2 responses) and g_k (K prototypes, 1 prompt) is two D x H layers;
    # a trained row costs 3x its forward (forward + backward), a validated row 1x
    D, H = X.shape[1], head.config.hidden_dim
    mlp = 2 * (D * H + H * D)
    flops = [(2 + 2) * mlp * (3 * per_epoch + n_val)] * len(h["epoch_seconds"])
    print(json.dumps({
        "pairs": n, "users": n_users, "texts": len(texts), "train_pairs_per_epoch": per_epoch,
        "val_pairs": n_val, "build_seconds": round(build_s, 2), "fit_seconds": round(fit_s, 2),
        "epoch_seconds": [round(s, 2) for s in h["epoch_seconds"]],
        "seconds_per_million_trained": round(float(np.median(h["epoch_seconds"])) / per_epoch * 1e6, 2),
        "gflops": round(sum(flops) / sum(h["epoch_seconds"]) / 1e9, 1),
        "rss_pool_mb": round(base_rss, 1), "rss_data_mb": round(data_rss, 1), "peak_rss_mb": round(peak_mb(), 1),
        "bytes_per_pair_data": round((data_rss - base_rss) * 2**20 / n, 1),
        "bytes_per_pair_peak": round((peak_mb() - base_rss) * 2**20 / n, 1),
        "val_accuracy": round(float(h["best_val"]), 4),
        "test_accuracy": round(float(head.metrics_["seen"]["test"]["accuracy"]), 4),
        "torch_threads": torch.get_num_threads(), "loop": h.get("loop"), "step_pairs": h.get("step_pairs"),
        "fit_phases": {k: round(v, 2) for k, v in head.timings_.items()},
    }))  # fmt: skip


def matmul_rate(device: str = "cpu") -> float:
    """GFLOP/s of fp32 (512 x 384) @ (384 x 512), forward and backward, as f's layers run."""
    import torch

    a = torch.randn(512, 384, device=device)
    w = torch.randn(384, 512, requires_grad=True, device=device)
    for _ in range(5):
        (a @ w).sum().backward()
    n, t0 = 300, time.perf_counter()
    for _ in range(n):
        (a @ w).sum().backward()
    if device != "cpu":
        torch.cuda.synchronize()
    return 3 * 2 * 512 * 384 * 512 * n / (time.perf_counter() - t0) / 1e9


def write_pairs(path: Path, n: int, texts: list[str], U, protos) -> None:
    users, p, a, b, y, _ = simulate(n, U, protos, seed=1)
    quoted = [json.dumps(t) for t in texts]
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(
                f'{{"user": "u{users[i]}", "prompt": {quoted[p[i]]}, "left": {quoted[a[i]]}, '
                f'"right": {quoted[b[i]]}, "label": "{"left" if y[i] else "right"}"}}\n'
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "scale_heads")
    ap.add_argument("--sizes", default="100000,1000000,10000000", help="pair counts of the fits")
    ap.add_argument("--file-sizes", default="100000,1000000", help="pair counts of the score / eval files")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--epoch-pairs", type=int, default=1_000_000, help="training pairs per epoch (0 = all)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (results go to scale_heads-cuda.*)")
    ap.add_argument("--quick", action="store_true", help="20k and 100k pairs, files of 20k")
    ap.add_argument("--loop", default="auto", help="fit-head --loop: auto (device on CUDA), host or device")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.sizes, args.file_sizes = "20000,100000", "20000"
    args.work.mkdir(parents=True, exist_ok=True)
    pool(args.work)
    rate = matmul_rate(args.device)
    fits = []
    for n in map(int, args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--work", str(args.work), "--child", str(n), "--epochs", str(args.epochs),
               "--epoch-pairs", str(args.epoch_pairs), "--device", args.device, "--loop", args.loop]  # fmt: skip
        r = run_measured(cmd, f"PAL-B fit on {n:,} pairs")
        fits.append(
            {**json.loads(r["stdout"].strip().splitlines()[-1]), "wall_seconds": round(r["seconds"], 1)}
        )
        print(json.dumps(fits[-1]), flush=True)

    # score / eval on files, as a user runs them
    files = []
    texts, _, U, protos, _ = pool_vectors(args.work)
    head_dir = args.work / "head"
    exe = str(REPO / ".venv" / "bin" / "embedkit")
    for n in map(int, args.file_sizes.split(",")):
        path = args.work / f"pairs-{n}.jsonl"
        write_pairs(path, n, texts, U, protos)
        if not head_dir.exists():  # a head to score with: fitted on the first file
            run_measured([exe, "fit-head", "--model", "pal-b", "--K", "2", "--pairs", str(path), "--cache",
                          str(args.work / "cache"), "--responses", "alone", "--out", str(head_dir), "--no-progress", "--device", args.device],
                         "fit-head")  # fmt: skip
        row = {"pairs": n, "file_mb": round(path.stat().st_size / 2**20, 1)}
        for what, cmd in (
            ("score", [exe, "score", str(head_dir), "--cache", str(args.work / "cache"), "--pairs", str(path),
                       "--out", str(args.work / f"scored-{n}.jsonl"), "--no-progress", "--overwrite", "--device", args.device]),
            ("eval", [exe, "eval", str(head_dir), "--cache", str(args.work / "cache"), "--pairs", str(path), "--json", "--device", args.device]),
        ):  # fmt: skip
            r = run_measured(cmd, f"{what} on {n:,} pairs")
            row[what] = {"seconds": round(r["seconds"], 1), "peak_rss_mb": round(r["peak_rss_mb"], 1)}
        for done in (f"scored-{n}.jsonl", f"scored-{n}.users.jsonl"):
            (args.work / done).unlink(missing_ok=True)
        path.unlink()
        files.append(row)
        print(json.dumps(row), flush=True)

    spm = [f["seconds_per_million_trained"] for f in fits]
    largest = fits[-1]
    fig4_epoch = largest["seconds_per_million_trained"] * (FIG4_PAIRS * 0.9 / 1e6) * (2 + FIG4_K) / (2 + 2)
    rows = [
        (f"{f['pairs']:,}", f"{f['users']:,}", f"{f['train_pairs_per_epoch']:,}", f"{np.median(f['epoch_seconds']):.1f} s",
         f"{f['seconds_per_million_trained']:.1f} s", f"{f['gflops']:.0f} ({f['gflops'] / rate:.0%})",
         f"{f['rss_data_mb']:.0f} MB", f"{f['peak_rss_mb']:.0f} MB", f"{f['bytes_per_pair_data']:.0f} / {f['bytes_per_pair_peak']:.0f}",
         f"{f['test_accuracy']:.4f}")
        for f in fits
    ]  # fmt: skip
    notes = [
        f"torch fp32 matrix-multiply rate here (f's layer shapes, forward + backward): {rate:.0f} GFLOP/s; the "
        "GFLOP/s column is the fits' matrix products per second of epoch (training and validation) and its "
        "share of that rate",
        f"seconds per million pairs trained: {', '.join(f'{s:.1f}' for s in spm)} "
        f"(largest / smallest: {max(spm) / min(spm):.2f}; 1.00 = time linear in pairs)",
        f"memory: the pool's {len(texts):,} vectors and the imports take {largest['rss_pool_mb']:.0f} MB; the pairs add "
        f"{largest['bytes_per_pair_data']:.0f} bytes each as index arrays, labels, counts and split names (no vector is "
        f"copied per pair); the peak during fitting {largest['bytes_per_pair_peak']:.0f} bytes per pair at {largest['pairs']:,}",
        f"projected epoch of the paper's full-scale Figure 4 ({FIG4_PAIRS / 1e6:.0f}M pairs, 90% trained, K* = {FIG4_K}) "
        f"on this CPU: {fig4_epoch / 3600:.1f} h (from the {largest['pairs']:,}-pair rate, scaled by the networks "
        f"run per pair, 2 + K)",
        f"each fit: {args.epochs} epochs of {args.epoch_pairs:,} pairs (`--epoch-pairs`; all pairs where fewer), "
        "users drawn with 1,000 pairs each",
    ]
    for f in files:
        notes.append(
            f"files of {f['pairs']:,} pairs ({f['file_mb']} MB JSONL): score {f['score']['seconds']} s, peak "
            f"{f['score']['peak_rss_mb']:.0f} MB; eval {f['eval']['seconds']} s, peak {f['eval']['peak_rss_mb']:.0f} MB"
        )
    out = result_record(
        matmul_gflops=round(rate, 1), fits=fits, files=files, fig4_projected_epoch_seconds=round(fig4_epoch)
    )

    def plot(path):
        plt = pyplot()
        if plt is None:
            return None
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        n = [f["pairs"] for f in fits]
        ax[0].loglog(n, [np.median(f["epoch_seconds"]) for f in fits], "o-")
        ax[0].set(
            xlabel="pairs", ylabel="seconds per epoch", title=f"PAL-B, epochs of {args.epoch_pairs:,} pairs"
        )
        ax[1].semilogx(n, [f["peak_rss_mb"] for f in fits], "o-", label="fit peak RSS")
        ax[1].semilogx(n, [f["rss_pool_mb"] for f in fits], "--", label="pool + imports")
        ax[1].set(xlabel="pairs", ylabel="MB")
        ax[1].legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        return path

    header = ("pairs", "users", "pairs / epoch", "s / epoch", "s / 1M pairs", "GFLOP/s", "RSS with data", "peak RSS",
              "bytes/pair (data / peak)", "test acc")  # fmt: skip
    name = result_name("scale_heads", args.device, args.quick, "-" + args.loop if args.loop != "auto" else "")
    publish(name, out, rows, header, notes, plot)


if __name__ == "__main__":
    main()
