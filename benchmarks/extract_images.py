"""Image extraction benchmark: ``embedkit extract`` against a plain open_clip loop, in one run.

The plain loop is what one writes by hand: for each batch, open every image with PIL in the main process,
apply open_clip's preprocessing, stack, ``model.encode_image``. embedkit decodes in DataLoader workers
(and decodes large JPEGs at reduced scale) while the model runs, then hashes and writes shards. Both use
the same model object and batch size, and each case checks that the vectors agree.

- (a) small images (256 x 256 PNG): the model dominates; target >= 0.95x the plain loop's images/s
  (the cache and data loading cost under 5%).
- (b) large photos (3000 x 2000 JPEG): decoding dominates; target >= 1.5x.

No CLIP weights can be downloaded here: the model is a real open_clip architecture with random weights
(the cost of a forward pass does not depend on the weights). Pass --arch/--pretrained for a real model.

    .venv/bin/python benchmarks/extract_images.py            # ~4 minutes on 2 CPU cores
    .venv/bin/python benchmarks/extract_images.py --quick    # scaled down, to check it runs

Writes benchmarks/results/extract_images.{json,md,png}.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    QUICK_NOTE,
    publish,
    random_open_clip_checkpoint,
    result_name,
    result_record,
    timed,
)
from embedkit.cache import EmbeddingCache  # noqa: E402
from embedkit.cache.keys import file_key  # noqa: E402
from embedkit.data.items import collect_items  # noqa: E402
from embedkit.encoders.registry import create_encoder  # noqa: E402
from embedkit.extract import default_workers, extract  # noqa: E402


def make_images(folder: Path, n: int, size: tuple[int, int], fmt: str, seed: int = 0) -> list[Path]:
    """Pictures with real content (gradients, shapes, noise), so decoders and JPEG do real work."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    paths = []
    for i in range(n):
        c0, c1 = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
        t = (xx / w)[..., None]
        arr = (c0 * (1 - t) + c1 * t + rng.normal(0, 10, (h, w, 3))).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            draw.rectangle(
                [x0, y0, x0 + w // 5, y0 + h // 5], fill=tuple(int(v) for v in rng.integers(0, 255, 3))
            )
        p = folder / f"{i:05d}.{'jpg' if fmt == 'JPEG' else 'png'}"
        img.save(p, format=fmt, quality=90) if fmt == "JPEG" else img.save(p, format=fmt)
        paths.append(p)
    return paths


def plain_loop(enc, paths, batch_size, fp16=False):
    """The hand-written baseline: PIL open + preprocess in the main process, the batch copied to the model's
    device, then encode_image (under float16 autocast with ``fp16``, as embedkit computes)."""
    import contextlib

    import torch
    from PIL import Image

    model, preprocess = enc._load(), enc.image_transform()
    device = str(enc.device)
    amp = torch.autocast("cuda", dtype=torch.float16) if fp16 else contextlib.nullcontext()
    out = []
    with torch.inference_mode(), amp:
        for s in range(0, len(paths), batch_size):
            batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths[s : s + batch_size]])
            out.append(model.encode_image(batch.to(device)).float().cpu().numpy())
    return np.concatenate(out)


def run_case(name, enc, paths, batch_size, workdir, workers, repeats, fp16=False):
    """Median over ``repeats`` interleaved runs of each side (the machine's load drifts; both see it)."""
    plain_loop(enc, paths[:batch_size], batch_size, fp16)  # warm-up (allocations, first-call overheads)
    items = collect_items([paths[0].parent])
    t_plain, t_ours = [], []
    for rep in range(repeats):
        t, ref = timed(plain_loop, enc, paths, batch_size, fp16)
        t_plain.append(t)
        cache = workdir / f"cache-{name}-{rep}"
        t, r = timed(extract, items, cache, enc, batch_size=batch_size, workers=workers, progress=False)
        t_ours.append(t)
        assert r.encoded == len(paths)
    stored = (
        EmbeddingCache(cache).namespace(enc.fingerprint).get([file_key(p) for p in paths], dtype=np.float32)
    )
    cos = (stored * ref).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(ref, axis=1)
    tp, to = float(np.median(t_plain)), float(np.median(t_ours))
    return {
        "images": len(paths),
        "repeats": repeats,
        "plain_s": tp,
        "extract_s": to,
        "plain_s_all": t_plain,
        "extract_s_all": t_ours,
        "plain_images_per_s": len(paths) / tp,
        "extract_images_per_s": len(paths) / to,
        "speedup": tp / to,
        "min_cosine_vs_plain": float(cos.min()),
    }


def plot(res, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key, title in ((axes[0], "small", "(a) small PNGs"), (axes[1], "large", "(b) large JPEGs")):
        c = res[key]
        ax.bar(
            ["plain loop", "embedkit extract"],
            [c["plain_images_per_s"], c["extract_images_per_s"]],
            color=["grey", "tab:blue"],
        )
        ax.set_ylabel("images / s")
        ax.set_title(f"{title}: {c['speedup']:.2f}x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="scaled-down run to check the script works")
    ap.add_argument("--arch", default="ViT-B-32", help="open_clip architecture (default ViT-B-32)")
    ap.add_argument("--pretrained", default=None, help="a checkpoint file (default: random weights)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--workers", type=int, default=None, help="default: embedkit's (one per CPU, memory permitting)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fp16", action="store_true", help="float16 compute on both sides (CUDA)")
    ap.add_argument("--small", type=int, default=None, help="small PNGs (default 192; quick 32)")
    ap.add_argument("--large", type=int, default=None, help="large JPEGs (default 96; quick 16)")
    ap.add_argument(
        "--repeats", type=int, default=None, help="interleaved runs of each side (default 3; quick 1)"
    )
    args = ap.parse_args()
    q = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-bench-img-"))
    try:
        ckpt = args.pretrained
        if ckpt is None:
            ckpt = random_open_clip_checkpoint(args.arch, workdir, args.device)
        enc = create_encoder(f"open_clip:{args.arch}:{ckpt}", device=args.device, fp16=args.fp16)
        enc.load()
        workers = default_workers() if args.workers is None else args.workers
        print("(a) small PNGs ...", flush=True)
        small = run_case(
            "small",
            enc,
            make_images(workdir / "small", args.small or (32 if q else 192), (256, 256), "PNG"),
            args.batch_size,
            workdir,
            workers,
            args.repeats or (1 if q else 3),
            args.fp16,
        )
        print("(b) large JPEGs ...", flush=True)
        large = run_case(
            "large",
            enc,
            make_images(workdir / "large", args.large or (16 if q else 96), (3000, 2000), "JPEG", seed=1),
            args.batch_size,
            workdir,
            workers,
            args.repeats or (1 if q else 3),
            args.fp16,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    res = result_record(
        q,
        model=f"open_clip {args.arch} ({'random init' if args.pretrained is None else args.pretrained})",
        batch_size=args.batch_size,
        workers=workers,
        device=args.device,
        precision="fp16" if args.fp16 else "fp32",
        small=small,
        large=large,
    )
    checks = {
        "small images: extract >= 0.95x the plain loop": small["speedup"] >= 0.95,
        "large JPEGs (decode-bound): extract >= 1.5x the plain loop": large["speedup"] >= 1.5,
        "vectors agree (cosine >= 0.999)": min(small["min_cosine_vs_plain"], large["min_cosine_vs_plain"])
        >= 0.999,
    }
    res["targets"] = checks
    rows = []
    for key, label in (("small", "(a) 256x256 PNG"), ("large", "(b) 3000x2000 JPEG")):
        c = res[key]
        rows += [
            (
                f"{label}: plain open_clip loop",
                f"{c['plain_s']:.2f} s",
                f"{c['plain_images_per_s']:.1f} images/s",
                "baseline",
            ),
            (
                f"{label}: embedkit extract",
                f"{c['extract_s']:.2f} s",
                f"{c['extract_images_per_s']:.1f} images/s",
                f"{c['speedup']:.2f}x; min cosine {c['min_cosine_vs_plain']:.5f}",
            ),
        ]
    notes = [
        f"Model: {res['model']}, batch {args.batch_size}, device {args.device}, embedkit with {workers} decoding "
        "worker(s); the model is loaded before timing either side; times are medians of "
        f"{small['repeats']} interleaved runs of each side (each extract into a fresh cache).",
        "Random weights: the numbers measure throughput, not feature quality. Pass --pretrained CHECKPOINT "
        "for a real model.",
        "Large JPEGs: embedkit asks PIL to decode at >= 2x the model's input size (JPEG draft mode), the plain "
        "loop decodes at full size, as open_clip's own preprocessing would.",
    ]
    name = result_name("extract_images", args.device, q)
    header = ("case", "time", "throughput", "result")
    publish(name, res, rows, header, notes, lambda path: plot(res, path), checks, QUICK_NOTE if q else None)


if __name__ == "__main__":
    main()
