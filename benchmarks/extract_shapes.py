"""Text extraction at the shapes of real models, with random weights: embedkit against the loop a user
writes, in one run. For the GPU machine, which has no model weights and no network.

The model is built from a configuration file in ``benchmarks/gpu_configs/`` (the real model's shape, random
weights, seed 0) and saved as a model directory; a forward pass costs the same whatever the weights, so
throughput and memory are the real model's, the vectors are not. Tokenizers: SmolLM2's BPE for the Llama
shapes (the real Llama-3 vocabulary size is kept in the embedding, so memory is right; token counts differ
a little from Llama-3's tokenizer), the MiniLM WordPiece for the BERT/MPNet shapes.

- LLM shapes (``smollm2``, ``llama-1b``, ``llama-8b``): ``embedkit extract --encoder hf:DIR`` (final hidden
  state, last token) against a plain transformers loop with the model loaded in the same dtype, batches
  of ``--batch-size`` texts in file order, tokenize, forward, gather the last real token, copy back.
- Sentence-transformers shapes (``minilm``, ``mpnet``): ``embedkit extract --encoder st:DIR`` against
  ``SentenceTransformer.encode`` of the same loaded model, same batch size.

The texts are persona statements joined 1-4 at a time (lengths vary, as real inputs do). Both sides load
their model before timing; each checks that its vectors agree with the other's (cosine).

    .venv/bin/python benchmarks/extract_shapes.py --model smollm2 --quick            # CPU check
    python3 benchmarks/extract_shapes.py --model llama-1b --device cuda --half --texts 10000

Writes benchmarks/results/extract_shapes-MODEL[-cuda][-quick].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    QUICK_NOTE,
    REPO,
    persona_records,
    publish,
    result_name,
    result_record,
    timed,
)

CONFIGS = REPO / "benchmarks" / "gpu_configs"
LLMS = ("smollm2", "llama-1b", "llama-8b")
ST_MODELS = ("minilm", "mpnet")


def texts_of(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts: persona statements joined 1-4 at a time."""
    statements = [r["statement"] for r in persona_records()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(1, 5))
        out.append(" ".join(statements[j] for j in rng.integers(0, len(statements), k)) + f" ({i})")
    return out


def random_model_dir(name: str, workdir: Path, device: str, dtype, layers: int | None = None) -> Path:
    """A model directory (config, random weights as safetensors, tokenizer) of the shape ``name``
    (``layers``: fewer layers, for a check on a small machine)."""
    import torch
    from transformers import AutoConfig, AutoModel

    cfg = json.loads((CONFIGS / f"{name}.json").read_text())
    cfg.pop("_shape_of", None)
    if layers:
        cfg["num_hidden_layers"] = layers
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    out = workdir / name
    torch.manual_seed(0)
    with torch.device(device if str(device).startswith("cuda") else "cpu"):  # initialised where it runs
        model = AutoModel.from_config(config, dtype=dtype)
    model.save_pretrained(out)
    model = None  # let the plain side's weights go before embedkit loads its own
    tok = CONFIGS / "tokenizers" / ("smollm2" if name in LLMS else "bert")
    for f in tok.iterdir():
        shutil.copy(f, out / f.name)
    if name in ST_MODELS:  # a sentence-transformers folder: the transformer and mean pooling
        from sentence_transformers import SentenceTransformer, models

        st = SentenceTransformer(
            modules=[models.Transformer(str(out)), models.Pooling(config.hidden_size, "mean")], device="cpu"
        )
        st.save(str(workdir / f"{name}-st"))
        return workdir / f"{name}-st"
    return out


def gpu_memory(device: str) -> dict:
    import torch

    if not str(device).startswith("cuda"):
        return {}
    return {
        "allocated_gib": torch.cuda.memory_allocated(device) / 2**30,
        "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30,
    }


def weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def bench_llm(model_dir: Path, texts: list[str], batch_size: int, device: str, half: bool, workdir: Path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from embedkit.cache import EmbeddingCache, text_keys
    from embedkit.encoders.registry import create_encoder
    from embedkit.extract import extract

    dtype = torch.bfloat16 if half else torch.float32
    res = {}
    # --- the plain loop a user writes: model in bf16, file order, fixed batches ---
    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    tok.padding_side = "right"
    model = AutoModel.from_pretrained(str(model_dir), dtype=dtype).to(device).eval()
    res["plain_weights_gib"] = weight_bytes(model) / 2**30
    res["plain_memory_after_load"] = gpu_memory(device)

    def plain():
        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), batch_size):
                b = tok(texts[s : s + batch_size], padding=True, return_tensors="pt").to(device)
                h = model(**b).last_hidden_state
                last = b["attention_mask"].sum(1) - 1
                out.append(h[torch.arange(h.shape[0], device=h.device), last].float().cpu().numpy())
        return np.concatenate(out)

    plain()  # warm-up on the same texts: kernels chosen, allocator warm
    t_plain, ref = timed(plain)
    res["plain_memory_peak"] = gpu_memory(device)
    model = None  # let the plain side's weights go before embedkit loads its own
    if str(device).startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    # --- embedkit ---
    enc = create_encoder(f"hf:{model_dir}", device=device, bf16=half)
    enc.load()
    res["embedkit_weights_gib"] = weight_bytes(enc._model) / 2**30
    res["embedkit_weight_dtypes"] = sorted({str(p.dtype) for p in enc._model.parameters()})
    res["embedkit_memory_after_load"] = gpu_memory(device)
    enc.encode(texts[: batch_size * 8], batch_size=batch_size)  # warm-up
    t_ours, r = timed(extract, texts, workdir / "cache", enc, batch_size=batch_size, progress=False)
    res["embedkit_memory_peak"] = gpu_memory(device)
    stored = (
        EmbeddingCache(workdir / "cache").namespace(enc.fingerprint).get(text_keys(texts), dtype=np.float32)
    )
    cos = (stored * ref).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(ref, axis=1)
    return t_plain, t_ours, float(cos.min()), res


def bench_st(model_dir: Path, texts: list[str], batch_size: int, device: str, half: bool, workdir: Path):
    import torch

    from embedkit.cache import EmbeddingCache, text_keys
    from embedkit.encoders.registry import create_encoder
    from embedkit.extract import extract

    enc = create_encoder(f"st:{model_dir}", device=device, fp16=half)
    enc.load()
    model = enc.model  # the same loaded model on both sides
    model.encode(texts[:256], batch_size=batch_size)  # warm-up
    t_plain, ref = timed(
        model.encode, texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
    )
    t_ours, r = timed(extract, texts, workdir / "cache", enc, batch_size=batch_size, progress=False)
    stored = (
        EmbeddingCache(workdir / "cache").namespace(enc.fingerprint).get(text_keys(texts), dtype=np.float32)
    )
    ref = np.asarray(ref, np.float32)
    cos = (stored * ref).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(ref, axis=1)
    del torch
    return t_plain, t_ours, float(cos.min()), {"embedkit_memory_peak": gpu_memory(device)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=LLMS + ST_MODELS)
    ap.add_argument("--texts", type=int, default=None, help="default 20,000 (2,000 for llama-8b; 200 quick)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 64 for LLMs, 512 for MiniLM/mpnet")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--half", action="store_true", help="bf16 (LLMs) / fp16 (sentence-transformers) on both sides"
    )
    ap.add_argument("--quick", action="store_true", help="a few hundred texts, to check the script runs")
    ap.add_argument("--layers", type=int, default=None, help="fewer layers than the real model (a CPU check)")
    args = ap.parse_args()
    import torch

    llm = args.model in LLMS
    n = args.texts or (200 if args.quick else 2000 if args.model == "llama-8b" else 20000)
    batch = args.batch_size or (64 if llm else 512)
    texts = texts_of(n)
    workdir = Path(tempfile.mkdtemp(prefix="embedkit-shapes-"))
    try:
        half_dtype = torch.bfloat16 if llm else torch.float16
        t0, model_dir = timed(
            random_model_dir,
            args.model,
            workdir,
            args.device,
            half_dtype if args.half else torch.float32,
            args.layers,
        )
        run = bench_llm if llm else bench_st
        t_plain, t_ours, cos, extra = run(model_dir, texts, batch, args.device, args.half, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    shape = json.loads((CONFIGS / f"{args.model}.json").read_text())["_shape_of"]
    baseline = (
        "plain transformers loop (model in the same dtype, file order)"
        if llm
        else "SentenceTransformer.encode"
    )
    res = result_record(
        args.quick,
        model=args.model,
        shape_of=shape,
        random_weights=True,
        layers=args.layers or "as the real model",
        device=args.device,
        precision=("bf16" if llm else "fp16") if args.half else "fp32",
        texts=n,
        batch_size=batch,
        build_model_s=t0,
        plain_s=t_plain,
        embedkit_s=t_ours,
        plain_texts_per_s=n / t_plain,
        embedkit_texts_per_s=n / t_ours,
        ratio=t_plain / t_ours,
        min_cosine=cos,
        **extra,
    )
    target = (1.2 if args.model == "llama-1b" else 1.0) if llm else 1.5
    on_gpu = str(args.device).startswith("cuda")
    checks = {"vectors agree (cosine >= 0.99)": cos >= 0.99}
    if on_gpu:
        checks[f"embedkit >= {target}x the baseline on a GPU"] = res["ratio"] >= target
    else:
        checks["embedkit >= 0.95x the baseline on CPU (nothing slower)"] = res["ratio"] >= 0.95
    res["targets"] = checks
    rows = [
        (f"{baseline}", f"{t_plain:.2f} s", f"{n / t_plain:,.0f} texts/s", "baseline"),
        (
            "embedkit extract",
            f"{t_ours:.2f} s",
            f"{n / t_ours:,.0f} texts/s",
            f"{res['ratio']:.2f}x; min cosine {cos:.4f}",
        ),
    ]
    notes = [
        f"Shape of {shape}{f', cut to {args.layers} layer(s)' if args.layers else ''}, RANDOM weights (seed 0): a forward pass costs the same whatever the weights; the "
        "vectors mean nothing.",
        f"{n} texts (persona statements joined 1-4 at a time), batch {batch}, device {args.device}, "
        f"{res['precision']}; models loaded before timing.",
    ]
    if llm:
        notes.append(
            f"Weights in memory: plain {res['plain_weights_gib']:.2f} GiB, embedkit {res['embedkit_weights_gib']:.2f} "
            f"GiB ({', '.join(res['embedkit_weight_dtypes'])})"
            + (
                f"; GPU peak plain {res['plain_memory_peak']['peak_gib']:.2f} GiB, embedkit "
                f"{res['embedkit_memory_peak']['peak_gib']:.2f} GiB"
                if on_gpu
                else ""
            )
            + "."
        )
    name = result_name(f"extract_shapes-{args.model}", args.device if on_gpu else "cpu", args.quick)
    header = ("case", "time", "throughput", "result")
    publish(name, res, rows, header, notes, checks=checks, quick_note=QUICK_NOTE if args.quick else None)
    print("RESULT " + json.dumps({k: v for k, v in res.items() if k not in ("machine",)}, default=str))


if __name__ == "__main__":
    main()
