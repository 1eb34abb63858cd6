"""Baseline trainer in the style of the PAL reference code: one embedding file per sample.

Each preference sample is its own joblib file holding ``((user_id, prompt_emb, (left_emb, right_emb)), y)``
as torch tensors; a ``Dataset`` loads one file per ``__getitem__`` and a ``DataLoader`` with batch size
32 collates them. The model, loss, optimiser and validation are embedkit's, so the two trainers differ
only in how the cached embeddings reach the model.
"""

from __future__ import annotations

import time
from pathlib import Path

import joblib
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


def write_sample_files(data, rows: np.ndarray, folder: Path) -> list[Path]:
    """One joblib file per pair (the reference layout). ``data``: embedkit PairData."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in rows:
        sample = (
            (
                str(data.user[i]),
                torch.from_numpy(data.X[data.prompt[i]].copy()),
                (torch.from_numpy(data.X[data.a[i]].copy()), torch.from_numpy(data.X[data.b[i]].copy())),
            ),
            float(data.y[i]),
        )
        path = folder / f"{i}.joblib"
        joblib.dump(sample, path)
        paths.append(path)
    return paths


class PerSampleFiles(Dataset):
    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx):
        return joblib.load(self.paths[idx])


def _batch_delta(module, batch, user_index: dict[str, int], device):
    (uids, p, (xl, xr)), y = batch
    B = len(uids)
    X = torch.cat([p, xl, xr]).to(device)
    idx = torch.arange(B, device=device)
    users = torch.tensor([user_index[u] for u in uids], device=device)
    w = torch.softmax(module.user_logits[users], -1)
    return module.delta(X, idx, idx + B, idx + 2 * B, w), y.float().to(device)


def train_per_sample(
    head,
    train_paths,
    val_paths,
    epochs: int,
    target: float,
    batch_size: int = 32,
    time_budget_s: float = 600.0,
    device: str = "cpu",
) -> dict:
    """Train ``head.module_`` (already built) epoch by epoch; stop at ``epochs``, at ``target`` validation
    accuracy, or past the time budget. Returns per-epoch seconds and validation accuracy."""
    device = torch.device(device)
    module = head.module_.to(device)
    user_index = {u: i for i, u in enumerate(head.users_)}
    opt = torch.optim.AdamW(head._param_groups())
    gen = torch.Generator().manual_seed(head.config.seed)
    train_dl = DataLoader(PerSampleFiles(train_paths), batch_size=batch_size, shuffle=True, generator=gen)
    val_dl = DataLoader(PerSampleFiles(val_paths), batch_size=batch_size)
    history = {"epoch_seconds": [], "val": []}
    start = time.perf_counter()
    for _ in range(epochs):
        t0 = time.perf_counter()
        module.train()
        for batch in train_dl:
            delta, y = _batch_delta(module, batch, user_index, device)
            loss = head._rows_loss(delta, y, torch.ones_like(y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        module.eval()
        correct = total = 0
        with torch.no_grad():
            for batch in val_dl:
                delta, y = _batch_delta(module, batch, user_index, device)
                correct += int(((delta > 0).float() == y).sum())
                total += len(y)
        history["epoch_seconds"].append(time.perf_counter() - t0)
        history["val"].append(correct / total)
        if history["val"][-1] >= target or time.perf_counter() - start > time_budget_s:
            break
    return history
