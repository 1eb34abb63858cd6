"""Heads loaded by Hugging Face Hub id from the local Hugging Face cache, offline."""

import shutil

import numpy as np
import pytest

import embedkit
from embedkit.errors import EmbedkitError
from embedkit.heads import create_head, load_head
from embedkit.heads.hub import HEAD_FILES, parse_hub_ref
from tests.heads.conftest import planted

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def head_dir(tmp_path_factory):
    data = planted("a", users_per_group=4, pairs_per_user=30, unseen_per_group=2)[0]
    head = create_head("bt", hidden_dim=16, epochs=2, patience=2, device="cpu").fit(data, progress=False)
    return head.save(tmp_path_factory.mktemp("hub") / "head"), data


def put_in_hub_cache(hub_cache, repo_id, folder, commit=COMMIT, ref="main"):
    """``folder`` as huggingface_hub's cache holds a downloaded repo: models--ORG--NAME/snapshots/<commit>/
    with refs/<ref> naming the commit."""
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for name in HEAD_FILES:
        shutil.copy(folder / name, snap / name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf" / "hub"


def test_parse_hub_ref():
    assert parse_hub_ref("org/name") == ("org/name", None)
    assert parse_hub_ref("org/name@v1.0") == ("org/name", "v1.0")
    assert parse_hub_ref(f"org/name@{COMMIT}") == ("org/name", COMMIT)
    for not_an_id in ("/abs/head", "./head", "a/b/c", "head", "org/"):
        assert parse_hub_ref(not_an_id) is None


def test_load_by_hub_id_offline_from_the_cache(head_dir, offline_cache, tmp_path, monkeypatch):
    folder, data = head_dir
    put_in_hub_cache(offline_cache, "org/pal-head", folder)
    monkeypatch.chdir(tmp_path)  # no folder named org/pal-head here
    rows = data.in_split("test")
    expected = load_head(folder).predict_delta(rows)
    for ref in ("org/pal-head", "org/pal-head@main", f"org/pal-head@{COMMIT}"):
        assert np.array_equal(load_head(ref).predict_delta(rows), expected), ref
    model = embedkit.load_reward_model("org/pal-head", allow_encode=False)
    assert model.head.name == "bt"


def test_a_local_folder_wins_over_a_hub_id(head_dir, offline_cache, tmp_path, monkeypatch):
    folder, _ = head_dir
    (tmp_path / "org").mkdir()
    shutil.copytree(folder, tmp_path / "org" / "local")
    monkeypatch.chdir(tmp_path)
    assert load_head("org/local").name == "bt"  # nothing in the Hub cache: it is the folder


def test_missing_everywhere_says_what_was_tried(offline_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EmbedkitError) as e:
        load_head("org/absent@v2")
    msg = str(e.value)
    assert "no folder of that name here" in msg and "org/absent@v2" in msg
    assert str(offline_cache) in msg and "HF_HUB_OFFLINE" in msg and "snapshot_download" in msg
    with pytest.raises(EmbedkitError, match="not a saved head: no such folder"):
        load_head(tmp_path / "nowhere" / "deep" / "head")


def test_a_hub_repo_that_is_not_a_head(offline_cache, tmp_path, monkeypatch):
    repo = offline_cache / "models--org--other"
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "snapshots" / COMMIT / "README.md").write_text("# not a head\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EmbedkitError, match="is not an embedkit head|not in the local Hugging Face cache"):
        load_head("org/other")


def test_cli_eval_takes_a_hub_id(head_dir, offline_cache, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from embedkit.cli.main import cli

    folder, _ = head_dir
    put_in_hub_cache(offline_cache, "org/cli-head", folder)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["eval", "org/absent", "--pairs", "p.jsonl", "--cache", "c"])
    assert r.exit_code != 0 and "not in the local Hugging Face cache" in r.output
    r = CliRunner().invoke(cli, ["score", "--help"])
    assert "ORG/NAME@REVISION" in r.output
