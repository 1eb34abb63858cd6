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
