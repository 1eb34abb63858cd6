import h5py
import numpy as np
import pytest

from embedkit.cache.keys import text_key, text_keys
from embedkit.cache.shards import Shard, content_sha256, write_shard
from embedkit.errors import CorruptShardError
from embedkit.fingerprint import Fingerprint
from tests.conftest import random_rows


def fp(dim=8, dtype="float16", **kw):
    base = dict(
        encoder="fake",
        model="m",
        weights="none",
        layer="pooled",
        pooling="mean",
        normalized=False,
        dim=dim,
        dtype=dtype,
    )
    base.update(kw)
    return Fingerprint(**base)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip_is_bitwise(tmp_path, dtype):
    keys = text_keys([f"t{i}" for i in range(100)])
    emb = random_rows(100, 8)
    info = write_shard(tmp_path / "s.h5", keys, emb, fp(dtype=dtype))
    shard = Shard(tmp_path / "s.h5", expected=info)
    stored = emb.astype(dtype)
    assert shard.read_all().tobytes() == stored.tobytes()
    assert shard.embeddings[[5, 3, 99]].tobytes() == stored[[5, 3, 99]].tobytes()
    assert (shard.read_keys() == keys).all()
    shard.verify()


def test_plain_h5py_can_read_a_shard(tmp_path):
    keys = text_keys(["a", "b"])
    emb = random_rows(2, 8)
    write_shard(tmp_path / "s.h5", keys, emb, fp())
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["embeddings"].dtype == np.float16 and f["embeddings"].chunks is None
        assert f["embeddings"].compression is None
        assert f["keys"][0].decode() == text_key("a")
        assert f.attrs["rows"] == 2 and f.attrs["dim"] == 8 and f.attrs["fp_encoder"] == "fake"
        assert Fingerprint.from_json(f.attrs["fingerprint"]) == fp()
        assert f.attrs["content_sha256"] == content_sha256(keys, emb.astype(np.float16))
        assert "created_at" in f.attrs and f.attrs["schema_version"] == 1


def test_write_leaves_no_temporary_file_on_error(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_shard(tmp_path / "s.h5", text_keys(["a"]), np.array([[np.nan] * 8], np.float32), fp())
    with pytest.raises(ValueError, match="overflow float16"):
        write_shard(tmp_path / "s.h5", text_keys(["a"]), np.full((1, 8), 1e6, np.float32), fp())
    with pytest.raises(ValueError, match="do not match"):
        write_shard(tmp_path / "s.h5", text_keys(["a"]), random_rows(2, 8), fp())
    assert list(tmp_path.iterdir()) == []


def _write(tmp_path, n=50):
    info = write_shard(tmp_path / "s.h5", text_keys([f"t{i}" for i in range(n)]), random_rows(n, 8), fp())
    return tmp_path / "s.h5", info


def test_truncated_shard_is_detected(tmp_path):
    path, info = _write(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 300])
    with pytest.raises(CorruptShardError, match="s.h5"):
        Shard(path, expected=info)


def test_flipped_bytes_fail_the_checksum(tmp_path):
    path, info = _write(tmp_path)
    shard = Shard(path, expected=info)
    with open(path, "r+b") as fh:
        fh.seek(shard._offset + 10)
        fh.write(b"\x7f\x7f")
    shard = Shard(path, expected=info)  # structure is intact
    with pytest.raises(CorruptShardError, match="bad checksum"):
        shard.verify()


def test_missing_attribute_and_wrong_shape_are_detected(tmp_path):
    path, info = _write(tmp_path)
    with h5py.File(path, "a") as f:
        del f.attrs["content_sha256"]
    with pytest.raises(CorruptShardError, match="missing attributes"):
        Shard(path)
    path, info = _write(tmp_path)
    with h5py.File(path, "a") as f:
        f.attrs["rows"] = 51
    with pytest.raises(CorruptShardError, match="shape"):
        Shard(path)


def test_not_an_hdf5_file(tmp_path):
    (tmp_path / "s.h5").write_bytes(b"garbage" * 100)
    with pytest.raises(CorruptShardError, match="cannot be read"):
        Shard(tmp_path / "s.h5")


def test_fingerprint_namespace_is_stable_and_distinct():
    assert fp().namespace == fp().namespace
    assert fp().namespace.startswith("fake-")
    assert (
        len(
            {
                fp().namespace,
                fp(layer="hidden:-2").namespace,
                fp(dtype="float32").namespace,
                fp(normalized=True).namespace,
                fp(weights="sha256:1").namespace,
            }
        )
        == 5
    )
