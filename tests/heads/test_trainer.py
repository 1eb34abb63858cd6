"""The training loop's schedule: early stopping, learning-rate decay on a plateau, best weights restored."""

import torch

from embedkit.heads.config import TrainConfig
from embedkit.heads.trainer import train


def _run(vals, n_train, **cfg):
    """Train a one-weight module while val_fn replays ``vals``; return the history and the param groups."""
    module = torch.nn.Linear(1, 1)
    it = iter(vals)

    def loss_fn(idx):
        return (module(torch.ones(len(idx), 1)) ** 2).mean()

    def val_fn():
        return next(it)

    groups = [{"params": module.parameters(), "lr": 1.0}]
    history = train(
        module,
        groups,
        loss_fn,
        n_train,
        val_fn,
        TrainConfig(batch_size=1, **cfg),
        torch.device("cpu"),
        progress=False,
    )
    return history, groups


def test_patience_two_with_decay_waits_two_epochs_and_decays_after_each_stale_one():
    history, groups = _run([0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.9], n_train=100, patience=2, lr_decay=0.3)
    assert history["patience"] == 2 and history["lr_decay"] == 0.3
    assert history["epochs_run"] == 6 and history["best_epoch"] == 4  # stale at 3 (reset at 4), 5, 6 -> stop
    assert (
        abs(groups[0]["lr"] - 0.3**3) < 1e-12
    )  # epochs 3, 5 and 6 were stale: three decays, kept after a gain


def test_the_default_keeps_a_constant_rate_and_explicit_values_win():
    history, groups = _run([0.5] + [0.4] * 30, n_train=10, epochs=30, patience=0)
    assert history["patience"] == 15 and history["epochs_run"] == 16  # 10 steps an epoch: wait ~150 steps
    assert history["lr_decay"] == 1.0 and groups[0]["lr"] == 1.0
    history, groups = _run([0.5] + [0.4] * 10, n_train=10, epochs=20, patience=4, lr_decay=0.5)
    assert history["epochs_run"] == 5 and abs(groups[0]["lr"] - 0.25) < 1e-12  # decays every 4 // 2 = 2 stale


def test_bf16_training_learns_as_fp32_does_and_saves_fp32_weights(tmp_path):
    from safetensors.numpy import load_file

    from embedkit.heads import create_head, load_head
    from tests.heads.conftest import planted

    data = planted("b")[0]
    acc = {}
    for precision in ("fp32", "bf16"):
        head = create_head("pal-b", K=2, precision=precision, epochs=15, device="cpu").fit(
            data, progress=False
        )
        acc[precision] = head.metrics_["seen"]["test"]["accuracy"]
    assert acc["bf16"] >= acc["fp32"] - 0.03 and acc["bf16"] > 0.65, acc
    head.save(tmp_path / "h")
    assert {str(v.dtype) for v in load_file(tmp_path / "h" / "model.safetensors").values()} == {"float32"}
    assert load_head(tmp_path / "h").config.precision == "bf16"  # recorded with the rest of the config


def test_epoch_pairs_draws_that_many_pairs_an_epoch():
    module, calls = torch.nn.Linear(1, 1), []

    def loss_fn(idx):
        calls.append(idx.tolist())
        return (module(torch.ones(len(idx), 1)) ** 2).mean()

    cfg = TrainConfig(batch_size=8, epochs=3, patience=5, epoch_pairs=20)
    groups = [{"params": module.parameters(), "lr": 0.1}]
    train(module, groups, loss_fn, 100, lambda: 0.5, cfg, torch.device("cpu"), progress=False)
    per_epoch = [sum(calls[i : i + 3], []) for i in range(0, 9, 3)]  # 20 pairs = batches of 8, 8, 4
    assert len(calls) == 9 and all(len(e) == 20 == len(set(e)) for e in per_epoch)
    assert len(set(sum(per_epoch, []))) > 20  # a fresh draw each epoch, not the same 20 pairs
