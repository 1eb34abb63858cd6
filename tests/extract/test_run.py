import weakref

import numpy as np
import pytest

from embedkit.cache.keys import text_keys
from embedkit.cache.store import EmbeddingCache
from embedkit.encoders.fake import FakeEncoder
from embedkit.extract import extract
from tests.conftest import make_image, windows_freed_as_they_go


class Interrupted(Exception):
    pass


class FlakyEncoder(FakeEncoder):
    """Dies (like a killed process) on its Nth encode call."""

    def __init__(self, die_on_call, **kw):
        super().__init__(**kw)
        self.calls = 0
        self.encoded = []
        self.die_on_call = die_on_call

    def encode(self, texts, batch_size=32, parts=None):
        self.calls += 1
        if self.calls == self.die_on_call:
            raise Interrupted
        self.encoded.extend(texts)
        return super().encode(texts, batch_size)


TEXTS = [f"statement number {i} " + "x" * (i % 13) for i in range(500)]


def test_dedup_encodes_each_text_once(tmp_path):
    enc = FlakyEncoder(die_on_call=-1, dim=16)
    r = extract(TEXTS + TEXTS[:100], tmp_path, enc, batch_size=8, shard_size=1000, progress=False)
    assert r.items == 500 and r.encoded == 500 and sorted(enc.encoded) == sorted(TEXTS)
    again = extract(TEXTS, tmp_path, enc, progress=False)
    assert again.encoded == 0 and again.cached_before == 500 and again.shards_written == 0
    assert len(enc.encoded) == 500


def test_texts_are_encoded_longest_first(tmp_path):
    enc = FlakyEncoder(die_on_call=-1, dim=16)
    extract(TEXTS, tmp_path, enc, batch_size=8, shard_size=1000, progress=False)
    lengths = [len(t) for t in enc.encoded]
    assert lengths == sorted(lengths, reverse=True)


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    reference = EmbeddingCache(tmp_path / "ref")
    extract(TEXTS, reference, FakeEncoder(dim=16), batch_size=10, shard_size=120, progress=False)

    cache = EmbeddingCache(tmp_path / "crash")
    flaky = FlakyEncoder(die_on_call=7, dim=16)  # 2 calls (80 + 40 texts) per shard: dies in the 4th
    with pytest.raises(Interrupted):
        extract(TEXTS, cache, flaky, batch_size=10, shard_size=120, progress=False)
    ns = cache.namespace(FakeEncoder(dim=16).fingerprint)
    assert len(ns) == 360 and len(ns.shards) == 3  # three durable shards, the fourth lost
    assert cache.verify() == []  # valid after the crash

    resumed = FlakyEncoder(die_on_call=-1, dim=16)
    r = extract(TEXTS, cache, resumed, batch_size=10, shard_size=120, progress=False)
    assert r.cached_before == 360 and r.encoded == 140 == len(resumed.encoded)
    assert not set(resumed.encoded) & set(flaky.encoded[:360])

    ns = cache.namespace(FakeEncoder(dim=16).fingerprint)
    keys, mat = ns.load()
    assert len(keys) == len(np.unique(keys)) == 500  # each item exactly once
    q = text_keys(TEXTS)
    assert ns.get(q).tobytes() == reference.namespace(FakeEncoder(dim=16).fingerprint).get(q).tobytes()


def test_a_crash_mid_shard_write_leaves_the_cache_valid(tmp_path, monkeypatch):
    import embedkit.cache.writer as store

    real = store.write_shard
    calls = {"n": 0}

    def dying_write(path, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            tmp = path.with_name(f".{path.name}.999.tmp")  # what a killed writer leaves behind
            tmp.write_bytes(b"half a shard")
            raise Interrupted
        return real(path, *a, **kw)

    monkeypatch.setattr(store, "write_shard", dying_write)
    with pytest.raises(Interrupted):
        extract(TEXTS, tmp_path, FakeEncoder(dim=16), shard_size=200, progress=False)
    cache = EmbeddingCache(tmp_path)
    assert len(cache.namespace(FakeEncoder(dim=16).fingerprint)) == 200
    assert [p.severity for p in cache.verify()] == ["warning"]  # the stray temporary file
    monkeypatch.setattr(store, "write_shard", real)
    r = extract(TEXTS, tmp_path, FakeEncoder(dim=16), shard_size=200, progress=False)
    assert r.encoded == 300 and cache.verify() == []  # the writer cleaned the temporary file


def test_corrupt_shard_is_quarantined_and_re_encoded(tmp_path):
    fp = FakeEncoder(dim=16).fingerprint
    extract(TEXTS, tmp_path, FakeEncoder(dim=16), shard_size=200, progress=False)
    shard = tmp_path / fp.namespace / "shard-000001.h5"
    shard.write_bytes(shard.read_bytes()[:500])
    r = extract(TEXTS, tmp_path, FakeEncoder(dim=16), shard_size=200, progress=False)
    assert r.encoded == 200 and len(r.quarantined) == 1 and r.quarantined[0].exists()
    cache = EmbeddingCache(tmp_path)
    assert cache.verify() == [] and len(cache.namespace(fp)) == 500


def test_streaming_windows_give_the_one_window_result_and_check_all_input_first(tmp_path, monkeypatch):
    """Large inputs are read in windows (memory holds one): items repeated across windows are still
    encoded once and counted once, and a bad record in a late window stops the run before any write."""
    import json

    from click.testing import CliRunner

    from embedkit.cli.main import cli

    monkeypatch.setattr("embedkit.extract.inputs.STREAM_WINDOW", 50)
    lines = [json.dumps({"text": f"text {i % 120}"}) for i in range(300)]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    args = ["--encoder", "fake", "--cache", str(tmp_path / "c"), "--shard-size", "7", "--no-progress"]
    r = runner.invoke(cli, ["extract", str(good), *args])
    assert r.exit_code == 0, r.output
    assert "300 records, 300 items, 120 unique (120 texts); 0 already cached, 120 encoded" in r.output
    fp = FakeEncoder(dim=32).fingerprint
    keys, mat = EmbeddingCache(tmp_path / "c").namespace(fp).load()
    assert sorted(keys.tolist()) == sorted(text_keys([f"text {i}" for i in range(120)]).tolist())
    ref = EmbeddingCache(tmp_path / "ref")
    extract([f"text {i}" for i in range(120)], ref, FakeEncoder(dim=32), progress=False)
    assert ref.namespace(fp).get(keys).tobytes() == mat.tobytes()
    r = runner.invoke(cli, ["extract", str(good), *args])  # all cached: each item still counted once
    assert "300 records, 300 items, 120 unique (120 texts); 120 already cached, 0 encoded" in r.output
    part = tmp_path / "part.jsonl"
    part.write_text("\n".join(lines[:120:3]) + "\n")  # 40 of the texts, cached before the next run
    assert (
        runner.invoke(cli, ["extract", str(part), *args[:2], "--cache", str(tmp_path / "c4")]).exit_code == 0
    )
    r = runner.invoke(cli, ["extract", str(good), *args[:2], "--cache", str(tmp_path / "c4")])
    assert "300 records, 300 items, 120 unique (120 texts); 40 already cached, 80 encoded" in r.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + '\n{"text": 42}\n')
    r = runner.invoke(cli, ["extract", str(bad), "--encoder", "fake", "--cache", str(tmp_path / "c2")])
    assert r.exit_code == 1 and "bad.jsonl:301" in r.output
    assert not (tmp_path / "c2").exists()
    monkeypatch.setattr(FakeEncoder, "modalities", ("text",))  # a text-only encoder
    for i in range(2):
        make_image(tmp_path / "img" / f"{i}.png", seed=i)
    r = runner.invoke(
        cli,
        ["extract", str(good), str(tmp_path / "img"), "--encoder", "fake", "--cache", str(tmp_path / "c3")],
    )
    assert r.exit_code == 1 and "2 of the inputs are images" in r.output and "embeds texts only" in r.output
    assert not (tmp_path / "c3").exists()  # refused before the first window was written


def test_a_window_is_let_go_of_once_encoded(tmp_path):
    """extract() holds one window at a time: each is freed before the next is read (a window put back
    with itertools.chain would stay referenced until the end of the run)."""
    from embedkit.data.items import Items, put_back

    def windows():
        for w in range(4):
            items = Items()
            for i in range(30):
                items.add(f"window {w} text {i}")
            yield items

    r = extract(windows_freed_as_they_go(windows()), tmp_path, FakeEncoder(dim=8), progress=False)
    assert r.encoded == 120 and len(EmbeddingCache(tmp_path).namespace(r.fingerprint)) == 120

    first = Items()
    first.add("first")
    rest = put_back(first, iter([Items()]))
    ref = weakref.ref(first)
    del first
    next(rest)
    next(rest)
    assert ref() is None


def test_an_unreadable_image_repeated_in_later_windows_is_reported_once(tmp_path, monkeypatch):
    """With --skip-bad, an image that fails to decode is skipped once: a later window naming it again
    neither retries it nor counts it again (as on Ray, where it is queued once)."""
    import json

    from click.testing import CliRunner

    from embedkit.cli.main import cli

    monkeypatch.setattr("embedkit.extract.inputs.STREAM_WINDOW", 2)
    make_image(tmp_path / "r.png", color=(200, 30, 30))
    make_image(tmp_path / "g.png", color=(30, 200, 30))
    (tmp_path / "bad.png").write_text("not a PNG")
    rows = ["r.png", "bad.png", "g.png", "r.png", "bad.png", "bad.png"]
    (tmp_path / "imgs.jsonl").write_text("".join(json.dumps({"image": p}) + "\n" for p in rows))
    report = tmp_path / "report.jsonl"
    r = CliRunner().invoke(
        cli,
        ["extract", str(tmp_path / "imgs.jsonl"), "--image-field", "image", "--encoder", "fake", "--cache",
         str(tmp_path / "c"), "--skip-bad", "--bad-rows-report", str(report), "--workers", "0", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "6 records, 6 items, 3 unique (0 texts + 3 images); 0 already cached, 2 encoded" in r.output
    assert "1 unreadable image(s)" in r.output and len(report.read_text().splitlines()) == 1
