"""The trainer every head shares: mini-batches of pair indices, early stopping on validation."""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from embedkit.device import resolve_device
from embedkit.heads.config import TrainConfig

log = logging.getLogger(__name__)
progress_log = logging.getLogger("embedkit.progress")


def train(
    module: torch.nn.Module,
    param_groups: list[dict],
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    n_train: int,
    val_fn: Callable[[], float | tuple[float, float]],
    cfg: TrainConfig,
    device: torch.device,
    desc: str = "training",
    progress: bool = True,
    loop: str = "host",
    on_epoch: Callable[[int, dict], None] | None = None,
) -> dict:
    """Adam over ``param_groups``; each step calls ``loss_fn(batch_indices)`` on a random mini-batch.

    ``loop`` (see ``resolve_loop``): ``host`` reads each step's loss back (the classic loop); ``device``
    keeps everything on the device for a whole epoch: steps of ``device_batch`` pairs (several mini-batches
    fused into one step, the learning rates scaled by sqrt(device_batch / batch_size), Adam's square-root
    rule), the epoch's loss summed on the device and read once, so the host never waits inside an epoch.
    ``on_epoch(epoch, history)`` is called after each epoch (e.g. ``--K auto``'s sweep estimate).

    After each epoch ``val_fn()`` (higher is better) decides early stopping: ``patience`` epochs in a row
    without a better value stop training, and every ``max(1, patience // 2)`` of them multiply the learning
    rates by ``lr_decay`` (off by default: a plateau then gets smaller steps, which often find a better
    point within an epoch). See ``epoch_budget``. The best epoch's
    weights are restored at the end. ``val_fn`` may return (metric, tie-break): on a small validation
    split the accuracy often stays flat for many epochs, and the tie-break (minus the validation loss) still tells
    a better epoch from a worse one. Returns the history.
    """
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    opt = torch.optim.AdamW(param_groups)
    best, best_key, best_state, best_epoch, stale = -math.inf, (-math.inf, -math.inf), None, -1, 0
    max_epochs, patience, lr_decay = epoch_budget(cfg, n_train)
    decay_every = max(1, patience // 2)
    bf16 = cfg.precision == "bf16"
    per_epoch = min(n_train, cfg.epoch_pairs or n_train)
    step_pairs, lr_scale = step_size(cfg, loop)
    if lr_scale != 1.0:
        for g in opt.param_groups:
            g["lr"] *= lr_scale
    history = {
        "loop": loop,
        "step_pairs": step_pairs,
        "lr_scale": lr_scale,
        "train_loss": [],
        "val": [],
        "epoch_seconds": [],
        "max_epochs": max_epochs,
        "patience": patience,
        "lr_decay": lr_decay,
    }
    lines = progress and not sys.stderr.isatty()  # a log file: one line per epoch instead of a bar
    bar = tqdm(range(max_epochs), desc=desc, unit="epoch", disable=not progress or lines, dynamic_ncols=True)
    for epoch in bar:
        t0 = time.perf_counter()
        module.train()
        perm = torch.randperm(n_train, generator=gen)[:per_epoch].to(device)
        if loop == "device":  # no host sync inside the epoch: the loss is summed where it is computed
            total_t = torch.zeros((), device=device)
            for s in range(0, len(perm), step_pairs):
                idx = perm[s : s + step_pairs]
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = loss_fn(idx).float()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_t += loss.detach() * len(idx)
            total, count = float(total_t), len(perm)  # the epoch's one read-back
        else:
            total, count = 0.0, 0
            for s in range(0, len(perm), cfg.batch_size):
                idx = perm[s : s + cfg.batch_size]
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = loss_fn(idx).float()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
        module.eval()
        with torch.no_grad():
            score = val_fn()
        key = tuple(map(float, score)) if isinstance(score, tuple) else (float(score), 0.0)
        key = tuple(k if math.isfinite(k) else -math.inf for k in key)  # an undefined metric never wins
        val = float(score[0] if isinstance(score, tuple) else score)
        history["train_loss"].append(total / max(count, 1))
        history["val"].append(val)
        history["epoch_seconds"].append(time.perf_counter() - t0)  # training + validation of the epoch
        if not math.isfinite(history["train_loss"][-1]):
            raise FloatingPointError(
                f"training loss became {history['train_loss'][-1]} at epoch {epoch + 1}; lower --lr"
            )
        if key > best_key:
            best, best_key, best_epoch, stale = val, key, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            stale += 1
            if stale % decay_every == 0:  # a plateau: take smaller steps before giving up
                for g in opt.param_groups:
                    g["lr"] *= lr_decay
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.4f}", val=f"{val:.4f}", best=f"{best:.4f}")
        if lines:
            progress_log.info(
                "%s: epoch %d/%d, loss %.4f, validation %.4f (best %.4f at epoch %d), %.1f s",
                desc, epoch + 1, max_epochs, history["train_loss"][-1], val, best, best_epoch + 1,
                history["epoch_seconds"][-1],
            )  # fmt: skip
        if on_epoch is not None:
            on_epoch(epoch, history)
        if stale >= patience:
            log.info("early stop after epoch %d (best %d)", epoch + 1, best_epoch + 1)
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    history.update(best_val=best, best_epoch=best_epoch + 1, epochs_run=len(history["val"]))
    history["converged"] = True
    if history["epochs_run"] == max_epochs and best_epoch + 1 >= max_epochs - 1 and max_epochs > 1:
        history["converged"] = False
        log.warning(
            "%s stopped at the epoch cap (%d epochs) with validation still improving (best at epoch %d): it has "
            "not converged; raise --epochs (or --lr)",
            desc, max_epochs, best_epoch + 1,
        )  # fmt: skip
    if isinstance(score, tuple) and math.isfinite(best_key[1]):
        history["best_val_loss"] = -best_key[1]  # the validation loss at the best epoch (the tie-break)
    return history


AUTO_EPOCHS, AUTO_PATIENCE = 60, 6
MIN_STEPS, MIN_PATIENCE_STEPS = 1500, 150
MAX_PAIR_VISITS, MIN_AUTO_EPOCHS = 50_000_000, 3
"""Large data: the auto cap keeps epochs x pairs per epoch near 50M pair visits (at least 3 epochs), so a
fit (and a --K auto sweep of them) on millions of pairs does not run 60 passes."""
DEVICE_FUSE = 1
"""The device loop's default step: this many mini-batches of ``batch_size`` pairs fused into one. 1 until
fused steps are shown to keep accuracy: on the official PAL benchmark (CPU, one run each) 4 fused
mini-batches with the rates x 2 reached test accuracy 0.872, the host loop 0.879 and the unfused device
loop 0.857 (the same steps as the host loop but another dropout random stream), so single runs cannot
settle a 0.005 difference; ``benchmarks/pal_official.py --seeds`` compares means. Larger steps:
``--device-batch``. On an H200 (results/pal_official-cuda.md, 3 seeds) ``--device-batch 4096`` kept the test
accuracy (0.8698 +- 0.0051 against 0.8699 +- 0.0026 unfused) and cut the epochs' time from 3.5 to 0.8 s;
it stays opt-in until it is checked on real annotators, where epochs are a few steps long."""


def epoch_budget(cfg: TrainConfig, n_train: int) -> tuple[int, int, float]:
    """(maximum epochs, patience, learning-rate decay), 0 = auto for each: on small data an epoch is one
    or two optimiser steps, so epochs and patience are raised until training may run ~MIN_STEPS steps and
    waits ~MIN_PATIENCE_STEPS for a gain; the rates stay constant unless ``lr_decay`` is set.

    (Measured: ``--patience 2 --lr-decay 0.3`` reaches the same test accuracy in about half the epochs on
    long epochs (the PAL benchmark, MD-Agreement), but in a re-run of benchmarks/real_annotators.py it lost
    1.5 points of CSC seen-user accuracy at K = 3 and the few-shot gain there
    (results/real_annotators-lrdecay.md), so it is not the default.)"""
    per_epoch = min(n_train, cfg.epoch_pairs or n_train)
    steps = max(1, math.ceil(per_epoch / cfg.batch_size))
    large = max(MIN_AUTO_EPOCHS, math.ceil(MAX_PAIR_VISITS / max(per_epoch, 1)))
    epochs = cfg.epochs or max(min(AUTO_EPOCHS, large), math.ceil(MIN_STEPS / steps))
    patience = cfg.patience or max(AUTO_PATIENCE, math.ceil(MIN_PATIENCE_STEPS / steps))
    return epochs, patience, cfg.lr_decay or 1.0


def resolve_loop(cfg: TrainConfig, device: torch.device) -> str:
    """The training loop for ``cfg.loop`` on ``device``: auto = ``device`` on CUDA (many small steps leave a
    GPU idle: launches and host syncs dominate), ``host`` elsewhere (on a CPU the classic loop is as fast)."""
    if cfg.loop in ("host", "device"):
        return cfg.loop
    return "device" if torch.device(device).type == "cuda" else "host"


def step_size(cfg: TrainConfig, loop: str) -> tuple[int, float]:
    """(pairs per optimiser step, learning-rate factor) of ``loop``: the host loop steps ``batch_size``
    pairs at the configured rates; the device loop ``device_batch`` pairs (0 = DEVICE_FUSE x batch_size)
    with the rates times sqrt(device_batch / batch_size)."""
    if loop != "device":
        return cfg.batch_size, 1.0
    pairs = cfg.device_batch or DEVICE_FUSE * cfg.batch_size
    return pairs, math.sqrt(pairs / cfg.batch_size)


def resolve_torch_device(device: str | None) -> torch.device:
    """``auto`` -> cuda when available, else cpu; cuda requests are checked (see embedkit.device)."""
    return torch.device(resolve_device(device))
