"""A thin layer over FAISS: exact or approximate nearest-neighbour search, on the GPU when one is there.

This package is the only place that imports ``faiss``. ``faiss-gpu`` is used when it is installed and a
GPU is visible, ``faiss-cpu`` otherwise; without either, a clear message names the extra to install.

Metrics: ``ip`` (inner product; higher is nearer), ``l2`` (squared Euclidean distance; lower is nearer)
and ``cosine`` (inner product of L2-normalised vectors). Kinds: ``flat`` (exact), ``ivf`` (inverted
lists, ``nprobe`` lists searched) and ``hnsw`` (graph); ``auto`` is exact up to 200,000 vectors and IVF
beyond (~sqrt(n) lists, 16 probed). Scores come back as the metric's own numbers (similarity for ip/cosine, squared distance for
l2), best first; ids are -1 where fewer than k vectors exist.
"""

from __future__ import annotations

import math

import numpy as np

METRICS = ("ip", "l2", "cosine")
KINDS = ("auto", "flat", "ivf", "hnsw")
AUTO_FLAT_MAX = 200_000


def import_faiss():
    try:
        import faiss
    except ImportError as e:
        raise ModuleNotFoundError(
            "FAISS is not installed: pip install 'embedkit[faiss-cpu]' (or 'embedkit[faiss-gpu]' on a CUDA "
            "machine; the two provide the same module, install one)"
        ) from e
    return faiss


def faiss_gpus() -> int:
    """How many GPUs FAISS can use here (0 with faiss-cpu or without a visible GPU)."""
    faiss = import_faiss()
    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    try:
        return int(faiss.get_num_gpus())
    except Exception:  # pragma: no cover - a broken CUDA runtime counts as no GPU
        return 0


def choose_kind(n: int, kind: str = "auto") -> str:
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return ("flat" if n <= AUTO_FLAT_MAX else "ivf") if kind == "auto" else kind


def _as_f32(x) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"expected a (n, d) matrix, got shape {x.shape}")
    return x


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class VectorIndex:
    """Nearest-neighbour search over a fixed set of vectors (built once, searched many times)."""

    def __init__(self, index, metric: str, kind: str, dim: int, gpu: bool = False):
        self.index, self.metric, self.kind, self.dim, self.gpu = index, metric, kind, dim, gpu

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        vectors,
        metric: str = "ip",
        kind: str = "auto",
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        use_gpu: bool | None = None,
        seed: int = 0,
    ) -> VectorIndex:
        """Index ``vectors`` (n, d). ``use_gpu``: None = when FAISS sees a GPU (flat and IVF indexes)."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        faiss = import_faiss()
        x = _as_f32(vectors)
        if metric == "cosine":
            x = _normalise(x)
        n, d = x.shape
        kind = choose_kind(n, kind)
        mt = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        if kind == "flat":
            index = faiss.IndexFlat(d, mt)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, hnsw_m, mt)
            index.hnsw.efSearch = max(128, 2 * hnsw_m)
        else:
            nlist = nlist or max(1, min(int(math.sqrt(n)), n // 39))  # ~sqrt(n) lists
            quantizer = faiss.IndexFlat(d, mt)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, mt)
            rng = np.random.default_rng(seed)  # k-means on 64 points per list: enough, and seconds at 1M
            sample = x if n <= 64 * nlist else x[rng.choice(n, 64 * nlist, replace=False)]
            index.train(sample)
            index.nprobe = min(nprobe, nlist)
        gpu = (faiss_gpus() > 0) if use_gpu is None else use_gpu
        if gpu and kind != "hnsw":
            index = faiss.index_cpu_to_all_gpus(index)
        else:
            gpu = False
        index.add(x)
        return cls(index, metric, kind, d, gpu)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores (m, k), ids (m, k)), best first."""
        q = _as_f32(queries)
        if q.shape[1] != self.dim:
            raise ValueError(f"queries are {q.shape[1]}-d, the index holds {self.dim}-d vectors")
        if self.metric == "cosine":
            q = _normalise(q)
        scores, ids = self.index.search(q, int(k))
        return scores, ids.astype(np.int64)

    def to_bytes(self) -> bytes:
        faiss = import_faiss()
        index = faiss.index_gpu_to_cpu(self.index) if self.gpu else self.index
        return faiss.serialize_index(index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, metric: str, kind: str, use_gpu: bool | None = None) -> VectorIndex:
        faiss = import_faiss()
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        gpu = (faiss_gpus() > 0) if use_gpu is None else use_gpu
        if gpu and kind != "hnsw":
            index = faiss.index_cpu_to_all_gpus(index)
        else:
            gpu = False
        return cls(index, metric, kind, index.d, gpu)


def brute_force(vectors, queries, k: int, metric: str = "ip") -> tuple[np.ndarray, np.ndarray]:
    """The exact answer with numpy alone (the reference for tests and benchmarks)."""
    x, q = _as_f32(vectors), _as_f32(queries)
    if metric == "cosine":
        x, q = _normalise(x), _normalise(q)
    cost = ((q**2).sum(1)[:, None] - 2 * q @ x.T + (x**2).sum(1)[None, :]) if metric == "l2" else -(q @ x.T)
    k = min(k, x.shape[0])
    part = (
        np.argpartition(cost, k - 1, axis=1)[:, :k] if k < x.shape[0] else np.tile(np.arange(k), (len(q), 1))
    )
    order = np.argsort(np.take_along_axis(cost, part, axis=1), axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1)
    scores = np.take_along_axis(cost, ids, axis=1)
    return (scores if metric == "l2" else -scores), ids
