import multiprocessing as mp
import shutil

import numpy as np
import pytest

from embedkit.cache.keys import text_keys
from embedkit.cache.store import EmbeddingCache
from embedkit.errors import CacheError, CacheLockedError, MissingKeysError, NamespaceNotFoundError
from tests.cache.test_shards import fp
from tests.conftest import random_rows


def fill(cache, fingerprint, texts, seed=0):
    emb = random_rows(len(texts), fingerprint.dim, seed)
    with cache.writer(fingerprint) as w:
        w.add(text_keys(texts), emb)
    return emb.astype(fingerprint.dtype)


def test_get_lookup_load_across_shards(tmp_path):
    cache = EmbeddingCache(tmp_path / "c")
    f = fp()
    a = fill(cache, f, [f"a{i}" for i in range(30)], seed=1)
    b = fill(cache, f, [f"b{i}" for i in range(20)], seed=2)
    ns = cache.namespace(f)
    assert len(ns) == 50 and len(ns.shards) == 2
    q = text_keys(["b3", "a0", "a29", "b3"])
    assert ns.get(q).tobytes() == np.stack([b[3], a[0], a[29], b[3]]).tobytes()
    assert ns.lookup(text_keys(["a1", "nope"])).tolist() == [1, -1]
    keys, mat = ns.load()
    assert mat.flags.c_contiguous and mat.shape == (50, 8)
    assert mat.tobytes() == np.concatenate([a, b]).tobytes()
    assert (keys == text_keys([f"a{i}" for i in range(30)] + [f"b{i}" for i in range(20)])).all()
    parts = list(ns.iter_shards())
    assert [len(k) for k, _ in parts] == [30, 20]
    _, t = ns.load_torch(dtype=np.float32)
    assert str(t.dtype) == "torch.float32" and t.numpy().tobytes() == mat.astype(np.float32).tobytes()
    buf = np.zeros((50, 8), dtype=np.float32)  # what load_torch reads into on a GPU: pinned memory
    assert ns.load(out=buf)[1] is buf and buf.tobytes() == mat.astype(np.float32).tobytes()
    with pytest.raises(ValueError, match="out has shape"):
        ns.load(out=np.zeros((49, 8), dtype=np.float32))


@pytest.mark.parametrize("dtype", [None, np.float32])
def test_single_shard_reads_in_request_order(tmp_path, dtype):
    cache = EmbeddingCache(tmp_path)
    stored = fill(cache, fp(), [f"t{i}" for i in range(10)])
    got = cache.namespace(fp()).get_rows(np.array([9, 0, 9, 4]), dtype=dtype)
    assert got.dtype == (dtype or np.float16)
    np.testing.assert_array_equal(got, stored[[9, 0, 9, 4]].astype(got.dtype))


def test_missing_keys_raise_with_count(tmp_path):
    cache = EmbeddingCache(tmp_path)
    fill(cache, fp(), ["x", "y"])
    with pytest.raises(MissingKeysError, match="1 of 2 items") as e:
        cache.namespace(fp()).get(text_keys(["x", "z"]))
    assert e.value.missing_indices.tolist() == [1]


def test_fingerprints_are_isolated_namespaces(tmp_path):
    cache = EmbeddingCache(tmp_path)
    f1, f2 = fp(), fp(layer="hidden:-2")
    e1 = fill(cache, f1, ["same text"], seed=1)
    e2 = fill(cache, f2, ["same text"], seed=2)
    assert cache.namespace(f1).get(text_keys(["same text"])).tobytes() == e1.tobytes()
    assert cache.namespace(f2).get(text_keys(["same text"])).tobytes() == e2.tobytes()
    with pytest.raises(NamespaceNotFoundError, match="holds no embeddings .* It holds"):
        cache.namespace(fp(dim=16))
    with pytest.raises(NamespaceNotFoundError, match="2 namespaces for encoder 'fake'"):
        cache.namespace(encoder="fake")
    with pytest.raises(NamespaceNotFoundError, match="cache directory .*new does not exist"):
        EmbeddingCache(tmp_path / "new").namespace(encoder="minilm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NamespaceNotFoundError, match="holds no embeddings at all"):
        EmbeddingCache(tmp_path / "empty").namespace(encoder="minilm")


def test_writer_refuses_keys_already_cached(tmp_path):
    cache = EmbeddingCache(tmp_path)
    fill(cache, fp(), ["a", "b"])
    with cache.writer(fp()) as w:
        with pytest.raises(CacheError, match="already cached"):
            w.add(text_keys(["c", "a"]), random_rows(2, 8))
        w.add(text_keys(["c"]), random_rows(1, 8))
        with pytest.raises(CacheError, match="already cached"):
            w.add(text_keys(["c"]), random_rows(1, 8))
    assert len(cache.namespace(fp())) == 3


def _hold_lock(root, ready, release):
    cache = EmbeddingCache(root)
    with cache.writer(fp()):
        ready.set()
        release.wait(10)


def test_second_writer_is_refused_while_one_holds_the_lock(tmp_path):
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    p.start()
    try:
        assert ready.wait(10)
        with pytest.raises(CacheLockedError, match="another process"):
            with EmbeddingCache(tmp_path).writer(fp()):
                pass
    finally:
        release.set()
        p.join(10)
    with EmbeddingCache(tmp_path).writer(fp()):  # free again
        pass


def test_corrupt_shard_is_reported_and_others_stay_usable(tmp_path, caplog):
    cache = EmbeddingCache(tmp_path)
    fill(cache, fp(), ["a", "b"], seed=1)
    good = fill(cache, fp(), ["c", "d"], seed=2)
    bad_path = cache.root / fp().namespace / "shard-000000.h5"
    bad_path.write_bytes(bad_path.read_bytes()[:200])
    ns = cache.namespace(fp())
    assert "shard-000000.h5" in caplog.text
    assert ns.get(text_keys(["d", "c"])).tobytes() == good[::-1].tobytes()
    assert ns.lookup(text_keys(["a"])).tolist() == [-1]
    with pytest.raises(CacheError, match="shard-000000.h5"):
        cache.namespace(fp(), strict=True)
    problems = cache.verify()
    assert [(p.severity, p.path.endswith("shard-000000.h5")) for p in problems] == [("error", True)]
    moved = cache.quarantine([problems[0].path])
    assert moved[0].exists() and moved[0].parent.name == "quarantine"
    assert cache.verify() == []
    assert len(cache.namespace(fp())) == 2


def test_verify_reports_stray_files_as_warnings(tmp_path):
    cache = EmbeddingCache(tmp_path)
    fill(cache, fp(), ["a"])
    ns_dir = cache.root / fp().namespace
    (ns_dir / "shard-000000.h5").rename(ns_dir / "shard-000007.h5")
    problems = cache.verify()
    assert {p.severity for p in problems} == {"error", "warning"}
    assert any("not in the manifest" in p.problem for p in problems)


def test_verify_during_a_live_extract_does_not_call_its_files_leftovers(tmp_path):
    """While a writer holds the cache lock, its shards not yet in the manifest are its work in progress:
    verify says a writer is at work (a note) instead of warning about an interrupted run; once the lock is
    let go, the same files are warnings again."""
    import subprocess
    import sys
    import time

    from embedkit.cache.lock import live_writer

    cache = EmbeddingCache(tmp_path)
    fill(cache, fp(), ["a"])
    ns_dir = cache.root / fp().namespace
    shutil.copy(ns_dir / "shard-000000.h5", ns_dir / "shard-000009.h5")  # as if being written
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from embedkit.cache.lock import CacheLock\n"
         f"with CacheLock(Path({str(tmp_path)!r})): print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert f"pid {holder.pid}" in live_writer(tmp_path)
        problems = cache.verify()
        assert [p.severity for p in problems] == ["note"], problems
        assert (
            "an extract is writing this cache now" in problems[0].problem
            and "1 file(s)" in problems[0].problem
        )
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    while live_writer(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.severity for p in cache.verify()] == ["warning"]
