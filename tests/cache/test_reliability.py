"""Corruption, repair, concurrent writers and readers, and files from untrusted sources."""

import json
import multiprocessing
import os
import shutil
import signal
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache.store import EmbeddingCache
from embedkit.cli.main import cli
from embedkit.encoders.registry import create_encoder
from embedkit.errors import CacheError, CacheLockedError, CorruptShardError
from embedkit.extract import extract

FORK = multiprocessing.get_context("fork")
TEXTS = [f"item {i}" for i in range(60)]


def _fake(dim=None):
    return create_encoder("fake") if dim is None else create_encoder("fake", dim=dim)


def _extract(root, texts=TEXTS, enc=None, **kw):
    kw = {"batch_size": 4, "shard_size": 10, "progress": False, **kw}
    return extract(texts, root, enc or _fake(), **kw)


def _snapshot(root):
    keys, mat = EmbeddingCache(root).namespace(_fake().fingerprint).load()
    return {k: row.tobytes() for k, row in zip(keys.tolist(), mat, strict=True)}


def _damage(root, how):
    """Damage the cache's second shard (10 rows) as ``how`` says; return its file name."""
    ns_dir = root / _fake().fingerprint.namespace
    path = ns_dir / "shard-000001.h5"
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:-2000])
    elif how == "flipped":
        with h5py.File(path, "r") as f:
            offset = f["embeddings"].id.get_offset()
        with open(path, "r+b") as fh:
            fh.seek(offset + 37)
            fh.write(b"\x55\xaa")
    elif how == "missing":
        path.unlink()
    elif how == "other-encoder":
        other = root.parent / f"other-{how}"
        _extract(other, TEXTS[10:20], enc=_fake(dim=32))  # same items, another encoder's fingerprint
        shutil.copy(next((other / _fake(dim=32).fingerprint.namespace).glob("shard-*.h5")), path)
    return path.name


@pytest.mark.parametrize("how", ["truncated", "flipped", "missing", "other-encoder"])
def test_damage_is_found_by_verify_and_loading_and_repair_re_extracts_just_it(tmp_path, how):
    root = tmp_path / "cache"
    _extract(root)
    reference = _snapshot(root)
    name = _damage(root, how)
    runner = CliRunner()

    out = runner.invoke(cli, ["cache", "verify", "--cache", str(root)])
    assert out.exit_code == 1 and name in out.output and "1 corrupt" in out.output

    with pytest.raises(CorruptShardError, match=name):  # loading for training checks every checksum
        EmbeddingCache(root).namespace(_fake().fingerprint, strict=True, verify=True)
    ns = EmbeddingCache(root).namespace(_fake().fingerprint, verify=True)  # or skips it, saying so
    assert len(ns) == 50 and name in str(ns.corrupt[0])

    out = runner.invoke(cli, ["cache", "repair", "--cache", str(root)])
    assert out.exit_code == 0, out.output
    assert f"dropped {root / _fake().fingerprint.namespace / name}" in out.output
    assert "1 damaged shard(s) dropped" in out.output and "consistent" in out.output
    if how != "missing":
        assert (root / "quarantine" / f"{_fake().fingerprint.namespace}__{name}").exists()
    assert EmbeddingCache(root).verify() == []

    r = _extract(root)
    assert r.encoded == 10 and r.cached_before == 50  # just the dropped shard's items
    assert _snapshot(root) == reference


def test_repair_of_a_sound_cache_changes_nothing(tmp_path):
    _extract(tmp_path)
    before = (tmp_path / "manifest.json").read_bytes()
    out = CliRunner().invoke(cli, ["cache", "repair", "--cache", str(tmp_path)])
    assert (
        out.exit_code == 0 and "0 damaged shard(s) dropped, 0 adopted; the cache is consistent" in out.output
    )
    assert (tmp_path / "manifest.json").read_bytes() == before


def _hold_writer_then(root, ready, action):
    with EmbeddingCache(root).writer(_fake().fingerprint):
        ready.set()
        if action == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(action))


def test_lock_names_its_holder_a_dead_holder_is_taken_over_and_wait_queues(tmp_path):
    ready = FORK.Event()
    p = FORK.Process(target=_hold_writer_then, args=(tmp_path, ready, "1.0"))
    p.start()
    assert ready.wait(20)
    with pytest.raises(CacheLockedError, match=rf"pid {p.pid} on .*--wait-lock"):
        _extract(tmp_path)
    r = _extract(tmp_path, wait_lock=30)  # queues behind the holder, then runs
    p.join(20)
    assert r.encoded == len(TEXTS)

    ready = FORK.Event()
    p = FORK.Process(target=_hold_writer_then, args=(tmp_path / "b", ready, "die"))
    p.start()
    p.join(20)
    assert p.exitcode == -signal.SIGKILL and ready.is_set()
    assert json.loads((tmp_path / "b" / ".lock").read_text())["pid"] == p.pid  # the stale lock file
    assert _extract(tmp_path / "b").encoded == len(TEXTS)  # taken over at once


def _cli_in_child(argv):
    cli.main(argv, prog_name="embedkit")


def test_two_extractions_at_once_never_corrupt_the_cache(tmp_path, capfd):
    texts = tmp_path / "t.jsonl"
    texts.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(400)))
    root = tmp_path / "cache"
    argv = [
        "extract",
        str(texts),
        "--encoder",
        "fake",
        "--cache",
        str(root),
        "--shard-size",
        "5",
        "--no-progress",
    ]
    for extra, want in (([], {0, 1}), (["--wait-lock", "60"], {0})):
        shutil.rmtree(root, ignore_errors=True)
        procs = [FORK.Process(target=_cli_in_child, args=(argv + extra,)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        codes = sorted(p.exitcode for p in procs)
        assert set(codes) <= want and 0 in codes, codes
        if 1 in codes:  # refused with a clear message, no traceback
            err = capfd.readouterr().err
            assert "is being written by another process (pid" in err and "Traceback" not in err
        assert EmbeddingCache(root).verify() == []
        assert len(EmbeddingCache(root).namespace(encoder="fake")) == 400


def _extract_slowly(root, texts):
    enc = _fake()
    real = enc.encode

    def slow(*a, **kw):
        time.sleep(0.01)
        return real(*a, **kw)

    enc.encode = slow
    extract(texts, root, enc, batch_size=2, shard_size=3, progress=False)


def test_readers_see_only_complete_shards_while_a_writer_works(tmp_path):
    texts = [f"reader test {i}" for i in range(150)]
    _extract(tmp_path / "ref", texts)
    reference = _snapshot(tmp_path / "ref")
    root = tmp_path / "cache"
    writer = FORK.Process(target=_extract_slowly, args=(root, texts))
    writer.start()
    seen = set()
    while writer.is_alive() or not seen:
        try:
            ns = EmbeddingCache(root).namespace(_fake().fingerprint, strict=True, verify=True)
        except CacheError as e:  # only "nothing extracted yet" is allowed, never a corrupt shard
            assert "no embeddings" in str(e) or "does not exist" in str(e), e
            continue
        keys, mat = ns.load()
        assert len(keys) % 3 == 0 and len(np.unique(keys)) == len(keys)
        assert all(reference[k] == row.tobytes() for k, row in zip(keys.tolist(), mat, strict=True))
        seen.add(len(keys))
    writer.join(30)
    assert writer.exitcode == 0
    assert len([n for n in seen if 0 < n < 150]) >= 3  # really read mid-run, several times


# --- files from untrusted sources ------------------------------------------------------------------


def test_manifest_paths_cannot_leave_the_cache(tmp_path):
    _extract(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    ns = next(iter(manifest["namespaces"]))
    for field, value in (("file", "../../etc/passwd"), ("file", "/etc/passwd"), ("file", "shard-1.h5/../x")):
        bad = json.loads(json.dumps(manifest))
        bad["namespaces"][ns]["shards"][0][field] = value
        (tmp_path / "manifest.json").write_text(json.dumps(bad))
        with pytest.raises(CacheError, match="manifest.json.*not a shard file name"):
            EmbeddingCache(tmp_path).namespace(encoder="fake")
    bad = json.loads(json.dumps(manifest))
    bad["namespaces"]["../../elsewhere"] = bad["namespaces"].pop(ns)
    (tmp_path / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(CacheError, match="does not match its fingerprint"):
        EmbeddingCache(tmp_path).namespace(encoder="fake")
    out = CliRunner().invoke(cli, ["cache", "verify", "--cache", str(tmp_path)])
    assert out.exit_code == 1 and "manifest.json" in out.output and "Traceback" not in out.output


@pytest.mark.parametrize("trap", ["external-link", "external-storage", "soft-link"])
def test_a_shard_pointing_at_other_files_is_refused(tmp_path, trap):
    _extract(tmp_path)
    path = tmp_path / _fake().fingerprint.namespace / "shard-000000.h5"
    secret = tmp_path / "secret.bin"
    secret.write_bytes(os.urandom(10 * 16 * 2))
    with h5py.File(path, "a") as f:
        del f["embeddings"]
        if trap == "external-link":
            f["embeddings"] = h5py.ExternalLink(str(secret), "/data")
        elif trap == "external-storage":
            f.create_dataset("embeddings", shape=(10, 16), dtype="float16", external=[(str(secret), 0, 320)])
        else:
            f["elsewhere"] = np.zeros((10, 16), "float16")
            f["embeddings"] = h5py.SoftLink("/elsewhere")
    with pytest.raises(CorruptShardError, match="shard-000000.h5.*(not data in this file|other files)"):
        EmbeddingCache(tmp_path).namespace(encoder="fake", strict=True)
    assert any(p.path.endswith("shard-000000.h5") for p in EmbeddingCache(tmp_path).verify())


@pytest.mark.slow
def test_fit_head_and_score_while_extract_writes_see_a_consistent_cache(tmp_path):
    """The commands that read a cache, run (in this process) while another process extracts new items
    into the same namespace: every run succeeds and trains and scores exactly as on the cache alone."""
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps(
                {"user": f"u{u}", "prompt": f"q {i}", "chosen": f"long {i} {u}", "rejected": f"no {i}"}
            )
            + "\n"
            for u in range(3)
            for i in range(12)
        )
    )
    root, runner = tmp_path / "cache", CliRunner()

    def run(*argv):
        out = runner.invoke(cli, [str(a) for a in argv])
        assert out.exit_code == 0, out.output
        return out

    def fit_and_score(n):
        run("fit-head", "--model", "bt", "--pairs", pairs, "--cache", root, "--encoder", "fake",
            "--out", tmp_path / f"head-{n}", "--epochs", "2", "--seed", "0")  # fmt: skip
        run(
            "score",
            tmp_path / f"head-{n}",
            "--cache",
            root,
            "--pairs",
            pairs,
            "--out",
            tmp_path / f"s-{n}.jsonl",
        )
        return (tmp_path / f"s-{n}.jsonl").read_text()

    run("extract", pairs, "--encoder", "fake", "--cache", root, "--no-progress")
    reference = fit_and_score("ref")
    writer = FORK.Process(target=_extract_slowly, args=(root, [f"new text {i}" for i in range(400)]))
    writer.start()
    during = 0
    while writer.is_alive() and during < 4:
        assert fit_and_score(during) == reference
        during += 1
    writer.join(60)
    assert writer.exitcode == 0 and during >= 1
    assert len(EmbeddingCache(root).namespace(encoder="fake")) > 400  # the writer did add its items
