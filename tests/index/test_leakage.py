"""embedkit split --dedup-against: exact and near duplicates, checked against numpy brute force."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache import EmbeddingCache
from embedkit.cache.keys import text_keys
from embedkit.cli.main import cli
from embedkit.fingerprint import Fingerprint


@pytest.fixture
def two_files(tmp_path):
    """Test pairs against 'train' pairs: a few prompts repeated exactly, a few reworded (vectors nearly
    equal), a few responses near-duplicated, the rest unrelated. Vectors go straight into a cache."""
    rng = np.random.default_rng(0)
    d = 16
    vec: dict[str, np.ndarray] = {}

    def v(text, like=None, noise=0.0):
        if text not in vec:
            base = rng.normal(size=d) if like is None else vec[like] + noise * rng.normal(size=d)
            vec[text] = base / np.linalg.norm(base)
        return text

    train = [
        {
            "prompt": v(f"train prompt {i}"),
            "chosen": v(f"train answer {i}a"),
            "rejected": v(f"train answer {i}b"),
        }
        for i in range(30)
    ]
    test = []
    for i in range(40):
        if i < 5:  # exact duplicate prompt
            p = f"train prompt {i}"
        elif i < 10:  # reworded prompt: cosine ~0.99
            p = v(f"train prompt {i}, reworded", like=f"train prompt {i}", noise=0.03)
        elif i < 15:  # loosely related: cosine ~0.8, below the threshold
            p = v(f"about train prompt {i}", like=f"train prompt {i}", noise=0.7)
        else:
            p = v(f"test prompt {i}")
        a = (
            v(f"test answer {i}a", like=f"train answer {i % 30}a", noise=0.02)
            if 20 <= i < 24
            else v(f"test answer {i}a")
        )
        test.append({"prompt": p, "chosen": a, "rejected": v(f"test answer {i}b"), "id": i})
    for name, rows in (("train", train), ("test", test)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fp = Fingerprint(encoder="vectors", model="test", weights="none", layer="-", pooling="none",
                     normalized=True, dim=d, dtype="float32")  # fmt: skip
    texts = list(vec)
    with EmbeddingCache(tmp_path / "cache").writer(fp, spec="vectors") as w:
        w.add(text_keys(texts), np.stack([vec[t] for t in texts]).astype(np.float32))
    return tmp_path, train, test, vec


def brute_force(train, test, vec, threshold):
    """A pair leaks when its prompt (or a response) equals or has cosine >= threshold with a train one."""
    tp = [r["prompt"] for r in train]
    tr = [r[k] for r in train for k in ("chosen", "rejected")]
    out = []
    for r in test:

        def hit(x, pool):
            return x in pool or max(float(vec[x] @ vec[y]) for y in pool) >= threshold

        out.append(hit(r["prompt"], tp) or hit(r["chosen"], tr) or hit(r["rejected"], tr))
    return out


@pytest.mark.parametrize("threshold", [0.98, 0.7])
def test_leakage_split_equals_brute_force(two_files, threshold):
    root, train, test, vec = two_files
    r = CliRunner().invoke(
        cli,
        ["split", str(root / "test.jsonl"), "--dedup-against", str(root / "train.jsonl"), "--cache", str(root / "cache"),
         "--encoder", "vectors", "--responses", "alone", "--threshold", str(threshold), "--out", str(root / "out")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    leak = [json.loads(x) for x in (root / "out/leakage.jsonl").read_text().splitlines()]
    clean = [json.loads(x) for x in (root / "out/no_leakage.jsonl").read_text().splitlines()]
    expect = brute_force(train, test, vec, threshold)
    assert sorted(x["id"] for x in leak) == [i for i, e in enumerate(expect) if e]
    assert sorted(x["id"] for x in clean) == [i for i, e in enumerate(expect) if not e]
    report = json.loads((root / "out/report.json").read_text())
    assert report["leakage"] == sum(expect) and report["no_leakage"] == len(test) - sum(expect)
    assert report["duplicate_items"]["prompt"]["exact"] == 5
    by_id = {x["id"]: x for x in leak}
    assert by_id[0]["leak"][0] == {
        "field": "prompt",
        "type": "exact",
        "cosine": 1.0,
        "match": "train prompt 0",
    }
    assert by_id[7]["leak"][0]["type"] == "near" and by_id[7]["leak"][0]["match"] == "train prompt 7"
    assert by_id[21]["leak"][0]["field"] == "left" and by_id[21]["leak"][0]["match"] == "train answer 21a"
    if threshold == 0.98:
        assert sum(expect) == 14 and 12 not in by_id  # 5 exact + 5 reworded prompts + 4 near responses
    assert "leak" not in clean[0]


def test_leakage_refuses_to_overwrite_and_names_missing_embeddings(two_files, tmp_path):
    root, *_ = two_files
    args = ["split", str(root / "test.jsonl"), "--dedup-against", str(root / "train.jsonl"), "--cache",
            str(root / "cache"), "--encoder", "vectors", "--responses", "alone", "--out", str(root / "out")]  # fmt: skip
    assert CliRunner().invoke(cli, args).exit_code == 0
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and "--overwrite" in r.output
    (root / "more.jsonl").write_text(
        json.dumps({"prompt": "never seen", "chosen": "x", "rejected": "y"}) + "\n"
    )
    args[1] = str(root / "more.jsonl")
    r = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert r.exit_code != 0 and "embedkit extract" in r.output and "Traceback" not in r.output
