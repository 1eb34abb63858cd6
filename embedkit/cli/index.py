"""``embedkit index``: FAISS indexes over cached namespaces."""

from __future__ import annotations

import click

from embedkit.cli.common import cache_option


@click.group("index")
def index_group():
    """Nearest-neighbour indexes (FAISS) over cached embeddings."""


@index_group.command("build")
@cache_option()
@click.option(
    "--encoder",
    required=True,
    help="The namespace to index: the --encoder given to extract, or a namespace id.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Index directory to write.")
@click.option(
    "--metric", type=click.Choice(["cosine", "ip", "l2"]), default="cosine", show_default=True,
    help="Similarity: cosine, inner product, or (squared) Euclidean distance.",
)  # fmt: skip
@click.option(
    "--kind", type=click.Choice(["auto", "flat", "ivf", "hnsw"]), default="auto", show_default=True,
    help="flat = exact; ivf / hnsw = approximate for large sets; auto = exact up to 200,000 vectors, IVF beyond.",
)  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace an existing index directory.")
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
