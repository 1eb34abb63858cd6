"""Files from untrusted sources are safe to open: nothing is unpickled, a booby-trapped head or index is
refused without running its payload. (Caches: tests/cache/test_reliability.py; image paths that leave
their folder: tests/data/test_images.py.)"""

import json
import pathlib
import pickle
import re

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.errors import EmbedkitError

REPO = pathlib.Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this creates a file: proof that a loader ran code from a file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_no_module_can_unpickle():
    pattern = re.compile(
        r"\bpickle\.loads?\(|\bimport pickle\b|allow_pickle=True|torch\.load\((?![^)]*weights_only=True)"
    )
    offenders = [
        f"{p.relative_to(REPO)}:{n}"
        for p in (REPO / "embedkit").rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def head_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("head")
    pairs = d / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n"
            for i in range(20)
        )
    )
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["extract", str(pairs), "--encoder", "fake", "--cache", str(d / "cache")]
        ).exit_code
        == 0
    )
    out = runner.invoke(
        cli,
        ["fit-head", "--model", "bt", "--pairs", str(pairs), "--cache", str(d / "cache"), "--encoder", "fake"]
        + ["--out", str(d / "head"), "--epochs", "1"],
    )
    assert out.exit_code == 0, out.output
    return d


@pytest.mark.parametrize("trap", ["pickle", "torch-save"])
def test_a_booby_trapped_head_is_refused_and_its_payload_never_runs(head_dir, tmp_path, trap):
    import shutil

    import torch

    from embedkit.heads import load_head

    head = tmp_path / "head"
    shutil.copytree(head_dir / "head", head)
    sentinel = tmp_path / "PWNED"
    weights = head / "model.safetensors"
    if trap == "pickle":
        weights.write_bytes(pickle.dumps(Payload(sentinel)))
    else:
        torch.save({"w": Payload(sentinel)}, weights)
    with pytest.raises(EmbedkitError, match="model.safetensors"):
        load_head(head)
    out = CliRunner().invoke(
        cli, ["eval", str(head), "--pairs", str(head_dir / "pairs.jsonl"), "--cache", str(head_dir / "cache")]
    )
    assert out.exit_code == 1 and "model.safetensors" in out.output and "Traceback" not in out.output
    assert not sentinel.exists()


def test_an_index_with_pickled_keys_is_refused(head_dir, tmp_path):
    from embedkit.index.namespace import NamespaceIndex

    out = CliRunner().invoke(
        cli,
        [
            "index",
            "build",
            "--cache",
            str(head_dir / "cache"),
            "--encoder",
            "fake",
            "--out",
            str(tmp_path / "ix"),
        ],
    )
    assert out.exit_code == 0, out.output
    sentinel = tmp_path / "PWNED"
    np.save(tmp_path / "ix" / "keys.npy", np.array([Payload(sentinel)], dtype=object), allow_pickle=True)
    with pytest.raises((EmbedkitError, ValueError), match="pickle"):
        NamespaceIndex.load(tmp_path / "ix")
    assert not sentinel.exists()
