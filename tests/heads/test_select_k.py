"""--K auto's running commentary (#31): the sweep's time estimate, and its warnings about a validation set too
small to separate the Ks and about fits that stopped at the epoch cap."""

import logging

import pytest

from embedkit.heads import select_k as sk


def _rows(accs, n=185):
    return [
        {"K": k, "val_accuracy": a, "val_pairs": n, "val_se": (a * (1 - a) / n) ** 0.5}
        for k, a in enumerate(accs, 1)
    ]


def test_a_small_validation_set_that_cannot_separate_the_ks_is_named():
    rows = _rows((0.865, 0.897))  # the case: 185 validation pairs, K = 1 kept over K = 2
    chosen, best, _, _ = sk.choose_k(rows)
    assert (chosen, best) == (1, 2)
    warning = sk.separation_warning(rows, chosen, best)
    assert "185 pairs" in warning and "cannot separate K = 1 (0.8650) from K = 2 (0.8970)" in warning
    need = int(warning.rsplit("about ", 1)[1].split(" ")[0].replace(",", ""))
    assert need > 4 * 185  # a gap under one SE needs more than 4x the pairs to be two SEs
    assert sk.separation_warning(_rows((0.70, 0.95)), *sk.choose_k(_rows((0.70, 0.95)))[:2]) is None


def test_the_sweep_estimate_after_the_first_epoch_and_after_each_k(caplog):
    clock = sk.SweepClock(k_max=3, runs_per_k=2)
    with caplog.at_level(logging.INFO, logger="embedkit.progress"):
        clock.on_epoch(0, {"epoch_seconds": [2.0], "patience": 6, "max_epochs": 60})
        clock.on_epoch(1, {"epoch_seconds": [2.0, 2.0], "patience": 6, "max_epochs": 60})  # said once
        clock.after(1, 30.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    # weight: K=1 one run x 1, K=2 two runs x 4/3, K=3 two runs x 5/3 = 7; 2 s x 7 x 7 epochs = 98 s
    assert "the sweep K = 1..3 should take 1.6 min to 14.0 min" in lines[0]
    # K = 2..3: (2 x 4/3 + 2 x 5/3) x 30 s = 180 s
    assert "K = 1 took 30 s; K = 2..3 estimated at ~3.0 min more" in lines[1]


def test_unconverged_fits_are_warned_about_by_k(monkeypatch, caplog):
    class FakeHead:
        def __init__(self, K, **_):
            self.K = K
            self.metrics_ = {"seen": {"val": {"accuracy": 0.6 + 0.1 * K, "pairs": 5000}}}
            self.history_ = {"epochs_run": 60, "converged": K == 1}

        def fit(self, data, progress=False, desc=None, on_epoch=None):
            assert desc == f"K = {self.K} of 3"
            return self

    monkeypatch.setattr("embedkit.heads.api.create_head", lambda name, K, **kw: FakeHead(K, **kw))
    with caplog.at_level(logging.WARNING):
        _, sel = sk.select_k("pal-b", None, 3)
    assert any("K = 2, 3 stopped at the epoch cap" in r.getMessage() for r in caplog.records)
    assert [r["converged"] for r in sel.rows] == [True, False, False]
    assert sel.to_dict()["warnings"] == ["K = 2, 3 stopped at the epoch cap unconverged"]


@pytest.mark.parametrize(
    ("n_train", "epochs"), [(133, 1500), (7107, 60), (20_000, 60), (1_000_000, 50), (40_000_000, 3)]
)
def test_auto_epoch_caps_follow_the_data_size(n_train, epochs):
    from embedkit.heads.config import PALBConfig
    from embedkit.heads.trainer import epoch_budget

    assert epoch_budget(PALBConfig(), n_train)[0] == epochs


def test_k_max_above_the_users_is_capped_with_a_warning(caplog):
    """--K-max beyond the users with training pairs stops at one prototype per user (a PAL head refuses
    more), saying so, instead of failing after the smaller Ks were fitted."""
    import logging

    from embedkit.heads.select_k import select_k
    from tests.heads.conftest import planted

    data = planted("b", users_per_group=1, pairs_per_user=30, unseen_per_group=1)[0]
    with caplog.at_level(logging.WARNING):
        head, sel = select_k("pal-b", data, 4, repeats=0, hidden_dim=16, epochs=1, device="cpu")
    assert [r["K"] for r in sel.rows] == [1, 2]
    assert "only 2 users have training pairs" in caplog.text


def test_save_with_selection_writes_the_selection_beside_the_chosen_head(tmp_path):
    """--K auto's files as a library call: the chosen head loads back and k_selection.json is the selection."""
    import json

    import numpy as np

    from embedkit.heads import load_head
    from embedkit.heads.metrics import json_ready
    from tests.heads.conftest import planted

    data = planted("b", users_per_group=3, pairs_per_user=20, unseen_per_group=1)[0]
    head, sel = sk.select_k("pal-b", data, 2, repeats=0, hidden_dim=8, epochs=2, device="cpu")
    plotted = sk.save_with_selection(head, sel, tmp_path / "head")
    saved = json.loads((tmp_path / "head/k_selection.json").read_text())
    assert saved == json.loads(json.dumps(json_ready(sel.to_dict())))
    assert saved["chosen"] == head.config.K == sel.chosen
    assert plotted == (tmp_path / "head/k_selection.png").exists()
    back = load_head(tmp_path / "head")
    test = data.in_split("test")
    np.testing.assert_allclose(back.predict_delta(test), head.predict_delta(test), atol=1e-6)
    with pytest.raises(Exception, match="overwrite"):  # an existing head is never replaced silently
        sk.save_with_selection(head, sel, tmp_path / "head")
