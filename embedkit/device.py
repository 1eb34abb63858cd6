"""Device names: one resolver for the encoders (extraction), the heads (training) and the cache."""

from __future__ import annotations

import re

_DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(device: str | None) -> None:
    """Reject a device name embedkit does not know, without importing torch (``gpu``, ``cuda:x``...)."""
    if device is not None and not _DEVICE_NAME.match(str(device)):
        raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N (or mps)")


def resolve_device(device: str | None) -> str:
    """``auto`` / None -> ``cuda`` when available, else ``cpu``; validate ``cuda:N`` requests."""
    check_device_name(device)
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {device}: no CUDA device is available on this machine (use cpu)")
        if ":" in device:
            idx = int(device.split(":", 1)[1])
            if idx >= torch.cuda.device_count():
                raise RuntimeError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("--device mps: the MPS backend is not available on this machine (use cpu)")
    return device


def available_memory(device) -> int | None:
    """Bytes that can still be allocated on ``device`` (a torch device): free GPU memory on CUDA, the
    kernel's MemAvailable on a CPU (Linux); None where it cannot be told."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
