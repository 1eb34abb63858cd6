"""Nearest-neighbour search (FAISS): over cached namespaces, PAL users and prototypes, candidate
responses, and the near-duplicate search of leakage-free splits (``leakage``).

The only package that imports ``faiss``.
"""

from embedkit.index.search import METRICS, VectorIndex, brute_force, faiss_gpus

__all__ = ["METRICS", "VectorIndex", "brute_force", "faiss_gpus"]
