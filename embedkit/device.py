"""Device names: one resolver for the encoders (extraction) and the heads (training)."""

from __future__ import annotations


def resolve_device(device: str | None) -> str:
    """``auto`` / None -> ``cuda`` when available, else ``cpu``; validate ``cuda:N`` requests."""
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
    elif device not in ("cpu", "mps"):
        raise ValueError(f"unknown device {device!r}; expected cpu, cuda or cuda:N")
    return device
