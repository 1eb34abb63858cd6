"""Resolving pairs to rows of the cache: keys of the items, each distinct text hashed once (#26)."""

from embedkit.cache.keys import text_keys
from embedkit.heads.pair_data import _distinct_text_keys


def test_distinct_text_keys_equal_the_plain_keys_in_order():
    texts = ["a", "b", "a", "c", "b", "e\u0301", "\u00e9", "e\u0301"]  # the last three: one NFC text
    assert (_distinct_text_keys(texts) == text_keys(texts)).all()
    assert _distinct_text_keys([]).shape == (0,)
