"""Pick-a-Pic import (PAL section 4.2.2): the data Pick-a-Filter (``embedkit.datasets.pick_a_filter``) is
built from.

**Import** (``embedkit convert pick-a-pic``): parquet files in the Pick-a-Pic layout — ``caption``,
``jpg_0`` / ``jpg_1`` (image bytes), ``label_0`` / ``label_1`` (1/0, 0/1, or 0.5/0.5 for a tie),
``user_id``, and where present ``image_0_uid``, ``image_1_uid``, ``best_image_uid``, ``ranking_id``,
``split``. Files are read one record batch at a time (``pyarrow.parquet.ParquetFile.iter_batches``), so a
multi-GB file never sits in memory. Each distinct image is written once, under ``images/`` by the SHA-256
of its bytes; ``pairs.jsonl`` gets one row per record in the embedkit pair format: ``user``, ``prompt`` =
caption, ``left`` / ``right`` = image paths relative to the pair file, ``label`` (``left``, ``right`` or
``tie``), ``source_split`` (from the ``split`` column, else from the file name: ``train``,
``validation`` or ``test``; Pick-a-Pic's ``validation_unique`` / ``test_unique`` files count as
validation / test) and the ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from embedkit.atomic import write_text
from embedkit.data.readers import write_jsonl
from embedkit.errors import InputError

REQUIRED = ("caption", "jpg_0", "jpg_1", "label_0", "label_1", "user_id")
OPTIONAL = ("image_0_uid", "image_1_uid", "best_image_uid", "ranking_id", "split")
SOURCE_SPLITS = ("train", "validation", "test")
_NAME_SPLIT = re.compile(r"(?:^|[^a-z])(train|validation|valid|val|test)(?:_unique)?(?:[^a-z]|$)")


def split_from_name(path: str | os.PathLike) -> str | None:
    """train / validation / test from a Pick-a-Pic file name (``train-00000-of-00645.parquet``,
    ``validation_unique-...``, ``test_unique-...``), or None."""
    m = _NAME_SPLIT.search(Path(path).name.lower())
    if not m:
        return None
    return {"valid": "validation", "val": "validation"}.get(m.group(1), m.group(1))


def image_suffix(data: bytes) -> str | None:
    """The file suffix of encoded image bytes by their magic number, or None when not an image."""
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    return None


class ImageStore:
    """Images under ``root/images/`` by content hash: each distinct image is written once, atomically."""

    def __init__(self, root: Path):
        self.root = root
        self.written = 0
        self.reused = 0

    def put(self, data: bytes, suffix: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        rel = f"images/{digest[:2]}/{digest}{suffix}"
        path = self.root / rel
        if path.exists():
            self.reused += 1
            return rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.written += 1
        return rel

    def put_file(self, src: Path) -> str:
        """An image file already on disk: hard-linked where the file system allows, else copied."""
        data = src.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        rel = f"images/{digest[:2]}/{digest}{src.suffix.lower()}"
        path = self.root / rel
        if path.exists():
            self.reused += 1
            return rel
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, path)
        except OSError:
            return self.put(data, src.suffix.lower())
        self.written += 1
        return rel


def _label(l0, l1, path, row) -> str:
    try:
        pair = (float(l0), float(l1))
    except (TypeError, ValueError):
        raise InputError(
            f"label_0 / label_1 must be numbers (1/0, 0/1 or 0.5/0.5), got {l0!r} / {l1!r}",
            file=str(path),
            line=row,
            field="label_0",
        ) from None
    if pair == (1.0, 0.0):
        return "left"
    if pair == (0.0, 1.0):
        return "right"
    if pair == (0.5, 0.5):
        return "tie"
    raise InputError(
        f"label_0 / label_1 must be 1/0, 0/1 or 0.5/0.5 (a tie), got {l0!r} / {l1!r}",
        file=str(path),
        line=row,
        field="label_0",
    )


def iter_pickapic(paths: Sequence[str | os.PathLike], store: ImageStore, batch_rows: int = 64, bar=None):
    """Rows of the converted pair file, one record batch of one parquet file at a time (``line`` in
    errors = the record's 1-based row number in its file)."""
    import pyarrow.parquet as pq

    for path in paths:
        try:
            pf = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises several types for a file that is not parquet
            raise InputError(f"not a readable parquet file ({e})", file=str(path)) from None
        names = set(pf.schema_arrow.names)
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise InputError(
                f"missing Pick-a-Pic column(s) {', '.join(missing)} (expected {', '.join(REQUIRED)}; it has "
                f"{', '.join(sorted(names))})",
                file=str(path),
            )
        file_split = split_from_name(path)
        if "split" not in names and file_split is None:
            raise InputError(
                "no split column, and the file name says neither train, validation nor test: rename the file "
                "(e.g. train-00000.parquet) or add a split column",
                file=str(path),
            )
        columns = [c for c in REQUIRED + OPTIONAL if c in names]
        row = 0
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            cols = batch.to_pydict()
            for i in range(batch.num_rows):
                row += 1
                rec = {c: cols[c][i] for c in columns}
                out = {"user": None, "prompt": rec["caption"]}
                if rec["user_id"] is None:
                    raise InputError("user_id is missing", file=str(path), line=row, field="user_id")
                out["user"] = str(rec["user_id"])
                if not isinstance(rec["caption"], str):
                    raise InputError("caption must be text", file=str(path), line=row, field="caption")
                for side, col in (("left", "jpg_0"), ("right", "jpg_1")):
                    data = rec[col]
                    suffix = image_suffix(data) if isinstance(data, bytes | bytearray) else None
                    if suffix is None:
                        raise InputError(
                            "expected encoded image bytes (JPEG, PNG, WebP or GIF)"
                            + ("" if isinstance(data, bytes | bytearray) else f", got {type(data).__name__}"),
                            file=str(path),
                            line=row,
                            field=col,
                        )
                    out[side] = store.put(bytes(data), suffix)
                out["label"] = _label(rec["label_0"], rec["label_1"], path, row)
                split = rec.get("split") if "split" in columns else file_split
                split = {"valid": "validation", "val": "validation"}.get(split, split)
                if split not in SOURCE_SPLITS:
                    raise InputError(
                        f"split must be one of {', '.join(SOURCE_SPLITS)}, got {split!r}",
                        file=str(path),
                        line=row,
                        field="split",
                    )
                out["source_split"] = split
                for c in ("ranking_id", "image_0_uid", "image_1_uid", "best_image_uid"):
                    if c in columns and rec[c] is not None:
                        out[c] = rec[c]
                yield out
            if bar is not None:
                bar.update(batch.num_rows)


def convert_pickapic(
    paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    progress: bool = False,
    batch_rows: int = 64,
) -> dict:
    """Convert Pick-a-Pic parquet files into ``out_dir/pairs.jsonl`` + ``out_dir/images/``; returns counts.
    The pair file is written atomically (nothing is left if a record is bad); images already under
    ``out_dir/images`` are reused, never rewritten."""
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = ImageStore(out)
    total = 0
    for p in paths:
        try:
            total += pq.ParquetFile(p).metadata.num_rows
        except Exception:
            pass  # iter_pickapic names the unreadable file
    counts: Counter = Counter()
    users: set[str] = set()
    with tqdm(total=total, unit="pair", desc="pick-a-pic", disable=not progress) as bar:

        def rows():
            for r in iter_pickapic(paths, store, batch_rows=batch_rows, bar=bar):
                counts[(r["source_split"], r["label"] == "tie")] += 1
                users.add(r["user"])
                yield r

        n = write_jsonl(out / "pairs.jsonl", rows(), ensure_ascii=False)
    summary = {
        "pairs": n,
        "ties": sum(v for (_, tie), v in counts.items() if tie),
        "by_source_split": {s: sum(v for (sp, _), v in counts.items() if sp == s) for s in SOURCE_SPLITS},
        "users": len(users),
        "images_written": store.written,
        "images_reused": store.reused,
        "files": [str(p) for p in paths],
    }
    write_text(out / "convert-report.json", json.dumps(summary, indent=1) + "\n")
    return summary


def iter_paths(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Parquet files from files and folders (a folder: every ``*.parquet`` in it, sorted)."""
    out = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = sorted(p.glob("*.parquet"))
            if not found:
                raise InputError("folder holds no .parquet files", file=str(p))
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise InputError("no such file or folder", file=str(p))
    return out


def convert_pickapic_inputs(
    inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, progress: bool = False
) -> dict:
    """:func:`convert_pickapic` of the Parquet files among ``inputs`` (files, and folders of them)."""
    return convert_pickapic(iter_paths(inputs), out_dir, progress=progress)


def summary_lines(s: dict, cfg, out_dir: str | os.PathLike, **_) -> list[str]:
    """What ``embedkit convert pick-a-pic`` prints about the counts of :func:`convert_pickapic`."""
    split = ", ".join(f"{k} {v}" for k, v in s["by_source_split"].items())
    return [
        f"wrote {s['pairs']} pairs ({s['ties']} ties; {split}) of {s['users']} users to {out_dir}/pairs.jsonl; "
        f"{s['images_written']} images written, {s['images_reused']} repeats reused"
    ]
