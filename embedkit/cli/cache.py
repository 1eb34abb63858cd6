"""``embedkit cache ls`` and ``embedkit cache verify``."""

from __future__ import annotations

import json
import sys

import click

from embedkit.cli.common import cache_option, human_bytes, json_option
from embedkit.cli.options import field_options
from embedkit.options import opt


@click.group("cache")
def cache_group():
    """Inspect, check and repair an embedding cache."""


@cache_group.command("ls")
@cache_option()
@json_option("Print JSON instead of a table.")
def ls_command(cache_dir, as_json):
    """List the namespaces (one per encoder fingerprint): rows, dim, dtype, shards, size on disk."""
    from embedkit.cache.store import EmbeddingCache

    cache = _existing_cache(cache_dir)
    rows = []
    for ns, entry in EmbeddingCache(cache).manifest().namespaces.items():
        size = sum(
            (cache / ns / s.file).stat().st_size for s in entry.shards if (cache / ns / s.file).exists()
        )
        rows.append(
            {
                "namespace": ns,
                **entry.fingerprint.to_dict(),
                "rows": entry.rows,
                "shards": len(entry.shards),
                "bytes": size,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo(f"{cache_dir}: empty cache")
        return
    header = ("namespace", "encoder", "model", "layer", "norm", "dim", "dtype", "rows", "shards", "size")
    table = [header] + [
        (
            r["namespace"],
            r["encoder"],
            r["model"],
            f"{r['layer']}/{r['pooling']}",
            "yes" if r["normalized"] else "no",
            str(r["dim"]),
            r["dtype"],
            f"{r['rows']:,}",
            str(r["shards"]),
            human_bytes(r["bytes"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cache_group.command("verify")
@cache_option()
@field_options(
    quick=opt(False, "Skip the checksums (structure and sizes only)."),
    quarantine=opt(
        False,
        "Move corrupt shards out of the cache into CACHE/quarantine/; the next extract re-encodes their rows.",
    ),
)
def verify_command(cache_dir, quick, quarantine):
    """Check every shard: readable, attributes present, shapes and checksums as recorded.

    Exits 1 if any shard is corrupt; stray files from interrupted writes are reported as warnings.
    """
    from embedkit.cache.store import EmbeddingCache

    cache = EmbeddingCache(_existing_cache(cache_dir))
    problems = cache.verify(checksums=not quick)
    n_shards = sum(len(e.shards) for e in cache.manifest().namespaces.values())
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for p in problems:
        click.echo(f"{p.severity.upper()}: {p.path}: {p.problem}", err=True)
    if errors and quarantine:
        for dest in cache.quarantine([p.path for p in errors if p.path.endswith(".h5")]):
            click.echo(f"quarantined -> {dest}", err=True)
    click.echo(f"{n_shards} shard(s) checked, {len(errors)} corrupt, {len(warnings)} warning(s)")
    sys.exit(1 if errors and not quarantine else 0)


@cache_group.command("repair")
@cache_option()
def repair_command(cache_dir):
    """Drop damaged shards from the manifest so that a re-run of `embedkit extract` re-encodes just
    their items; every good row is kept.

    \b
    Checks every shard in full (as `cache verify` does). A shard that is truncated, fails its checksum,
    is missing, or belongs to another encoder leaves the manifest and moves to CACHE/quarantine/
    (nothing is deleted). Temporary files of interrupted writes are removed, and complete shards an
    interrupted run wrote but never recorded are checked and adopted. Exits 1 if something is still
    wrong afterwards (it is listed).

    \b
    Example:
      embedkit cache repair --cache runs/cache && embedkit extract data.jsonl --cache runs/cache
    """
    from embedkit.cache.store import EmbeddingCache

    result = EmbeddingCache(_existing_cache(cache_dir)).repair()
    for p, dest in result.dropped:
        where = f"moved to {dest}" if dest.exists() else "the file was missing"
        click.echo(f"dropped {p.path}: {p.problem}; {where}", err=True)
    for dest in result.quarantined:
        click.echo(f"moved a damaged shard that an interrupted run left unrecorded to {dest}", err=True)
    for path in result.adopted:
        click.echo(f"adopted {path} (complete, left unrecorded by an interrupted run)", err=True)
    for p in result.remaining:
        click.echo(f"{p.severity.upper()}: {p.path}: {p.problem}", err=True)
    errors = [p for p in result.remaining if p.severity == "error"]
    rows = len(result.dropped)
    click.echo(
        f"{rows} damaged shard(s) dropped, {len(result.adopted)} adopted; "
        + (f"{len(errors)} problem(s) remain" if errors else "the cache is consistent")
        + ("; re-run `embedkit extract` on your inputs to re-encode the dropped items" if rows else "")
    )
    sys.exit(1 if errors else 0)


def _existing_cache(cache_dir):
    from pathlib import Path

    from embedkit.errors import CacheError

    path = Path(cache_dir)
    if not (path / "manifest.json").exists():
        raise CacheError(f"{path} is not an embedkit cache (no manifest.json)")
    return path
