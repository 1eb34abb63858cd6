import hashlib
import unicodedata

import numpy as np

from embedkit.cache.keys import KEY_DTYPE, KeyIndex, file_key, text_key, text_keys


def test_text_key_is_sha256_of_nfc_utf8():
    composed = "caf\u00e9"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert text_key(composed) == text_key(decomposed) == hashlib.sha256("café".encode()).hexdigest()
    assert text_key("a") != text_key("a ")


def test_file_key(tmp_path):
    p = tmp_path / "img.png"
    p.write_bytes(b"\x89PNG fake bytes" * 1000)
    assert file_key(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_key_index_matches_a_dict_brute_force():
    stored = text_keys([f"text {i}" for i in range(5000)])
    index = KeyIndex(stored)
    query_texts = [f"text {i}" for i in range(0, 10000, 7)]
    expected = {k: i for i, k in enumerate(stored.tolist())}
    got = index.lookup(text_keys(query_texts))
    want = [expected.get(k, -1) for k in text_keys(query_texts).tolist()]
    assert got.tolist() == want
    assert (got >= 0).sum() == len([i for i in range(0, 10000, 7) if i < 5000])


def test_key_index_accepts_str_and_upper_case():
    k = text_key("hello")
    index = KeyIndex(np.array([k], dtype=KEY_DTYPE))
    assert index.lookup([k, k.upper(), text_key("other")]).tolist() == [0, 0, -1]


def test_key_index_stays_exact_when_64bit_prefixes_collide():
    a = "0123456789abcdef" + "0" * 48
    b = "0123456789abcdef" + "1" * 48
    c = "fedcba9876543210" + "2" * 48
    index = KeyIndex(np.array([a, b], dtype=KEY_DTYPE))
    assert index.lookup([b, a, c]).tolist() == [1, 0, -1]


def test_key_index_empty():
    assert KeyIndex(np.zeros(0, KEY_DTYPE)).lookup([text_key("x")]).tolist() == [-1]
    assert KeyIndex(text_keys(["x"])).lookup(np.zeros(0, KEY_DTYPE)).tolist() == []


def test_key_index_on_sequential_keys_keeps_the_fast_path():
    """Keys that differ only in their last characters (the old prefix index fell back to a dict)."""
    stored = np.array([f"{i:064x}" for i in range(20_000)], dtype=KEY_DTYPE)
    index = KeyIndex(stored)
    assert index._fallback is None
    rows = np.random.default_rng(0).integers(0, 20_000, 3000)
    absent = np.array([f"{i:064x}" for i in range(20_000, 20_500)], dtype=KEY_DTYPE)
    got = index.lookup(np.concatenate([stored[rows], absent]))
    assert got.tolist() == rows.tolist() + [-1] * 500


def test_key_index_with_crowded_buckets_matches_a_dict(monkeypatch):
    """Force many keys into few buckets (a weak hash) so the in-bucket scan is exercised; then a hash
    shared by two keys, which must switch to the exact fallback."""
    import embedkit.cache.keys as keys_mod

    real = keys_mod._hash128

    def crowded(k):  # 16 buckets; the first hash alone often ties, the second tells keys apart
        h1, h2 = real(k)
        return h1 & np.uint64(0xF0000000000000FF), h2

    monkeypatch.setattr(keys_mod, "_hash128", crowded)
    stored = text_keys([f"t{i}" for i in range(3000)])
    index = KeyIndex(stored)
    assert index._fallback is None
    assert len(np.unique(index._table[:, 0])) < 3000  # first hashes do tie
    queries = text_keys([f"t{i}" for i in range(0, 6000, 3)])
    expected = {k: i for i, k in enumerate(stored.tolist())}
    assert index.lookup(queries).tolist() == [expected.get(k, -1) for k in queries.tolist()]

    monkeypatch.setattr(keys_mod, "_hash128", lambda k: tuple(h & np.uint64(0xFF) for h in real(k)))
    index = KeyIndex(stored)
    assert index._fallback is not None
    assert index.lookup(queries).tolist() == [expected.get(k, -1) for k in queries.tolist()]


def test_growing_key_set_matches_a_python_set(monkeypatch):
    """The writer's record of what it added: log-structured runs of 128-bit hashes. Checked against a
    set, with first hashes forced to collide so that the step through equal ones is exercised."""
    import embedkit.cache.keys as keys_mod

    real = keys_mod._hash128
    monkeypatch.setattr(keys_mod, "_hash128", lambda k: (real(k)[0] & np.uint64(0xF), real(k)[1]))
    grown, truth = keys_mod.GrowingKeySet(), set()
    rng = np.random.default_rng(0)
    for step in range(40):
        batch = text_keys([f"k{step}-{i}" for i in range(int(rng.integers(1, 60)))])
        grown.add(batch)
        truth.update(batch.tolist())
    assert len(grown.runs) <= 8
    query = text_keys([f"k{s}-{i}" for s in range(45) for i in range(0, 60, 5)])
    assert grown.contains(query).tolist() == [k in truth for k in query.tolist()]
