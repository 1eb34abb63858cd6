"""The readers decode a file line by line: a byte that is not UTF-8 spoils its own line (named in the error)
and no other, so ``--skip-bad`` skips exactly the bad rows and keeps every good one, in JSONL and CSV."""

import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedkit.data.items import collect_texts
from embedkit.data.readers import iter_records
from embedkit.errors import InputError

BAD_BYTES = [b"\xff", b"\xc3", b"\x80", b"\xe2\x82", b"\xed\xa0\x80"]  # stray, cut-off, surrogate


def _jsonl(n: int, bad: dict[int, bytes]) -> bytes:
    """``n`` JSON lines of text; line ``i`` (1-based) in ``bad`` gets that byte inside its text."""
    out = []
    for i in range(1, n + 1):
        line = json.dumps({"text": f"text number {i}"}).encode()
        if i in bad:
            line = line[:10] + bad[i] + line[10:]
        out.append(line + b"\n")
    return b"".join(out)


def _csv(n: int, bad: dict[int, bytes], multiline_every: int = 0) -> tuple[bytes, dict[int, int]]:
    """A CSV with a header and ``n`` rows (some spanning two lines inside quotes); returns the bytes and,
    for each row, the physical line it ends on. A row whose number is in ``bad`` gets that byte."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "text"])
    ends, line = {}, 1
    for i in range(1, n + 1):
        text = f"text number {i}" + ("\nsecond line" if multiline_every and i % multiline_every == 0 else "")
        w.writerow([i, text.replace("number", "number\x00MARK")])
        line += text.count("\n") + 1
        ends[i] = line
    data = buf.getvalue().encode()
    parts = data.split(b"\x00MARK")
    out = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        out += bad.get(i, b"") + part
    return out, ends


def test_jsonl_bad_byte_mid_file_names_its_line_and_skip_bad_keeps_every_other_row(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(_jsonl(10_000, {5000: b"\xff"}))
    with pytest.raises(InputError, match=r"t\.jsonl:5000: not valid UTF-8 \(byte 0xff at column 11"):
        collect_texts([p])
    items = collect_texts([p], skip_bad=True)
    assert items.records == 9_999 and len(items.bad) == 1 and items.bad[0].line == 5000
    assert "text number 10000" in set(items.texts) and "text number 4999" in set(items.texts)


def test_csv_bad_byte_names_its_line_and_skip_bad_keeps_every_other_row(tmp_path):
    data, ends = _csv(3000, {1500: b"\xff"}, multiline_every=7)
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    with pytest.raises(InputError, match=rf"t\.csv:{ends[1500]}: not valid UTF-8"):
        collect_texts([p])
    items = collect_texts([p], skip_bad=True)
    assert items.records == 2999 and [e.line for e in items.bad] == [ends[1500]]


def test_csv_bad_header_is_refused_whole(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(b"id,te\xffxt\n1,hello\n")
    with pytest.raises(InputError, match=r"t\.csv:1: not valid UTF-8"):
        list(iter_records(p))


def test_malformed_json_message_reads_once(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_bytes(b'{"text": "unterminated\n')
    ((_, err),) = list(iter_records(p))
    assert "starting at column" in str(err) and "at at" not in str(err)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 300),
    picks=st.lists(st.tuples(st.integers(1, 300), st.sampled_from(BAD_BYTES)), max_size=6),
    fmt=st.sampled_from(["jsonl", "csv"]),
)
def test_random_bad_bytes_at_random_lines(tmp_path, n, picks, fmt):
    """Random bytes that are not UTF-8 at random rows: without --skip-bad the first bad row is the error;
    with it exactly the bad rows are skipped (named by line) and every good row is read."""
    bad = {i: b for i, b in picks if i <= n}
    if fmt == "jsonl":
        data, ends = _jsonl(n, bad), {i: i for i in range(1, n + 1)}
    else:
        data, ends = _csv(n, bad, multiline_every=5)
    p = tmp_path / f"t.{fmt}"
    p.write_bytes(data)
    if bad:
        with pytest.raises(InputError) as e:
            collect_texts([p])
        assert e.value.line == ends[min(bad)] and "not valid UTF-8" in str(e.value)
    items = collect_texts([p], skip_bad=True)
    assert sorted(e.line for e in items.bad) == sorted(ends[i] for i in bad)
    assert items.records == n - len(bad)
    kept = {t.replace("\nsecond line", "") for t in items.texts}
    assert kept == {f"text number {i}" for i in range(1, n + 1) if i not in bad}


def test_parquet_damaged_row_group_spoils_only_its_rows(tmp_path):
    """A Parquet file whose second row group is damaged: the error names its rows; with --skip-bad the
    other row groups' rows are all read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": [f"text number {i}" for i in range(1, 31)]}), p, row_group_size=10)
    data = bytearray(p.read_bytes())
    start = pq.ParquetFile(p).metadata.row_group(1).column(0).data_page_offset
    data[start + 5 : start + 40] = b"\xff" * 35
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"t\.parquet:11: rows 11-20 \(row group 1\) cannot be read"):
        collect_texts([p])
    items = collect_texts([p], skip_bad=True)
    assert items.records == 20 and set(items.texts) == {
        f"text number {i}" for i in [*range(1, 11), *range(21, 31)]
    }
