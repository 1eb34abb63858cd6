"""Record readers for JSONL, CSV/TSV, Parquet and Hugging Face datasets (``save_to_disk`` folders,
``.arrow`` files, ``Dataset`` objects: see :mod:`embedkit.data.hf`), reporting the file and line of every
problem, and the atomic writers every output file goes through (JSONL, or Parquet by extension).

Each reader yields ``(line, record)``: ``line`` is the 1-based line of a JSONL/CSV file (for Parquet,
the 1-based row), ``record`` a dict, or an :class:`InputError` for a line that cannot be parsed (the
caller decides whether to stop or skip it).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from embedkit.atomic import replacing_file
from embedkit.errors import InputError
from embedkit.faults import armed, crash_point

try:  # a fast JSON codec when installed; the standard library's json is the reference and the fallback
    import orjson
except ImportError:  # pragma: no cover
    orjson = None

SUPPORTED_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
}


def file_format(path: str | os.PathLike) -> str:
    from embedkit.data.hf import folder_format, is_dataset

    if is_dataset(path):
        return "hf-object"
    folder = folder_format(Path(path))
    if folder:
        return folder
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        what = (
            "a folder that is not a Hugging Face dataset (no state.json or dataset_dict.json)"
            if Path(path).is_dir()
            else f"unsupported file type {suffix or '(none)'!r}"
        )
        raise InputError(
            f"{what}; expected one of {', '.join(sorted(SUPPORTED_SUFFIXES))} or a datasets save_to_disk folder",
            file=str(path),
        )
    return SUPPORTED_SUFFIXES[suffix]


def iter_records(path: str | os.PathLike) -> Iterator[tuple[int, dict | InputError]]:
    """Yield ``(line, record_or_error)`` for every non-blank record of a file; a file without any
    record yields one error (``line`` None) saying so."""
    from embedkit.data import hf

    fmt = file_format(path)
    if fmt == "hf-object":
        records = hf.iter_dataset(path, "<Dataset>")
        path = "<Dataset>"
    elif not fmt.startswith("hf-dataset") and not Path(path).is_file():  # a dataset folder is no file
        path = Path(path)
        raise InputError("no such file" if not path.exists() else "not a file", file=str(path))
    elif fmt in ("arrow", "hf-dataset", "hf-dataset-dict"):
        records = hf.iter_dataset(hf.open_dataset(Path(path), fmt), str(path))
    elif fmt == "jsonl":
        records = _iter_jsonl(Path(path))
    elif fmt in ("csv", "tsv"):
        records = _iter_csv(Path(path), delimiter="\t" if fmt == "tsv" else ",")
    else:
        records = _iter_parquet(Path(path))
    empty = True
    for item in records:
        empty = False
        yield item
    if empty:
        yield None, InputError("no records found (empty file?)", file=str(path))


def _decode(raw: bytes, path: Path, line_no: int) -> str | InputError:
    """One line's bytes as text, or an error naming the line and the byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return InputError(
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}: {e.reason})",
            file=str(path),
            line=line_no,
        )


def _iter_jsonl(path: Path):
    # Bytes line by line, each decoded on its own: a bad byte spoils its own line and no other, and the error
    # names that line (a text-mode file decodes 8 KB at a time, so its error would stop the read mid-file).
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            line = _decode(raw, path, line_no)
            if isinstance(line, InputError):
                yield line_no, line
                continue
            try:
                obj = _fast_loads(line)
            except ValueError:  # orjson's view differs (NaN, huge ints) or the line is bad: json decides
                obj = None
            try:
                if obj is None:
                    obj = json.loads(
                        line.rstrip("\r\n")
                    )  # an error at the end of the line is at its last column
            except json.JSONDecodeError as e:
                end = ", the end of the line" if e.pos >= len(line.rstrip("\r\n")) else ""
                yield (
                    line_no,
                    InputError(
                        f"malformed JSON ({e.msg.removesuffix(' at')} at column {e.pos + 1}{end})",
                        file=str(path),
                        line=line_no,
                    ),
                )
                continue
            if not isinstance(obj, dict):
                yield (
                    line_no,
                    InputError(
                        f"expected a JSON object, found {type(obj).__name__}", file=str(path), line=line_no
                    ),
                )
                continue
            yield line_no, obj


def _fast_loads(line: str):
    if orjson is None:
        raise ValueError("no orjson")
    return orjson.loads(line)


class _DecodedLines:
    """The lines of a binary file as text for :mod:`csv`, each decoded on its own; a line that is not
    UTF-8 is handed on with its bad bytes escaped (``surrogateescape``) and its number remembered in
    ``bad``, so the record it belongs to can be reported and skipped while every other record is read."""

    def __init__(self, fh, path: Path):
        self.fh = fh
        self.path = path
        self.line = 0
        self.bad: dict[int, InputError] = {}

    def __iter__(self):
        return self

    def __next__(self) -> str:
        raw = next(self.fh)
        self.line += 1
        text = _decode(raw, self.path, self.line)
        if isinstance(text, InputError):
            self.bad[self.line] = text
            return raw.decode("utf-8", errors="surrogateescape")
        return text


def _iter_csv(path: Path, delimiter: str):
    with open(path, "rb") as fh:
        lines = _DecodedLines(fh, path)
        reader = csv.DictReader(lines, delimiter=delimiter)
        first = 1  # the first physical line of the record being read
        try:
            if reader.fieldnames is not None and lines.bad:  # the header itself: nothing can be read
                raise next(iter(lines.bad.values()))
            for row in reader:
                line = reader.line_num  # the last physical line of this record
                bad = [lines.bad.pop(n) for n in range(first, line + 1) if n in lines.bad]
                first = line + 1
                if bad:
                    yield line, InputError(bad[0].reason, file=str(path), line=line)
                    continue
                if None in row:
                    yield (
                        line,
                        InputError(
                            f"{len(row[None]) + len(reader.fieldnames)} columns, header has "
                            f"{len(reader.fieldnames)}",
                            file=str(path),
                            line=line,
                        ),
                    )
                    continue
                missing = [k for k, v in row.items() if v is None]
                if missing:
                    yield (
                        line,
                        InputError(
                            f"row has {len(row) - len(missing)} columns, header has {len(row)}",
                            file=str(path),
                            line=line,
                        ),
                    )
                    continue
                yield line, row
        except csv.Error as e:
            raise InputError(f"malformed CSV ({e})", file=str(path), line=lines.line) from e


def _iter_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise InputError(f"not a readable Parquet file ({e})", file=str(path)) from e
    row = 0
    for group in range(pf.num_row_groups):  # a damaged row group spoils its own rows and no others
        n = pf.metadata.row_group(group).num_rows
        try:
            recs = pf.read_row_group(group).to_pylist()
        except Exception as e:  # pyarrow raises several types for damaged data
            yield (
                row + 1,
                InputError(
                    f"rows {row + 1}-{row + n} (row group {group}) cannot be read ({e})",
                    file=str(path),
                    line=row + 1,
                ),
            )
            row += n
            continue
        for rec in recs:
            row += 1
            yield row, rec


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict], ensure_ascii: bool = True) -> int:
    """Write ``rows`` as JSON lines atomically (``embedkit.atomic.replacing_file``): a temporary file
    synced and renamed into place, removed if any row fails, so a reader never sees half a file. Returns
    the number of rows."""
    n = 0
    fast = orjson is not None and not ensure_ascii  # orjson writes UTF-8 as is (and NaN as null)
    opts = (orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE) if fast else 0
    watch = armed("file-rows")
    with replacing_file(path) as tmp, open(tmp, "wb") as fh:
        for r in rows:
            try:
                line = orjson.dumps(r, option=opts) if fast else None
            except TypeError:  # a type orjson does not know: let json say what it thinks
                line = None
            fh.write(line or (json.dumps(r, ensure_ascii=ensure_ascii) + "\n").encode("utf-8"))
            n += 1
            if watch:
                fh.flush()
                crash_point("file-rows")
    return n


def write_records(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """JSONL (default) or Parquet (``.parquet`` / ``.pq``), atomically: a temporary file renamed into place."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq"):
        write_jsonl(path, records, ensure_ascii=False)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    with replacing_file(path) as tmp:
        try:
            batch: list[dict] = []
            for rec in records:
                batch.append(rec)
                if len(batch) >= 10_000:
                    writer = _write_batch(pq, pa, tmp, writer, batch)
                    batch = []
            if batch or writer is None:
                writer = _write_batch(pq, pa, tmp, writer, batch)
        finally:
            if writer is not None:
                writer.close()
    return path


def _write_batch(pq, pa, tmp, writer, batch):
    table = pa.Table.from_pylist(batch)
    if writer is None:
        writer = pq.ParquetWriter(tmp, table.schema)
    elif table.schema != writer.schema:
        table = table.cast(writer.schema)
    writer.write_table(table)
    crash_point("file-rows")
    return writer


def require_text(record: dict, name: str, path: str, line: int) -> str:
    """The non-empty string in ``record[name]``, or an :class:`InputError` naming file, line and field."""
    if name not in record:
        raise InputError(
            f"missing field (fields present: {', '.join(sorted(map(str, record))) or 'none'})",
            file=path,
            line=line,
            field=name,
        )
    value = record[name]
    if not isinstance(value, str):
        raise InputError(
            f"expected a non-empty string, found {type(value).__name__} {value!r:.40}",
            file=path,
            line=line,
            field=name,
        )
    if not value.strip():
        raise InputError("expected a non-empty string, found an empty one", file=path, line=line, field=name)
    return value
