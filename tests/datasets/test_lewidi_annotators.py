"""A LeWiDi set's annotator metadata (embedkit.datasets.lewidi_annotators): the file found beside the inputs,
and written as a users file with a report. End to end through `convert lewidi`:
tests/datasets/test_lewidi.py::test_the_annotator_metadata_beside_the_inputs_is_written_as_a_users_file."""

import json

import pytest

from embedkit.data.users import read_user_attributes
from embedkit.datasets.lewidi_annotators import find_annotator_meta, write_annotator_meta
from embedkit.errors import InputError


def test_the_metadata_file_beside_the_inputs_is_found(tmp_path):
    inputs = [tmp_path / "CSC_dev.json", tmp_path / "CSC_test.json"]
    assert find_annotator_meta(inputs) is None  # none there
    (tmp_path / "CSC_annotators_meta.json").write_text("{}")
    assert find_annotator_meta(inputs) == (tmp_path / "CSC_annotators_meta.json").resolve()
    (tmp_path / "MD_annotators_meta.json").write_text("{}")  # several: the one sharing the inputs' prefix
    assert find_annotator_meta(inputs).name == "CSC_annotators_meta.json"
    assert find_annotator_meta([tmp_path / "Other_dev.json"]) is None  # several and none matches
    assert find_annotator_meta(inputs, "none") is None and find_annotator_meta(inputs, "NONE") is None
    given = tmp_path / "mine.json"
    given.write_text("{}")
    assert find_annotator_meta(inputs, str(given)) == given
    with pytest.raises(InputError, match="no such file"):
        find_annotator_meta(inputs, str(tmp_path / "missing.json"))


@pytest.mark.parametrize("layout", ["object", "jsonl"])
def test_the_metadata_is_written_as_a_users_file_with_a_report(tmp_path, layout):
    meta = tmp_path / ("meta.json" if layout == "object" else "meta.jsonl")
    records = {"B1": {"Gender": "Female", "Age": "56"}, "B2": {"Gender": "Male", "Age": "31"}}
    if layout == "object":  # CSC's layout: {annotator: {attribute: value}}
        meta.write_text(json.dumps(records, indent=1))
    else:
        meta.write_text("".join(json.dumps({"user": u, **r}) + "\n" for u, r in records.items()))
    out = tmp_path / "pairs.annotators.jsonl"
    report = write_annotator_meta(meta, out, {"B1", "B3", "B4"})
    assert report == {
        "source": str(meta),
        "file": str(out),
        "annotators": 2,
        "columns": {"Gender": "categorical", "Age": "numeric"},
        "annotators_in_pairs_without_metadata": 2,
        "examples_without": ["B3", "B4"],
    }
    users = read_user_attributes(out)
    assert users.users == ["B1", "B2"] and users.get("B2") == {"Gender": "Male", "Age": 31.0}
