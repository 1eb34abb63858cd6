"""The training loop's schedule: early stopping, learning-rate decay on a plateau, best weights restored."""

import numpy as np
import pytest
import torch

from embedkit.heads.config import TrainConfig
from embedkit.heads.trainer import resolve_loop, step_size, train


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


# --- the device loop (#26) -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["pal-a", "pal-b"])
def test_the_device_loop_gives_the_host_loops_result_on_small_data(model):
    """Same batches (device_batch = batch_size: no fusing, no rate scaling), no dropout: the device loop
    (loss summed on the device, no torch.unique per step) trains the same head as the host loop, up to
    float rounding (gradients summed in another order; Adam's normalised steps magnify that on weights
    whose gradient is ~0, so predictions and losses are compared, not every weight)."""
    from embedkit.heads import create_head
    from tests.heads.conftest import planted

    data = planted(model[-1], users_per_group=6, pairs_per_user=40, unseen_per_group=2)[0]
    heads = {}
    for loop in ("host", "device"):
        kw = dict(K=2, epochs=4, patience=4, dropout=0.0, device="cpu", loop=loop, device_batch=256)
        kw["prior_users"] = 0
        heads[loop] = create_head(model, **kw).fit(data, progress=False)
    host, dev = heads["host"], heads["device"]
    assert dev.history_["loop"] == "device" and host.history_["loop"] == "host"
    assert dev.history_["lr_scale"] == 1.0 and dev.history_["step_pairs"] == 256
    np.testing.assert_allclose(host.history_["train_loss"], dev.history_["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(host.history_["val"], dev.history_["val"])
    seen = data.in_split("test")
    np.testing.assert_allclose(host.predict_delta(seen), dev.predict_delta(seen), atol=2e-3)
    assert host.history_["best_epoch"] == dev.history_["best_epoch"]
    assert host.metrics_["seen"]["test"]["accuracy"] == pytest.approx(
        dev.metrics_["seen"]["test"]["accuracy"]
    )


def test_the_device_loop_fuses_mini_batches_with_scaled_rates_and_learns():
    from embedkit.heads import create_head
    from tests.heads.conftest import planted

    data = planted("b")[0]
    head = create_head("pal-b", K=2, epochs=15, device="cpu", loop="device", device_batch=1024)
    head.fit(data, progress=False)
    assert head.history_["step_pairs"] == 1024 and head.history_["lr_scale"] == pytest.approx(2.0)
    assert head.metrics_["seen"]["test"]["accuracy"] > 0.65


def test_bf16_device_loop_saves_fp32_weights(tmp_path):
    from safetensors.numpy import load_file

    from embedkit.heads import create_head
    from tests.heads.conftest import planted

    data = planted("b", users_per_group=6, pairs_per_user=40, unseen_per_group=2)[0]
    head = create_head("pal-b", K=2, epochs=3, device="cpu", loop="device", precision="bf16", prior_users=0)
    head.fit(data, progress=False).save(tmp_path / "h")
    assert {str(v.dtype) for v in load_file(tmp_path / "h" / "model.safetensors").values()} == {"float32"}


@pytest.mark.parametrize(
    ("loop", "device", "expected"),
    [
        ("auto", "cuda", "device"),
        ("auto", "cuda:1", "device"),
        ("auto", "cpu", "host"),
        ("auto", "mps", "host"),
        ("host", "cuda", "host"),
        ("device", "cpu", "device"),
    ],
)
def test_the_loop_is_chosen_by_the_device(loop, device, expected):
    assert resolve_loop(TrainConfig(loop=loop), torch.device(device)) == expected


def test_auto_chooses_the_device_loop_when_the_head_trains_on_cuda(monkeypatch):
    """The head's own decision, with the device mocked: no GPU needed."""
    from embedkit.heads import base, create_head

    seen = {}

    def fake_train(module, groups, loss_fn, n_train, val_fn, cfg, device, desc, progress, loop, on_epoch):
        seen.update(loop=loop, distinct=module.distinct_rows)
        return {}

    monkeypatch.setattr(base, "train", fake_train)
    head = create_head("pal-b", K=2)
    head.module_ = torch.nn.Linear(1, 1)
    monkeypatch.setattr(type(head), "device", property(lambda self: torch.device("cuda")))
    monkeypatch.setattr(type(head), "_tensors", lambda self, d, dev: {})
    monkeypatch.setattr(type(head), "_train_tensors", lambda self, d, dev: ({}, 1))
    head._train_on(None, None, desc="x")
    assert seen == {"loop": "device", "distinct": False}
    monkeypatch.setattr(type(head), "device", property(lambda self: torch.device("cpu")))
    head._train_on(None, None, desc="x")
    assert seen == {"loop": "host", "distinct": True}


def test_step_size_of_each_loop():
    assert step_size(TrainConfig(), "host") == (256, 1.0)
    assert step_size(TrainConfig(), "device") == (256, 1.0)  # the default: no fusing (see DEVICE_FUSE)
    assert step_size(TrainConfig(device_batch=1024), "device") == (1024, 2.0)
    assert step_size(TrainConfig(batch_size=128, device_batch=2048), "device") == (2048, 4.0)
