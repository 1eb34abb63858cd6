"""gpu.sh's record keeper: append one step to the run's JSONL and rewrite its Markdown table.

    python benchmarks/gpu_summary.py add RUN.jsonl RUN.md DEVICE NAME STATUS SECONDS RESULT_NAME COMMAND [STARTED]
    python benchmarks/gpu_summary.py markdown RUN.jsonl RUN.md DEVICE      # only rewrite RUN.md

RESULT_NAME: the step's ``benchmarks/results/RESULT_NAME.json`` (empty: none), copied into the line when the
step wrote it (modified after STARTED, the step's start in seconds since the epoch). Only the standard
library: it must work wherever the steps run.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def headline(r: dict) -> str:
    """The few numbers a reader looks for in a step's result."""
    if not r:
        return ""
    if "embedkit_texts_per_s" in r:  # extract_shapes
        s = (
            f"{r['embedkit_texts_per_s']:,.0f} vs {r['plain_texts_per_s']:,.0f} texts/s = **{r['ratio']:.2f}x**, "
            f"{r['precision']}, {r['texts']} texts, cosine {r['min_cosine']:.4f}"
        )
        peak = (r.get("embedkit_memory_peak") or {}).get("peak_gib")
        if peak is not None:
            s += f", GPU peak {peak:.1f} GiB"
            if r.get("embedkit_weights_gib") is not None:  # the LLM steps only
                s += f" (weights {r['embedkit_weights_gib']:.1f} GiB)"
        return s
    if "small" in r and "large" in r:  # extract_images
        a, b = r["small"], r["large"]
        return (
            f"small: {a['extract_images_per_s']:,.0f} vs {a['plain_images_per_s']:,.0f} img/s = "
            f"**{a['speedup']:.2f}x**; large: {b['extract_images_per_s']:,.1f} vs {b['plain_images_per_s']:,.1f} "
            f"= **{b['speedup']:.2f}x**; {r.get('model', '')}, {r.get('workers')} workers"
        )
    targets = r.get("targets") or {}
    return ", ".join(f"{'PASS' if ok else 'FAIL'}: {k}" for k, ok in targets.items())[:300]


def add(
    jsonl: str,
    md: str,
    device: str,
    name: str,
    status: str,
    seconds: str,
    result: str,
    command: str,
    started="0",
):
    line = {"step": name, "status": status, "seconds": int(seconds), "command": command}
    path = RESULTS / f"{result}.json" if result else None
    if path is not None and path.is_file() and status == "ok" and path.stat().st_mtime >= float(started) - 1:
        try:
            line["result_file"] = str(path.relative_to(RESULTS.parents[1]))
            line["result"] = json.loads(path.read_text())
        except ValueError as e:
            line["result_error"] = str(e)
    with open(jsonl, "a") as fh:
        fh.write(json.dumps(line, default=str) + "\n")
    write_markdown(jsonl, md, device)


def write_markdown(jsonl: str, md: str, device: str) -> None:
    """RUN.md from RUN.jsonl (a step recorded twice, e.g. by gpu.sh's fallback, shown once)."""
    rows, seen = [], set()
    for text in Path(jsonl).read_text().splitlines():
        if text.strip():
            r = json.loads(text)
            if r["step"] not in seen:
                seen.add(r["step"])
                rows.append(r)
    machine = next((r["result"]["machine"] for r in rows if "machine" in r.get("result", {})), {})
    out = [
        f"# gpu.sh on {device}",
        "",
        f"Updated {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
        f"{machine.get('cuda') or 'no GPU'}, {machine.get('cpus', '?')} CPUs, torch {machine.get('torch', '?')}. "
        "Encoders have RANDOM weights of the real models' shapes (benchmarks/gpu_configs/): throughput and "
        "memory are real, the vectors are not.",
        "",
        "| step | status | seconds | result |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {r['step']} | {r['status']} | {r['seconds']} | {headline(r.get('result', {}))} |" for r in rows
    ]
    Path(md).write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "markdown":
        write_markdown(*sys.argv[2:])
    elif len(sys.argv) in (10, 11) and sys.argv[1] == "add":
        add(*sys.argv[2:])
    else:
        sys.exit(__doc__)
