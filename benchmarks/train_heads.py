"""Head-training benchmark: PAL-B on the persona dataset, embedkit's trainer against a per-sample-file
baseline in the style of the PAL reference code, in one run.

1. `embedkit build persona` (K* = 2: art, literature), MiniLM embeddings extracted into a cache.
2. embedkit fits PAL-B K=2 with its defaults (index arrays into one matrix, batch 256): seen-user test
   accuracy (target >= 0.95), unseen users by shots, full fit wall time (target < 120 s).
3. The same model and data trained by the baseline: one joblib file per sample through a torch
   DataLoader, batch 32. For a like-for-like data path, embedkit's trainer is also run at batch 32.
4. Ratios: seconds per epoch, and seconds to reach the target validation accuracy (target >= 20x).

    .venv/bin/python benchmarks/train_heads.py [--quick] [--cache DIR] [--device cuda]

Writes benchmarks/results/train_heads.{json,md,png} (train_heads-cuda.* with --device cuda).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.baselines.per_sample_files import train_per_sample, write_sample_files  # noqa: E402
from benchmarks.common import QUICK_NOTE, publish, pyplot, result_name, result_record, timed  # noqa: E402
from embedkit.data.items import collect_texts  # noqa: E402
from embedkit.datasets.persona import PersonaConfig, build_persona  # noqa: E402
from embedkit.encoders.registry import create_encoder  # noqa: E402
from embedkit.extract import extract  # noqa: E402
from embedkit.heads import PALBHead, load_pair_data  # noqa: E402

TARGET = 0.95


def time_to(history_val, epoch_seconds, target):
    """Cumulative seconds until the first epoch whose validation accuracy reaches ``target`` (None if never)."""
    total = 0.0
    for v, s in zip(history_val, epoch_seconds, strict=True):
        total += s
        if v >= target:
            return total
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer users and baseline epochs, to check it runs")
    ap.add_argument("--cache", default=None, help="reuse an embedding cache (extraction is skipped if warm)")
    ap.add_argument("--baseline-epochs", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument(
        "--device", default="cpu", help="cpu or cuda: all three trainers and the encoder run there"
    )
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="embedkit-bench-heads-"))
    cache = Path(args.cache) if args.cache else workdir / "cache"
    try:
        cfg = PersonaConfig(k_star=2, users_per_persona=30 if args.quick else 100)
        summary = build_persona(workdir / "persona", cfg)
        print(
            f"persona: {summary['pairs']} pairs, {summary['texts']} texts; extracting with MiniLM ...",
            flush=True,
        )
        t_extract, ext = timed(
            extract,
            collect_texts([workdir / "persona/texts.jsonl"]),
            cache,
            create_encoder("minilm", device=args.device),
            progress=False,
        )
        t_load, data = timed(load_pair_data, [workdir / "persona/pairs.jsonl"], cache, "minilm")

        print("embedkit: fitting PAL-B K=2 (defaults) ...", flush=True)
        head = PALBHead(K=2, device=args.device)
        t_fit, _ = timed(head.fit, data, progress=False)
        h = head.history_
        m = head.metrics_
        ours = {
            "fit_s": t_fit,
            "train_s": float(sum(h["epoch_seconds"])),
            "epochs": h["epochs_run"],
            "best_epoch": h["best_epoch"],
            "epoch_s": float(np.median(h["epoch_seconds"])),
            "val_curve": h["val"],
            "epoch_seconds": h["epoch_seconds"],
            "time_to_target_s": time_to(h["val"], h["epoch_seconds"], TARGET),
            "seen_test_accuracy": m["seen"]["test"]["accuracy"],
            "unseen": m["unseen"],
            "per_user": m["seen"]["test"]["per_user"],
            "batch_size": head.config.batch_size,
        }

        print("embedkit: same trainer at batch 32 ...", flush=True)
        head32 = PALBHead(K=2, device=args.device, batch_size=32, epochs=args.baseline_epochs, patience=99)
        head32.evaluate = lambda d: {}  # only the training curve is compared
        head32.fit(data, progress=False)
        h32 = head32.history_
        ours32 = {
            "epoch_s": float(np.median(h32["epoch_seconds"])),
            "val_curve": h32["val"],
            "epoch_seconds": h32["epoch_seconds"],
            "time_to_target_s": time_to(h32["val"], h32["epoch_seconds"], TARGET),
        }

        print("baseline: writing one file per sample ...", flush=True)
        train_rows = np.nonzero(data.split == "train")[0]
        val_rows = np.nonzero(data.split == "val")[0]
        t_write, train_paths = timed(write_sample_files, data, train_rows, workdir / "samples/train")
        val_paths = write_sample_files(data, val_rows, workdir / "samples/val")
        base_head = PALBHead(K=2, device=args.device)
        import torch

        torch.manual_seed(base_head.config.seed)
        base_head.module_ = base_head._build(data.X.shape[1], data)
        print("baseline: training (DataLoader, batch 32) ...", flush=True)
        bh = train_per_sample(
            base_head,
            train_paths,
            val_paths,
            args.baseline_epochs,
            target=2.0,
            time_budget_s=120 if args.quick else 600,
            device=args.device,
        )
        base = {
            "epoch_s": float(np.median(bh["epoch_seconds"])),
            "val_curve": bh["val"],
            "epoch_seconds": bh["epoch_seconds"],
            "write_files_s": t_write,
            "time_to_target_s": time_to(bh["val"], bh["epoch_seconds"], TARGET),
        }
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    def ratio(a, b):
        return a / b if a is not None and b is not None else None

    res = {
        **result_record(args.quick),
        "persona": summary,
        "extract_s": t_extract,
        "extracted": ext.encoded,
        "load_pairs_s": t_load,
        "embedkit": ours,
        "embedkit_batch32": ours32,
        "baseline": base,
        "target_val_accuracy": TARGET,
        "epoch_speedup_vs_default": base["epoch_s"] / ours["epoch_s"],
        "epoch_speedup_same_batch": base["epoch_s"] / ours32["epoch_s"],
        "time_to_target_speedup": ratio(base["time_to_target_s"], ours["time_to_target_s"]),
        "time_to_target_speedup_same_batch": ratio(base["time_to_target_s"], ours32["time_to_target_s"]),
    }
    checks = {
        "PAL-B K=2 seen-user test accuracy >= 0.95": ours["seen_test_accuracy"] >= 0.95,
        "full fit under 120 s": t_fit < 120,
        "time to target accuracy >= 20x faster than the baseline": (res["time_to_target_speedup"] or 0) >= 20,
        "seconds per epoch >= 20x faster than the baseline": res["epoch_speedup_vs_default"] >= 20,
    }
    res["targets"] = checks

    def fmt(x, unit="s"):
        return "never" if x is None else f"{x:.2f} {unit}"

    rows = [
        (
            "embedkit PAL-B K=2, defaults (batch 256)",
            fmt(ours["epoch_s"]),
            fmt(ours["time_to_target_s"]),
            f"fit {t_fit:.1f} s ({ours['epochs']} epochs, early stop); seen test acc {ours['seen_test_accuracy']:.4f}",
        ),
        (
            "embedkit trainer, batch 32",
            fmt(ours32["epoch_s"]),
            fmt(ours32["time_to_target_s"]),
            f"val acc by epoch {', '.join(f'{v:.3f}' for v in ours32['val_curve'])}",
        ),
        (
            "baseline: file per sample + DataLoader, batch 32",
            fmt(base["epoch_s"]),
            fmt(base["time_to_target_s"]),
            f"val acc by epoch {', '.join(f'{v:.3f}' for v in base['val_curve'])}; writing the files took "
            f"{t_write:.1f} s",
        ),
        (
            "speed-up vs baseline (defaults)",
            f"{res['epoch_speedup_vs_default']:.1f}x",
            "n/a" if res["time_to_target_speedup"] is None else f"{res['time_to_target_speedup']:.1f}x",
            "",
        ),
        (
            "speed-up vs baseline (both batch 32)",
            f"{res['epoch_speedup_same_batch']:.1f}x",
            "n/a"
            if res["time_to_target_speedup_same_batch"] is None
            else f"{res['time_to_target_speedup_same_batch']:.1f}x",
            "",
        ),
    ]
    unseen = ours["unseen"]
    notes = [
        f"Data: {summary['pairs']} pairs ({int((data.split == 'train').sum())} train), "
        f"{summary['seen_users']} seen + {summary['unseen_users']} unseen users, MiniLM 384-d; extraction "
        f"{t_extract:.1f} s ({ext.encoded} texts encoded), pair resolution {t_load:.2f} s.",
        f"Unseen users: zero-shot {unseen['zero_shot']:.4f}; by shots "
        + ", ".join(f"{k}: {v:.4f}" for k, v in unseen.get("by_shots", {}).items())
        + ".",
        f"Per-user seen test accuracy: mean {ours['per_user']['mean']:.4f}, min {ours['per_user']['min']:.4f}.",
        f"Target validation accuracy for 'time to target': {TARGET}. Epoch time includes the validation pass.",
        "Per-epoch seconds are medians; the baseline runs at most "
        f"{args.baseline_epochs} epochs. Same model, loss, optimiser and seed in all three.",
    ]
    publish(
        result_name("train_heads", args.device, args.quick),
        res,
        rows,
        ("trainer", "s / epoch", f"time to val acc {TARGET}", "notes"),
        notes,
        lambda path: _plot(res, path),
        checks,
        QUICK_NOTE if args.quick else None,
    )


def _plot(res, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (
        ("embedkit", "embedkit (batch 256)"),
        ("embedkit_batch32", "embedkit (batch 32)"),
        ("baseline", "file per sample (batch 32)"),
    ):
        r = res[key]
        ax.plot(np.cumsum(r["epoch_seconds"]), r["val_curve"], marker="o", label=label)
    ax.axhline(res["target_val_accuracy"], color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training wall time (s, log)")
    ax.set_ylabel("seen-user validation accuracy")
    ax.set_title("PAL-B K=2 on persona (K*=2)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
