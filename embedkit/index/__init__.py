"""Nearest-neighbour search (FAISS): over cached namespaces, PAL users and prototypes, and candidate responses.

The only package that imports ``faiss``.
"""

from embedkit.index.search import METRICS, VectorIndex, brute_force, faiss_gpus

__all__ = ["METRICS", "VectorIndex", "brute_force", "faiss_gpus"]
