"""Crash safety, proved by killing extractions with SIGKILL at every write phase and at random moments.

After every kill the cache must be valid as a reader sees it (every listed shard complete and matching
its checksum, no item twice, every embedding equal to an uninterrupted run's), and once a re-run
completes, the cache must hold exactly what an uninterrupted run holds: every item once, bit for bit,
with no stray file left behind.
"""

import json
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from embedkit.cache.store import EmbeddingCache
from embedkit.encoders.registry import create_encoder
from embedkit.extract import extract
from embedkit.faults import ENV, POINTS

TEXTS = [f"statement {i} " + "x" * (i % 11) for i in range(150)]
INPUT = TEXTS + TEXTS[::7]  # duplicates: each must still be stored once
SHARD_SIZE, BATCH_SIZE = 12, 2  # 13 shards; texts are encoded in chunks of 16 (8 batches)
FORK = multiprocessing.get_context("fork")


def _encoder():
    return create_encoder("fake")


def _extract_in_child(cache_dir, crash_at):
    if crash_at:
        os.environ[ENV] = crash_at
    extract(INPUT, cache_dir, _encoder(), batch_size=BATCH_SIZE, shard_size=SHARD_SIZE, progress=False)


def _run_child(cache_dir, crash_at) -> int:
    p = FORK.Process(target=_extract_in_child, args=(str(cache_dir), crash_at))
    p.start()
    p.join(60)
    assert p.exitcode is not None, "extraction hung"
    return p.exitcode


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """key -> embedding bytes of an uninterrupted run."""
    root = tmp_path_factory.mktemp("reference")
    extract(INPUT, root, _encoder(), batch_size=BATCH_SIZE, shard_size=SHARD_SIZE, progress=False)
    keys, mat = EmbeddingCache(root).namespace(_encoder().fingerprint).load()
    return {k: row.tobytes() for k, row in zip(keys.tolist(), mat, strict=True)}


def _check_valid(root, reference, *, complete):
    """What a reader sees: only complete, checksummed shards, no duplicates, reference values."""
    cache = EmbeddingCache(root)
    if not (root / "manifest.json").exists():
        assert not complete
        return 0
    problems = cache.verify()
    assert [p for p in problems if p.severity == "error"] == []
    if complete:
        assert problems == [], problems  # nothing stray either: temporaries removed, orphans adopted
        assert not list(root.glob(".*.tmp")) and not list(root.glob("*/.*.tmp"))
    if not cache.has(_encoder().fingerprint):
        assert not complete
        return 0
    ns = cache.namespace(_encoder().fingerprint, strict=True)
    keys, mat = ns.load()
    assert len(np.unique(keys)) == len(keys), "an item is stored twice"
    for k, row in zip(keys.tolist(), mat, strict=True):
        assert reference[k] == row.tobytes()
    if complete:
        assert set(keys.tolist()) == set(reference)
    return len(keys)


def test_sigkill_at_every_write_phase_then_resume_equals_an_uninterrupted_run(tmp_path, reference):
    """At least 3 kills at each of the 6 single-node crash points, at random passes (mid-batch,
    mid-shard-write, between rename and manifest, mid-manifest-write, ...), resuming after each."""
    rng = np.random.default_rng(0)
    phases = [p for p in POINTS if p != "ray-shard"]
    kills = {p: 0 for p in phases}
    run = 0
    root = tmp_path / f"cache-{run}"
    while min(kills.values()) < 3:
        point = min(phases, key=lambda p: (kills[p], rng.random()))
        code = _run_child(root, f"{point}:{rng.integers(1, 4)}")
        if code == -signal.SIGKILL:
            kills[point] += 1
            _check_valid(root, reference, complete=False)
        else:
            assert code == 0
            _check_valid(root, reference, complete=True)
            run += 1
            root = tmp_path / f"cache-{run}"
    assert sum(kills.values()) >= 18
    assert _run_child(root, None) == 0  # resume the last, interrupted one
    _check_valid(root, reference, complete=True)


def _cli_in_child(argv):
    from embedkit.cli.main import cli

    cli.main(argv, prog_name="embedkit")


def test_sigkill_of_the_cli_at_random_moments_then_resume(tmp_path):
    """`embedkit extract` (its command-line entry point, in a forked process so that interpreter
    start-up does not eat the time window) killed at random moments, wherever it happens to be. With
    the 18 phase kills above: 24 kills in all."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": f"line {i} " + "y" * (i % 17)}) + "\n" for i in range(1000)))

    def start(root):
        argv = ["extract", str(texts), "--encoder", "fake", "--cache", str(root), "--shard-size", "20"]
        p = FORK.Process(target=_cli_in_child, args=(argv + ["--batch-size", "4", "--no-progress"],))
        p.start()
        return p

    t0 = time.perf_counter()
    (p := start(tmp_path / "ref")).join(60)
    full = time.perf_counter() - t0
    assert p.exitcode == 0
    keys, mat = EmbeddingCache(tmp_path / "ref").namespace(_encoder().fingerprint).load()
    reference = {k: row.tobytes() for k, row in zip(keys.tolist(), mat, strict=True)}

    rng = np.random.default_rng(1)
    rows_after_kill = []
    for attempt in range(30):
        if len(rows_after_kill) >= 6:
            break
        root = tmp_path / f"cache-{attempt}"
        for _ in range(3):
            p = start(root)
            time.sleep(rng.uniform(0.05, 0.7) * full)
            os.kill(p.pid, signal.SIGKILL)
            p.join(60)
            if p.exitcode == -signal.SIGKILL:
                rows_after_kill.append(_check_valid(root, reference, complete=False))
        (p := start(root)).join(60)
        assert p.exitcode == 0
        _check_valid(root, reference, complete=True)
    assert len(rows_after_kill) >= 6
    assert any(0 < r < len(reference) for r in rows_after_kill), f"no kill landed mid-run: {rows_after_kill}"
