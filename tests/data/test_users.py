"""Users files (embedkit.data.users): each format, missing values, bad rows with file/line/field, and the
attribute encoder's round trip."""

import json

import numpy as np
import pytest

from embedkit.data.users import AttributeEncoder, UserAttributes, coerce, read_user_attributes
from embedkit.errors import InputError

ROWS = [
    {"user": "u1", "gender": "Female", "age": "56", "groups": ["a", "b"]},
    {"user": "u2", "gender": "Male", "age": 34, "groups": ["b"]},
    {"user": "u3", "gender": "DATA_EXPIRED", "age": "nan", "groups": []},
    {"user": "u4", "gender": None, "age": "", "groups": None},
    {"user": 5, "gender": "Female", "age": 29.0, "groups": ["a"]},
]
EXPECTED = {
    "u1": {"gender": "Female", "age": 56.0, "groups": ("a", "b")},
    "u2": {"gender": "Male", "age": 34.0, "groups": ("b",)},
    "u3": {"gender": None, "age": None, "groups": None},
    "u4": {"gender": None, "age": None, "groups": None},
    "5": {"gender": "Female", "age": 29.0, "groups": ("a",)},
}


def _check(attrs):
    assert attrs.kinds == {"gender": "categorical", "age": "numeric", "groups": "multi"}
    assert attrs.users == list(EXPECTED)
    for u, want in EXPECTED.items():
        assert attrs.get(u) == want, u


def test_jsonl_csv_parquet_and_a_dataset_folder_read_alike(tmp_path, write_jsonl):
    _check(read_user_attributes(write_jsonl("users.jsonl", ROWS)))
    csv = tmp_path / "users.csv"
    lines = ["user,gender,age,groups"] + [
        f'{r["user"]},{r["gender"] or ""},{r["age"]},"{json.dumps(r["groups"]).replace(chr(34), chr(34) * 2) if r["groups"] is not None else ""}"'
        for r in ROWS
    ]
    csv.write_text("\n".join(lines) + "\n")
    _check(read_user_attributes(csv))
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "user": [str(r["user"]) for r in ROWS],
            "gender": [r["gender"] for r in ROWS],
            "age": [str(r["age"]) for r in ROWS],
            "groups": [r["groups"] for r in ROWS],
        }
    )
    pq.write_table(table, tmp_path / "users.parquet")
    _check(read_user_attributes(tmp_path / "users.parquet"))
    datasets = pytest.importorskip("datasets")
    datasets.Dataset(table).save_to_disk(str(tmp_path / "users_ds"))
    _check(read_user_attributes(tmp_path / "users_ds"))


def test_a_json_object_keyed_by_user_id_as_lewidi_ships_it(tmp_path):
    meta = {
        "Ann0": {"Gender": "Female", "Age": "56"},
        "Ann1": {"Gender": "nan", "Age": "CONSENT_REVOKED"},
        "Ann2": {"Gender": "Male", "Age": "23"},
    }
    p = tmp_path / "CSC_annotators_meta.json"
    p.write_text(json.dumps(meta, indent=1))
    attrs = read_user_attributes(p)
    assert attrs.kinds == {"Gender": "categorical", "Age": "numeric"}
    assert attrs.get("Ann1") == {"Gender": None, "Age": None}
    assert attrs.lines == [2, 6, 10]  # the line of each user's key


@pytest.mark.parametrize(
    "rows, line, field, words",
    [
        (
            [{"user": "a", "x": 1}, {"user": "a", "x": 2}],
            2,
            "user",
            "duplicate user id 'a' (first at line 1)",
        ),
        ([{"user": "a", "x": 1}, {"x": 2}], 2, "user", "expected a user id"),
        ([{"user": "a", "x": [1]}, {"user": "b", "x": 2}], 2, "x", "expected a list (as at line 1)"),
        ([{"user": "a", "x": 3}, {"user": "b", "x": ["p"]}], 2, "x", "expected a scalar (as at line 1)"),
        ([{"user": "a", "x": {"nested": 1}}], 1, "x", "expected a value or a list of values"),
        ([{"user": "a", "x": [[1]]}], 1, "x", "expected a list of strings or numbers"),
    ],
)
def test_bad_rows_name_file_line_and_field(write_jsonl, rows, line, field, words):
    p = write_jsonl("bad.jsonl", rows)
    with pytest.raises(InputError) as e:
        read_user_attributes(p)
    assert (e.value.file, e.value.line, e.value.field) == (str(p), line, field)
    assert words in str(e.value), str(e.value)


def test_another_id_column_and_a_malformed_line(write_jsonl):
    p = write_jsonl("users.jsonl", [{"annotator": "a", "x": "p"}])
    assert read_user_attributes(p, id_field="annotator").users == ["a"]
    bad = write_jsonl("broken.jsonl", [{"user": "a"}], raw_lines=['{"user": "b", '])
    with pytest.raises(InputError, match="broken.jsonl:2: malformed JSON"):
        read_user_attributes(bad)


def test_numbers_mixed_with_words_are_categories():
    attrs = UserAttributes.from_records({"a": {"age": "56"}, "b": {"age": "60+"}, "c": {"age": 30}})
    assert attrs.kinds == {"age": "categorical"} and attrs.get("c") == {"age": "30"}


def test_the_encoder_one_hots_standardises_multi_hots_and_round_trips():
    recs = {
        f"u{i}": {"g": "F" if i % 2 else "M", "age": 20 + i, "tags": ["x"] if i < 6 else ["x", "y"]}
        for i in range(10)
    }
    recs["rare"] = {"g": "X", "age": None, "tags": ["z"]}  # X and z on one user: below min_count
    attrs = UserAttributes.from_records(recs)
    enc = AttributeEncoder.fit(attrs, min_count=2)
    assert enc.feature_names() == ["g=F", "g=M", "age", "tags=x", "tags=y"]
    X, has = enc.transform(attrs, ["u1", "u8", "rare", "nobody"])
    ages = np.arange(20, 30, dtype=float)
    np.testing.assert_allclose(X[0], [1, 0, (21 - ages.mean()) / ages.std(), 1, 0], rtol=1e-6)
    np.testing.assert_allclose(X[1], [0, 1, (28 - ages.mean()) / ages.std(), 1, 1], rtol=1e-6)
    np.testing.assert_array_equal(X[2], 0)  # a rare value and a missing age are no evidence: zeros
    np.testing.assert_array_equal(X[3], 0)
    assert has.tolist() == [True, True, True, False]
    back = AttributeEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    np.testing.assert_array_equal(back.transform(attrs, ["u1", "u8", "rare"])[0], X[:3])
    with pytest.raises(ValueError, match=r"columns\[0\]"):
        AttributeEncoder.from_dict({"columns": [{"name": "age", "kind": "numeric", "mean": 1, "std": 0}]})


def test_attributes_given_in_memory_take_the_encoders_kinds():
    kinds = {"g": "categorical", "age": "numeric", "tags": "multi"}
    assert coerce({"g": 1, "age": "60", "tags": "x", "other": 3}, kinds) == {
        "g": "1",
        "age": 60.0,
        "tags": ("x",),
    }
    assert coerce({}, kinds) == {"g": None, "age": None, "tags": None}
    with pytest.raises(InputError, match="field 'age': expected a number"):
        coerce({"age": "old"}, kinds)
