"""PAL Figure 5 and Figure 15 (section 4.2.2, appendix B): Pick-a-Filter, PAL-B K = 1 against K = 2 across
mixture ratios, through the real import -> build pick-a-filter -> extract -> fit -> eval path.

Pick-a-Pic is not available here, so the script first generates a small text-to-image-style preference
set **in Pick-a-Pic's parquet layout** and runs everything else exactly as a user with the real files would:

- **Scenes**: drawn pictures (Pillow) of houses, trees, a sun and hills, each caption written from what is
  drawn ("two red houses and three trees under a sun"); every caption gets two renderings (as Pick-a-Pic
  has two generations per prompt) that differ in layout, colours and sharpness.
- **Shared, noisy base taste**: every image has a quality q (sharp rendering + 0.5 x saturation, plus
  per-image noise); a user picks image A with probability sigmoid((q_A - q_B) / 0.3), so users agree on
  average but not pair by pair; 5% of the comparisons are ties (kept by the import, dropped by the build).
- **Users**: ids with a heavy-tailed count distribution like Pick-a-Pic's (a few users label a lot, most a
  little: counts ~ 5 + Zipf(1.6), capped); each comparison lands in the train / validation / test file with
  probability 0.85 / 0.03 / 0.12.

Then ``embedkit convert pick-a-pic`` on the three parquet files, ``embedkit build pick-a-filter`` for each
beta in {0.25, 0.5, 0.75, 1}, ``embedkit extract`` with a real open_clip architecture, PAL-B with K = 1 and
K = 2 on each, and ``eval``'s accuracy on the seen users' test pairs (Figure 5) and on their filtered and
original test pairs separately (Figure 15).

No CLIP weights can be downloaded here: by default the model is ViT-B-32 with random weights (its
features keep colour and layout but not semantics), and the script says so in its output. For the paper's
setting, pass real weights and the real data:

    .venv/bin/python benchmarks/pick_a_filter.py --arch ViT-H-14 --pretrained open_clip_pytorch_model.bin \\
        --pickapic /data/pickapic_v1/            # the v1 parquet files; --min-labels 50 --seen-users 50

    .venv/bin/python benchmarks/pick_a_filter.py --quick   # ~5 minutes on 2 CPU cores (random ViT-B-32)
    .venv/bin/python benchmarks/pick_a_filter.py           # ~15 minutes: more users, 3 seeds

Writes benchmarks/results/pick_a_filter{-quick}.{json,md,png}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, publish, pyplot, random_open_clip_checkpoint  # noqa: E402
from embedkit.data.items import collect_items  # noqa: E402
from embedkit.datasets.pick_a_filter import PickAFilterConfig, build_pick_a_filter  # noqa: E402
from embedkit.datasets.pick_a_pic import convert_pickapic  # noqa: E402
from embedkit.encoders.registry import create_encoder  # noqa: E402
from embedkit.extract import extract  # noqa: E402
from embedkit.heads import create_head, load_pair_data  # noqa: E402
from embedkit.heads.api import evaluate_by_tags  # noqa: E402

BETAS = (0.25, 0.5, 0.75, 1.0)
PAPER = {"K=1 at beta=1": 0.754, "K=2 at beta=1": 0.952, "CLIP-H14 on original pairs": 0.65}
COLOURS = {
    "red": (200, 40, 40),
    "blue": (40, 70, 200),
    "green": (40, 150, 60),
    "yellow": (220, 200, 40),
    "white": (235, 235, 235),
    "brown": (120, 80, 40),
}
NUMBERS = ("one", "two", "three")


def draw_scene(caption_spec: dict, rng: np.random.Generator, size: int = 128):
    """One rendering of a caption: (PIL image, quality). Layout, shades and sharpness vary per rendering."""
    from PIL import Image, ImageDraw, ImageFilter

    sky = np.array((120, 170, 230)) + rng.normal(0, 20, 3)
    img = Image.new("RGB", (size, size), tuple(int(c) for c in sky.clip(0, 255)))
    d = ImageDraw.Draw(img)
    ground = np.array((90, 160, 80)) + rng.normal(0, 20, 3)
    d.rectangle([0, int(size * 0.65), size, size], fill=tuple(int(c) for c in ground.clip(0, 255)))
    for _ in range(int(rng.integers(1, 3))):  # hills
        x = int(rng.integers(-20, size))
        d.ellipse(
            [x, int(size * 0.5), x + 60, int(size * 0.8)],
            fill=tuple(int(c) for c in (ground * 0.8).clip(0, 255)),
        )
    if caption_spec["sun"]:
        x, y = int(rng.integers(5, size - 30)), int(rng.integers(5, 25))
        d.ellipse([x, y, x + 22, y + 22], fill=(250, 220, 60))
    colour = np.array(COLOURS[caption_spec["colour"]]) + rng.normal(0, 15, 3)
    for _ in range(caption_spec["houses"]):
        x = int(rng.integers(0, size - 30))
        y = int(size * 0.65) - 25
        d.rectangle([x, y, x + 26, y + 25], fill=tuple(int(c) for c in colour.clip(0, 255)))
        d.polygon([(x - 3, y), (x + 13, y - 14), (x + 29, y)], fill=(110, 40, 30))
    for _ in range(caption_spec["trees"]):
        x = int(rng.integers(0, size - 14))
        y = int(size * 0.65)
        d.rectangle([x + 5, y - 10, x + 9, y + 2], fill=(90, 60, 30))
        d.ellipse([x, y - 28, x + 14, y - 8], fill=(30, 120 + int(rng.integers(0, 60)), 40))
    sharp = rng.random() < 0.5
    if not sharp:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(1.0, 2.5))))
    arr = np.asarray(img, np.float32) / 255.0
    saturation = float((arr.max(-1) - arr.min(-1)).mean())
    quality = float(sharp) + 0.5 * saturation + rng.normal(0, 0.15)
    return img, quality


def caption_of(spec: dict) -> str:
    houses = f"{NUMBERS[spec['houses'] - 1]} {spec['colour']} house{'s' if spec['houses'] > 1 else ''}"
    trees = f"{NUMBERS[spec['trees'] - 1]} tree{'s' if spec['trees'] > 1 else ''}"
    return f"{houses} and {trees}" + (" under a sun" if spec["sun"] else " on a cloudy day")


def generate_pickapic(root: Path, n_captions: int, n_users: int, seed: int) -> dict:
    """Three parquet files (train / validation_unique / test_unique) in the Pick-a-Pic layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    gens = []  # per caption: (caption, (bytes_0, q_0), (bytes_1, q_1))
    for _ in range(n_captions):
        spec = {
            "houses": int(rng.integers(1, 4)),
            "trees": int(rng.integers(1, 4)),
            "sun": bool(rng.random() < 0.5),
            "colour": str(rng.choice(list(COLOURS))),
        }
        pair = []
        for _ in range(2):
            img, q = draw_scene(spec, rng)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=90)
            pair.append((buf.getvalue(), q))
        gens.append((caption_of(spec), *pair))
    counts = np.minimum(5 + rng.zipf(1.6, n_users), 400)
    files = {"train": defaultdict(list), "validation": defaultdict(list), "test": defaultdict(list)}
    ranking = 0
    for u, n in enumerate(counts.tolist()):
        for _ in range(n):
            c = int(rng.integers(n_captions))
            caption, (b0, q0), (b1, q1) = gens[c]
            ranking += 1
            if rng.random() < 0.05:
                l0 = l1 = 0.5
            else:
                a_wins = rng.random() < 1 / (1 + np.exp(-(q0 - q1) / 0.3))
                l0, l1 = float(a_wins), float(not a_wins)
            split = rng.choice(["train", "validation", "test"], p=[0.85, 0.03, 0.12])
            t = files[split]
            t["caption"].append(caption)
            t["jpg_0"].append(b0)
            t["jpg_1"].append(b1)
            t["label_0"].append(l0)
            t["label_1"].append(l1)
            t["user_id"].append(1000 + u)
            t["image_0_uid"].append(f"{c}-0")
            t["image_1_uid"].append(f"{c}-1")
            t["best_image_uid"].append("" if l0 == 0.5 else f"{c}-{0 if l0 else 1}")
            t["ranking_id"].append(ranking)
    paths = []
    for split, name in (("train", "train-00000-of-00001"), ("validation", "validation_unique-00000-of-00001"),
                        ("test", "test_unique-00000-of-00001")):  # fmt: skip
        path = root / f"{name}.parquet"
        pq.write_table(pa.table(dict(files[split])), path, row_group_size=256)
        paths.append(path)
    return {"paths": paths, "users": n_users, "pairs": int(counts.sum()), "captions": n_captions}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer users and captions, one seed")
    ap.add_argument("--seeds", type=int, default=None, help="seeds (default: 1 quick, 3 full)")
    ap.add_argument("--arch", default="ViT-B-32", help="open_clip architecture (default ViT-B-32)")
    ap.add_argument("--pretrained", default=None, help="a checkpoint file (default: random weights)")
    ap.add_argument("--pickapic", default=None, help="real Pick-a-Pic parquet files (a folder) instead")
    ap.add_argument("--min-labels", type=int, default=None, help="default: 20 generated, 50 with --pickapic")
    ap.add_argument("--seen-users", type=int, default=None, help="default: 10 generated, 50 with --pickapic")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    q = args.quick
    seeds = range(args.seeds or (1 if q else 3))
    real = args.pickapic is not None
    min_labels = args.min_labels if args.min_labels is not None else (50 if real else 20)
    seen_users = args.seen_users if args.seen_users is not None else (50 if real else 10)
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-bench-paf-"))
    runs = []
    try:
        ckpt = args.pretrained
        if ckpt is None:
            ckpt = random_open_clip_checkpoint(args.arch, workdir)
        enc = create_encoder(f"open_clip:{args.arch}:{ckpt}", device=args.device)
        for seed in seeds:
            src = workdir / f"src{seed}"
            src.mkdir()
            if real:
                from embedkit.datasets.pick_a_pic import iter_paths

                paths, gen = iter_paths([args.pickapic]), {"real": True}
            else:
                gen = generate_pickapic(
                    src, n_captions=60 if q else 150, n_users=120 if q else 300, seed=seed
                )
                paths = gen.pop("paths")
            conv = convert_pickapic(paths, workdir / f"pap{seed}")
            print(f"seed {seed}: converted {conv['pairs']} pairs of {conv['users']} users", flush=True)
            for beta in BETAS:
                out = workdir / f"paf{seed}-{beta}"
                rep = build_pick_a_filter(
                    workdir / f"pap{seed}/pairs.jsonl",
                    out,
                    PickAFilterConfig(
                        mixture_ratio=beta, seen_users=seen_users, min_labels=min_labels, seed=seed
                    ),
                )
                extract(collect_items([out / "pairs.jsonl"]), workdir / "cache", enc, progress=False)
                data = load_pair_data([out / "pairs.jsonl"], workdir / "cache", encoder=enc.fingerprint)
                row = {"seed": seed, "beta": beta, "users": rep["users"], "pairs": rep["pairs"]}
                row.update({f"generated_{k}": v for k, v in gen.items()})
                for K in (1, 2):
                    head = create_head("pal-b", K=K, device=args.device, seed=seed).fit(data, progress=False)
                    m = head.evaluate(data)
                    by = evaluate_by_tags(head, data)["filtered"]
                    row[f"K={K}"] = m["seen"]["test"]["accuracy"]
                    for part in ("none", "winner", "loser"):
                        if part in by:
                            row[f"K={K} {part}"] = by[part]["seen_test"]["accuracy"]
                    row[f"K={K} filtered"] = _mean_of(by, ("winner", "loser"))
                print(
                    f"seed {seed} beta {beta}: K=1 {row['K=1']:.4f}, K=2 {row['K=2']:.4f} "
                    f"(K=2 filtered {row['K=2 filtered']:.4f}, original {row.get('K=2 none', float('nan')):.4f})",
                    flush=True,
                )
                runs.append(row)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def agg(beta, key):
        xs = [r[key] for r in runs if r["beta"] == beta and key in r]
        return (float(np.mean(xs)), float(np.std(xs))) if xs else (float("nan"), float("nan"))

    table = []
    summary = {}
    for beta in BETAS:
        s = {k: agg(beta, k) for k in ("K=1", "K=2", "K=1 filtered", "K=2 filtered", "K=1 none", "K=2 none")}
        summary[str(beta)] = s
        table.append(
            (
                beta,
                f"{s['K=1'][0]:.3f} ± {s['K=1'][1]:.3f}",
                f"{s['K=2'][0]:.3f} ± {s['K=2'][1]:.3f}",
                f"{s['K=2'][0] - s['K=1'][0]:+.3f}",
                f"{s['K=2 filtered'][0]:.3f} / {s['K=2 none'][0]:.3f}",
                f"{s['K=1 filtered'][0]:.3f} / {s['K=1 none'][0]:.3f}",
            )
        )
    checks = {
        "K = 2 beats K = 1 at every mixture ratio": all(
            summary[str(b)]["K=2"][0] > summary[str(b)]["K=1"][0] for b in BETAS
        ),
        "the gap grows with the mixture ratio (beta = 1 against 0.25)": (
            summary["1.0"]["K=2"][0] - summary["1.0"]["K=1"][0]
            > summary["0.25"]["K=2"][0] - summary["0.25"]["K=1"][0]
        ),
    }
    weights = "random-init" if args.pretrained is None else args.pretrained
    out = {
        "run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": q,
        "machine": machine(),
        "model": f"open_clip {args.arch} ({weights})",
        "data": "Pick-a-Pic files" if real else "generated Pick-a-Pic-style set (see the script's docstring)",
        "min_labels": min_labels,
        "seen_users": seen_users,
        "runs": runs,
        "summary": summary,
        "paper": PAPER,
        "targets": checks,
    }
    notes = [f"{'PASS' if ok else 'FAIL'}: {n}" for n, ok in checks.items()]
    n_users = sorted(
        {(r["seed"], r["beta"], sum(sum(g.values()) for g in r["users"].values())) for r in runs}
    )
    notes += [
        f"Model: open_clip {args.arch} with {weights} weights"
        + (
            ": the numbers come from random-init features (colour and layout survive, semantics do not); pass "
            "--pretrained CHECKPOINT (e.g. CLIP-H/14 with --arch ViT-H-14) for real ones."
            if args.pretrained is None
            else "."
        ),
        "Data: "
        + (
            "the given Pick-a-Pic files."
            if real
            else "a generated Pick-a-Pic-style set (drawn scenes, captions from what is drawn, a shared noisy taste for "
            "sharp, saturated images, heavy-tailed user counts), written as Pick-a-Pic parquet files and imported with "
            "`embedkit convert pick-a-pic`."
        ),
        f"Build: `embedkit build pick-a-filter` with --min-labels {min_labels} and --seen-users {seen_users}"
        + ("" if real else " (the paper's 50 / 50 need Pick-a-Pic's size)")
        + f"; users kept per run: {sorted({u for *_, u in n_users})}.",
        "Accuracy on the seen users' test pairs; 'filtered / original' splits them by the file's filtered column "
        "(PAL Figure 15). Paper (CLIP-H/14 on Pick-a-Filter v1): K=1 0.754 and K=2 0.952 at beta = 1; ~0.65 for "
        "CLIP-H14 on the original pairs.",
        f"PAL-B, embedkit defaults; mean ± std over {len(seeds)} seed(s) (data and initialisation).",
    ]
    if q:
        notes.append("QUICK run: fewer users and captions, one seed.")
    name = "pick_a_filter" + ("-quick" if q else "")
    publish(
        name,
        out,
        table,
        ("beta", "K = 1", "K = 2", "K = 2 - K = 1", "K = 2 filtered / original", "K = 1 filtered / original"),
        notes,
        lambda path: plot(summary, path),
    )


def _mean_of(by: dict, parts) -> float:
    """Accuracy over the test pairs of several tag values, weighted by their pair counts."""
    num = den = 0.0
    for p in parts:
        if p in by:
            t = by[p]["seen_test"]
            num += float(t["accuracy"]) * t["pairs"]
            den += t["pairs"]
    return num / den if den else float("nan")


def plot(summary, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    x = np.arange(len(BETAS))
    for i, K in enumerate((1, 2)):
        ax[0].bar(
            x + 0.38 * i,
            [summary[str(b)][f"K={K}"][0] for b in BETAS],
            0.38,
            yerr=[summary[str(b)][f"K={K}"][1] for b in BETAS],
            capsize=3,
            label=f"PAL-B K = {K}" + (" (homogeneous)" if K == 1 else ""),
        )
    ax[0].set_xticks(x + 0.19, [str(b) for b in BETAS])
    ax[0].set_xlabel("mixture ratio beta")
    ax[0].set_ylabel("seen-user test accuracy")
    ax[0].set_ylim(0.4, 1)
    ax[0].set_title("Figure 5: Pick-a-Filter")
    ax[0].legend(fontsize=8)
    for i, part in enumerate(("filtered", "none")):
        ax[1].bar(
            x + 0.38 * i,
            [summary[str(b)][f"K=2 {part}"][0] for b in BETAS],
            0.38,
            label="colour-filtered pairs" if part == "filtered" else "original pairs",
        )
    ax[1].set_xticks(x + 0.19, [str(b) for b in BETAS])
    ax[1].set_xlabel("mixture ratio beta")
    ax[1].set_ylim(0.4, 1)
    ax[1].set_title("Figure 15: K = 2 on filtered / original test pairs")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
