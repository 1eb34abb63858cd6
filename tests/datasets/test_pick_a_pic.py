"""Pick-a-Pic import on small parquet files in the Pick-a-Pic layout."""

import io
import json
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from embedkit.cli.main import cli
from embedkit.datasets.pick_a_pic import convert_pickapic, split_from_name
from embedkit.errors import InputError


def _image_bytes(seed: int, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(60, 200, (8, 8, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format=fmt)
    return buf.getvalue()


def write_pickapic(path, users, n_images=12, tie_every=7, seed=0, with_split=None, row_group_size=16):
    """users: {user_id: pairs}; rows in the Pick-a-Pic layout; every tie_every-th row is a tie."""
    rng = np.random.default_rng(seed)
    images = [_image_bytes(i, "JPEG" if i % 2 else "PNG") for i in range(n_images)]
    rows = defaultdict(list)
    k = 0
    for user, n in users.items():
        for _ in range(n):
            a, b = rng.choice(n_images, 2, replace=False)
            k += 1
            tie = k % tie_every == 0
            left_wins = rng.random() < 0.5
            rows["caption"].append(f"a painting of thing {k % 5}")
            rows["jpg_0"].append(images[a])
            rows["jpg_1"].append(images[b])
            rows["label_0"].append(0.5 if tie else float(left_wins))
            rows["label_1"].append(0.5 if tie else float(not left_wins))
            rows["user_id"].append(user)
            rows["image_0_uid"].append(f"img-{a}")
            rows["image_1_uid"].append(f"img-{b}")
            rows["best_image_uid"].append("" if tie else f"img-{a if left_wins else b}")
            rows["ranking_id"].append(k)
            if with_split:
                rows["split"].append(with_split)
    pq.write_table(pa.table(dict(rows)), path, row_group_size=row_group_size)
    return path


def test_split_from_pickapic_file_names():
    assert split_from_name("train-00000-of-00645-b66ac786bf6fb553.parquet") == "train"
    assert split_from_name("validation_unique-00000-of-00001.parquet") == "validation"
    assert split_from_name("test_unique-00000-of-00001-7a3.parquet") == "test"
    assert split_from_name("data.parquet") is None
    assert split_from_name("contest.parquet") is None  # "test" inside a word is not a split


def test_convert_writes_each_image_once_keeps_ties_and_streams(tmp_path):
    train = write_pickapic(tmp_path / "train-00000.parquet", {101: 20, 102: 9})
    test = write_pickapic(tmp_path / "test_unique-00000.parquet", {101: 5}, seed=1)
    s = convert_pickapic([train, test], tmp_path / "out")
    rows = [json.loads(x) for x in (tmp_path / "out/pairs.jsonl").read_text().splitlines()]
    src = pq.read_table(train).to_pylist() + pq.read_table(test).to_pylist()
    assert len(rows) == s["pairs"] == 34
    assert Counter(r["source_split"] for r in rows) == {"train": 29, "test": 5}
    files = sorted(p for p in (tmp_path / "out/images").rglob("*") if p.is_file())
    assert s["images_written"] == len(files) <= 12 and s["images_reused"] == 2 * 34 - len(files)
    for r, rec in zip(rows, src, strict=True):
        assert r["user"] == str(rec["user_id"]) and r["prompt"] == rec["caption"]
        assert (tmp_path / "out" / r["left"]).read_bytes() == rec["jpg_0"]  # paths relative to pairs.jsonl
        assert (tmp_path / "out" / r["right"]).read_bytes() == rec["jpg_1"]
        want = "tie" if rec["label_0"] == 0.5 else "left" if rec["label_0"] == 1 else "right"
        assert r["label"] == want and r["ranking_id"] == rec["ranking_id"]
    assert s["ties"] == sum(r["label"] == "tie" for r in rows) > 0
    assert {p.suffix for p in files} == {".png", ".jpg"}


def test_convert_errors_name_file_row_and_field_and_leave_nothing(tmp_path):
    bad = write_pickapic(tmp_path / "train.parquet", {1: 20})
    t = pq.read_table(bad).to_pydict()
    t["label_0"][17] = 0.7
    pq.write_table(pa.table(t), bad, row_group_size=8)
    with pytest.raises(InputError) as e:
        convert_pickapic([bad], tmp_path / "out")
    assert e.value.line == 18 and e.value.field == "label_0" and str(bad) in str(e.value)
    assert not (tmp_path / "out/pairs.jsonl").exists()
    t["label_0"][17] = 1.0
    t["jpg_1"][3] = b"not an image"
    pq.write_table(pa.table(t), bad)
    with pytest.raises(InputError, match="image bytes") as e:
        convert_pickapic([bad], tmp_path / "out")
    assert (e.value.line, e.value.field) == (4, "jpg_1")
    nosplit = write_pickapic(tmp_path / "data.parquet", {1: 3})
    with pytest.raises(InputError, match="split column"):
        convert_pickapic([nosplit], tmp_path / "out")
    del t["user_id"]
    pq.write_table(pa.table(t), tmp_path / "test.parquet")
    r = CliRunner().invoke(
        cli, ["convert", "pick-a-pic", str(tmp_path / "test.parquet"), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code != 0 and "user_id" in r.output and "Traceback" not in r.output


def test_split_column_wins_over_the_file_name(tmp_path):
    f = write_pickapic(tmp_path / "train.parquet", {1: 4}, with_split="validation")
    convert_pickapic([f], tmp_path / "out")
    rows = [json.loads(x) for x in (tmp_path / "out/pairs.jsonl").read_text().splitlines()]
    assert {r["source_split"] for r in rows} == {"validation"}
