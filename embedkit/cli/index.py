"""``embedkit index``: FAISS indexes over cached namespaces."""

from __future__ import annotations

import click

from embedkit.cli.common import cache_option
from embedkit.cli.options import field_options
from embedkit.options import REQUIRED, opt


@click.group("index")
def index_group():
    """Nearest-neighbour indexes (FAISS) over cached embeddings."""


@index_group.command("build")
@cache_option()
@field_options(
    encoder=opt(REQUIRED, "The namespace to index: the --encoder given to extract, or a namespace id."),
    out=opt(REQUIRED, "Index directory to write.", path="dir"),
    metric=opt(
        "cosine",
        "Similarity: cosine, inner product, or (squared) Euclidean distance.",
        ("cosine", "ip", "l2"),
    ),
    kind=opt(
        "auto",
        "flat = exact; ivf / hnsw = approximate for large sets; auto = exact up to 200,000 vectors, IVF beyond.",
        ("auto", "flat", "ivf", "hnsw"),
    ),
    overwrite=opt(False, "Replace an existing index directory."),
)
def build_command(cache_dir, encoder, out, metric, kind, overwrite):
    """Index every embedding of one cached namespace; saved as FAISS's own file plus a JSON sidecar
    (fingerprint, key order, the namespace's shard checksums: loading refuses an index whose cache changed)."""
    from embedkit.cache.store import EmbeddingCache
    from embedkit.index.namespace import NamespaceIndex

    ns = EmbeddingCache(cache_dir).namespace(encoder=encoder, verify=True)
    idx = NamespaceIndex.build(ns, metric=metric, kind=kind)
    path = idx.save(out, overwrite=overwrite)
    where = "GPU" if idx.index.gpu else "CPU"
    click.echo(
        f"indexed {len(idx.keys):,} x {ns.dim} vectors of {ns.name} ({idx.index.kind}, {metric}, {where}) -> {path}"
    )
