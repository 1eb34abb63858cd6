"""Helpers shared by the benchmarks: timing, persona texts, result files."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PERSONA_DIR = REPO / "data" / "persona"


def persona_records() -> list[dict]:
    out = []
    for path in sorted(PERSONA_DIR.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> dict:
    import os

    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_results(name: str, payload: dict, table_rows: list[tuple], header: tuple, notes: list[str]) -> Path:
    """Write ``RESULTS/name.json`` and ``RESULTS/name.md`` (a table and notes)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    lines = [
        f"# {name}",
        "",
        f"Run {payload['run_at']} on {payload['machine']['platform']}, "
        f"{payload['machine']['cpus']} CPUs, torch {payload['machine']['torch']}"
        f"{', ' + payload['machine']['cuda'] if payload['machine']['cuda'] else ''}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table_rows]
    lines += [""] + [f"- {n}" for n in notes] + [""]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    return RESULTS / f"{name}.md"


def result_record(quick: bool | None = None, **fields) -> dict:
    """The start of every benchmark's result: ``run_at`` (UTC, to the second), ``quick`` (when given) and
    ``machine``, then ``fields`` in their order."""
    record: dict = {"run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if quick is not None:
        record["quick"] = quick
    record["machine"] = machine()
    return {**record, **fields}


def result_name(base: str, device: str = "cpu", quick: bool = False, suffix: str = "") -> str:
    """``base``, ``-cuda`` for a run on a GPU (the device's kind), ``-quick`` for a quick run, ``suffix``:
    the name of a benchmark's result files (``RESULTS/name.json``, ``.md``, ``.png``)."""
    return (
        base + ("-" + device.split(":")[0] if device != "cpu" else "") + ("-quick" if quick else "") + suffix
    )


QUICK_NOTE = "QUICK run: scaled-down sizes, not the benchmark's numbers."


def publish(
    name: str,
    payload: dict,
    table_rows: list[tuple],
    header: tuple,
    notes: list[str],
    plot=None,
    checks: dict[str, bool] | None = None,
    quick_note: str | None = None,
) -> Path:
    """Every benchmark's ending: ``write_results``, then ``plot(RESULTS/name.png)`` when given (it may
    return None when matplotlib is missing), then the Markdown table printed, and the plot's path.
    ``checks``: targets, each a ``PASS: ...`` / ``FAIL: ...`` note before ``notes``; ``quick_note``: a note
    after them (a quick run's)."""
    notes = [f"{'PASS' if ok else 'FAIL'}: {what}" for what, ok in (checks or {}).items()] + list(notes)
    if quick_note:
        notes.append(quick_note)
    md = write_results(name, payload, table_rows, header, notes)
    png = plot(RESULTS / f"{name}.png") if plot is not None else None
    print(md.read_text())
    if png:
        print(f"plot: {png}")
    return md


def run_measured(cmd: list[str], what: str) -> dict:
    """Run ``cmd`` as a child process: wall seconds, the child's peak RSS (MB) and its stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # files: no pipe to fill up
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{what} failed: {err.read().decode()[-2000:]}")
        return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "stdout": out.read().decode()}


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def random_open_clip_checkpoint(arch: str, workdir: Path, device: str = "cpu") -> str:
    """A real open_clip architecture with random weights (seed 0), saved as safetensors under ``workdir``:
    no CLIP weights can be downloaded here, and embedkit loads checkpoints from disk only. ``device``: where
    the weights are initialised (a GPU does ViT-H-14's billion in a moment)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(arch, pretrained=None, device=device)
    path = workdir / f"{arch}-random.safetensors"
    save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()}, str(path))
    return str(path)
