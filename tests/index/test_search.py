"""The FAISS layer against numpy brute force; namespace indexes that refuse a changed cache."""

import sys

import numpy as np
import pytest

from embedkit.cache import EmbeddingCache
from embedkit.encoders.fake import FakeEncoder
from embedkit.errors import CacheError
from embedkit.extract import extract
from embedkit.index import VectorIndex, brute_force
from embedkit.index.namespace import NamespaceIndex

pytest.importorskip("faiss")


def clustered(n=3000, d=24, centres=30, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 1, (centres, d))
    return (c[rng.integers(centres, size=n)] + 0.3 * rng.normal(0, 1, (n, d))).astype(np.float32)


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_exact_search_equals_brute_force(metric):
    x = clustered()
    q = clustered(50, seed=1)
    idx = VectorIndex.build(x, metric=metric, kind="auto")
    assert idx.kind == "flat" and len(idx) == len(x)
    scores, ids = idx.search(q, 10)
    ref_scores, ref_ids = brute_force(x, q, 10, metric)
    assert np.array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_kinds_find_most_true_neighbours(kind):
    x, q = clustered(), clustered(100, seed=2)
    _, ids = VectorIndex.build(x, metric="l2", kind=kind).search(q, 10)
    _, ref = brute_force(x, q, 10, "l2")
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, ref, strict=True)])
    assert recall >= 0.9


def test_serialisation_round_trip_and_dimension_check():
    x, q = clustered(500), clustered(5, seed=3)
    idx = VectorIndex.build(x, metric="cosine")
    back = VectorIndex.from_bytes(idx.to_bytes(), "cosine", "flat")
    assert np.array_equal(back.search(q, 5)[1], idx.search(q, 5)[1])
    with pytest.raises(ValueError, match="queries are 3-d, the index holds 24-d"):
        idx.search(np.zeros((1, 3)), 1)
    _, ids = VectorIndex.build(x[:3], metric="ip").search(q, 5)
    assert (ids[:, 3:] == -1).all()  # fewer than k vectors


def test_missing_faiss_names_the_extra(monkeypatch):
    from embedkit.index.search import import_faiss

    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ModuleNotFoundError, match=r"embedkit\[faiss-cpu\]"):
        import_faiss()


def test_namespace_index_saves_and_refuses_a_changed_cache(tmp_path):
    texts = [f"text {i}" for i in range(200)]
    extract(texts, tmp_path / "c", FakeEncoder(dim=16), progress=False)
    cache = EmbeddingCache(tmp_path / "c")
    ns = cache.namespace(encoder="fake")
    built = NamespaceIndex.build(ns, metric="cosine")
    built.save(tmp_path / "idx")
    with pytest.raises(Exception, match="not empty"):
        built.save(tmp_path / "idx")
    loaded = NamespaceIndex.load(tmp_path / "idx", cache)
    scores, keys = loaded.search_keys(cache, ns.keys[:4], k=3)
    assert (keys[:, 0] == ns.keys[:4].astype(str)).all() and np.allclose(scores[:, 0], 1, atol=1e-5)
    extract(["a new text"], tmp_path / "c", FakeEncoder(dim=16), progress=False)
    with pytest.raises(CacheError, match="changed since the index"):
        NamespaceIndex.load(tmp_path / "idx", tmp_path / "c")
