"""Plugins by entry points (embedkit/plugins.py): read on first use, a broken plugin a warning naming it
that leaves the rest working, a built-in name never replaced."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import numpy as np
import pytest

import embedkit.plugins
from embedkit.errors import UnknownNameError
from embedkit.heads.registry import HEADS, HeadEntry
from embedkit.plugins import PluginWarning, Registry
from tests.toy_plugins import HEAD_ENTRY, TOY_HEAD

GROUP = "embedkit.test-plugins"


def _with(monkeypatch, *eps: EntryPoint) -> list[int]:
    calls = []

    def entry_points(**select):
        calls.append(select)
        return [ep for ep in eps if ep.group == select.get("group")]

    monkeypatch.setattr(embedkit.plugins, "entry_points", entry_points)
    return calls


def _registry() -> Registry:
    return Registry("head", {"bt": HEADS.builtin["bt"]}, GROUP, HeadEntry)


def test_plugins_are_read_on_first_use_only(monkeypatch):
    calls = _with(monkeypatch, EntryPoint("toy", "tests.toy_plugins:HEAD_ENTRY", GROUP))
    registry = _registry()
    assert calls == []  # making the registry reads nothing
    assert list(registry) == ["bt", "toy"] and registry["toy"] is HEAD_ENTRY
    assert registry.entry("toy") is HEAD_ENTRY and len(calls) == 1  # read once


def test_a_broken_plugin_is_a_warning_naming_it_and_the_rest_still_work(monkeypatch):
    _with(
        monkeypatch,
        EntryPoint("gone", "no_such_package.heads:ENTRY", GROUP),
        EntryPoint("wrong", "tests.toy_plugins:TOY_HEAD", GROUP),  # a string, not an entry
        EntryPoint("toy", "tests.toy_plugins:HEAD_ENTRY", GROUP),
    )
    registry = _registry()
    with pytest.warns(PluginWarning) as caught:
        names = list(registry)
    assert names == ["bt", "toy"]
    messages = [str(w.message) for w in caught]
    assert any("'gone'" in m and "no_such_package" in m and "ModuleNotFoundError" in m for m in messages)
    assert any("'wrong'" in m and "not a HeadEntry" in m for m in messages)
    with pytest.raises(UnknownNameError, match="did you mean 'toy'"):
        registry.entry("toyy")


def test_a_plugin_may_give_a_function_that_returns_its_entry(monkeypatch):
    _with(monkeypatch, EntryPoint("toy", "tests.test_plugins:_make_entry", GROUP))
    assert _registry()["toy"] is HEAD_ENTRY


def _make_entry() -> HeadEntry:
    return HEAD_ENTRY


def test_a_plugin_cannot_replace_a_built_in(monkeypatch):
    _with(monkeypatch, EntryPoint("bt", "tests.toy_plugins:HEAD_ENTRY", GROUP))
    registry = _registry()
    with pytest.warns(PluginWarning, match="'bt'.*already has"):
        assert registry["bt"] is HEADS.builtin["bt"]


def test_the_toys_work_through_the_public_api(toy_plugins, tmp_path):
    """The throw-away plugins, registered only by entry points, are found by the same calls as the
    built-ins: create_encoder by spec, create_head / load_head by name, the fit-head --model check."""
    from embedkit.encoders.registry import create_encoder, list_encoders
    from embedkit.heads import create_head, head_class, load_head
    from tests.heads.conftest import planted

    enc = create_encoder("toy:8", normalize=True)
    v = enc.encode(["a", "b"])
    assert v.shape == (2, 8) and enc.fingerprint.encoder == "toy" and enc.spec == "toy:8"
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert "toy:DIM" not in list_encoders()  # a general form (prefix), not a registered name
    # its own options (ToyOptions, named by the entry): taken by toy encoders, refused by the others
    shifted = create_encoder("toy:8", normalize=True, offset=1.0).encode(["a", "b"])
    np.testing.assert_allclose(shifted, v + 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="--offset applies to toy encoders"):
        create_encoder("fake", offset=1.0)
    with pytest.raises(ValueError, match="--layer applies to LLM encoders"):
        create_encoder("toy:8", layer=2)
    head = create_head(TOY_HEAD, hidden_dim=8, epochs=1, device="cpu")
    assert type(head) is head_class(TOY_HEAD) and TOY_HEAD in HEADS
    data = planted("a", users_per_group=2, pairs_per_user=10, unseen_per_group=1)[0]
    head.fit(data, progress=False)
    loaded = load_head(head.save(tmp_path / "toy"))
    seen = data.in_split("train", "val", "test")
    assert type(loaded).name == TOY_HEAD
    assert np.array_equal(loaded.predict_delta(seen), head.predict_delta(seen))
