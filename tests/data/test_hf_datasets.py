"""Hugging Face datasets as inputs: save_to_disk folders (Dataset and DatasetDict with --split), .arrow
files, and Dataset objects in the Python API, with the same errors as files (folder, row, field)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from tests.cli.test_new_user import own_pairs

datasets = pytest.importorskip("datasets")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    rows = own_pairs(n_users=6, per_user=20)
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(str(root / "pairs"))
    n = len(ds)
    datasets.DatasetDict(
        {"train": ds.select(range(n // 2)), "test": ds.select(range(n // 2, n))}
    ).save_to_disk(str(root / "dict"))
    return root, rows, ds


def test_commands_read_a_save_to_disk_folder(saved, tmp_path):
    root, rows, _ = saved
    r = run("extract", root / "pairs", "--cache", tmp_path / "c", "--encoder", "fake", "--no-progress")
    assert r.exit_code == 0, r.output
    r = run("fit-head", "--model", "pal-b", "--K", 2, "--pairs", root / "pairs", "--cache", tmp_path / "c",
            "--encoder", "fake", "--out", tmp_path / "h", "--hidden-dim", 16, "--epochs", 2, "--no-progress")  # fmt: skip
    assert r.exit_code == 0, r.output
    setup = json.loads((tmp_path / "h/config.json").read_text())["data_setup"]
    assert setup["pairs"][0]["rows"] == len(rows) and len(setup["pairs"][0]["sha256"]) == 64
    r = run("eval", tmp_path / "h", "--pairs", root / "pairs", "--cache", tmp_path / "c", "--json")
    assert r.exit_code == 0, r.output
    out = tmp_path / "scored.jsonl"
    r = run(
        "score",
        tmp_path / "h",
        "--cache",
        tmp_path / "c",
        "--pairs",
        root / "pairs",
        "--out",
        out,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert len(out.read_text().splitlines()) == len(rows)


def test_a_dataset_dict_needs_a_split_and_the_arrow_file_reads_alone(saved, tmp_path):
    root, rows, _ = saved
    r = run("extract", root / "dict", "--cache", tmp_path / "c", "--encoder", "fake", "--no-progress")
    assert r.exit_code != 0 and "splits train, test" in r.output and "--split" in r.output
    assert not (tmp_path / "c").exists()  # nothing written
    r = run("extract", root / "dict", "--split", "nope", "--cache", tmp_path / "c", "--encoder", "fake")
    assert r.exit_code != 0 and "no split 'nope'" in r.output
    for args in ((root / "dict", "--split", "train"), (root / "dict/test",)):
        r = run("extract", *args, "--cache", tmp_path / "c", "--encoder", "fake", "--no-progress")
        assert r.exit_code == 0, r.output
    (arrow,) = (root / "pairs").glob("*.arrow")
    r = run("extract", arrow, "--cache", tmp_path / "c2", "--encoder", "fake", "--no-progress")
    assert r.exit_code == 0, r.output
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run(
        "extract", tmp_path / "pairs.jsonl", "--cache", tmp_path / "c3", "--encoder", "fake", "--no-progress"
    )
    assert r.exit_code == 0, r.output
    from embedkit.cache.store import EmbeddingCache

    keys = [set(EmbeddingCache(tmp_path / c).namespace(encoder="fake").keys.tolist()) for c in ("c2", "c3")]
    assert keys[0] == keys[1] and len(keys[0]) > 0  # the .arrow file holds the same texts as the JSONL


def test_a_bad_row_is_named_by_folder_row_and_field(tmp_path):
    rows = own_pairs(n_users=2, per_user=5)
    rows[3] = {k: v for k, v in rows[3].items() if k != "prompt"} | {"prompt": None}
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "bad"))
    r = run("extract", tmp_path / "bad", "--cache", tmp_path / "c", "--encoder", "fake", "--no-progress")
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert f"{tmp_path / 'bad'}:4" in r.output and "'prompt'" in r.output, r.output
    assert not (tmp_path / "c").exists()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/notes.txt").write_text("hi")
    r = run(
        "fit-head",
        "--model",
        "bt",
        "--pairs",
        tmp_path / "plain",
        "--cache",
        tmp_path / "c",
        "--out",
        tmp_path / "h",
    )
    assert r.exit_code != 0 and "not a Hugging Face dataset" in r.output, r.output


def test_the_python_api_takes_dataset_objects(saved, tmp_path):
    from embedkit import load_reward_model
    from embedkit.extract import extract_files
    from embedkit.heads import create_head, load_pair_data
    from embedkit.score.files import score_pairs_file

    _, rows, ds = saved
    extract_files([ds], tmp_path / "c", "fake", progress=False)
    data = load_pair_data(ds, tmp_path / "c", encoder="fake")
    assert len(data) == len(rows)
    from_file = tmp_path / "pairs.jsonl"
    from_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    same = load_pair_data([from_file], tmp_path / "c", encoder="fake")
    assert np.array_equal(data.X[data.a], same.X[same.a]) and np.array_equal(data.y, same.y)
    create_head("bt", hidden_dim=8, epochs=1, device="cpu").fit(data, progress=False).save(tmp_path / "h")
    summary, _ = score_pairs_file(
        load_reward_model(tmp_path / "h", cache=tmp_path / "c"), [ds.select(range(10))], tmp_path / "s.jsonl"
    )
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 10
    with pytest.raises(Exception, match="DatasetDict"):
        load_pair_data(datasets.DatasetDict({"train": ds}), tmp_path / "c", encoder="fake")
