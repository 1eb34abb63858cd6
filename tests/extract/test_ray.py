"""`embedkit extract --ray`: a local Ray with CPU workers gives exactly the single-node result, and
survives a worker killed mid-run."""

import logging
import re

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache.manifest import Manifest
from embedkit.cache.store import EmbeddingCache
from embedkit.data.items import collect_items
from embedkit.encoders.registry import create_encoder
from embedkit.extract import extract
from embedkit.faults import ENV, ONCE_ENV
from tests.conftest import make_image

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    texts = d / "texts.jsonl"
    texts.write_text(
        "".join(f'{{"text": "statement {i} {"x" * (i % 11)}"}}\n' for i in range(130))
        + '{"text": "statement 3 xxx"}\n'
    )
    for i, color in enumerate([(200, 30, 30), (30, 30, 200), (30, 200, 30)]):
        make_image(d / "img" / f"{i}.png", color=color, seed=i)
    make_image(d / "img" / "copy.png", color=(200, 30, 30), seed=0)  # same bytes as 0.png: one item
    return [str(texts), str(d / "img")]


def _contents(root):
    keys, mat = EmbeddingCache(root).namespace(encoder="fake").load()
    assert len(np.unique(keys)) == len(keys), "an item is stored twice"
    return {k: row.tobytes() for k, row in zip(keys.tolist(), mat, strict=True)}


@pytest.fixture(scope="module")
def single_node(inputs, tmp_path_factory):
    root = tmp_path_factory.mktemp("single")
    extract(collect_items(inputs), root, create_encoder("fake"), batch_size=4, shard_size=12, progress=False)
    return _contents(root)


def test_ray_extract_equals_single_node_with_one_manifest_commit(
    local_ray, inputs, single_node, tmp_path, monkeypatch
):
    from embedkit.extract.ray import extract_ray

    saves = []
    real_save = Manifest.save
    monkeypatch.setattr(Manifest, "save", lambda self, root: (saves.append(1), real_save(self, root)))
    r = extract_ray(
        collect_items(inputs), tmp_path, "fake", workers=2, batch_size=4, shard_size=12, progress=False
    )
    assert len(saves) == 1  # workers write shards, the driver records them all at once
    assert r.encoded == len(single_node) == 133 and r.images == 3 and r.shards_written == 13
    assert _contents(tmp_path) == single_node  # same keys, same vectors, nothing twice
    files = [s.file for s in EmbeddingCache(tmp_path).manifest().namespaces[r.namespace].shards]
    assert all(re.fullmatch(r"shard-[A-Za-z0-9-]+-\d+-[0-9a-f]{6}-\d{6}\.h5", f) for f in files), files
    assert EmbeddingCache(tmp_path).verify() == []

    again = extract_ray(collect_items(inputs), tmp_path, "fake", workers=2, progress=False)
    assert again.encoded == 0 and again.cached_before == 133  # filtered before any encoding


def test_ray_reads_large_inputs_in_windows_it_lets_go_of(
    local_ray, inputs, single_node, tmp_path, monkeypatch
):
    """Windows of 40 items: the driver holds one at a time (what it hands Ray waits in the object
    store), a text repeated in a later window is encoded once, and it is still one manifest commit."""
    from embedkit.data.items import iter_item_windows
    from embedkit.extract.ray import extract_ray
    from tests.conftest import windows_freed_as_they_go

    some = tmp_path / "some.jsonl"  # 20 of the texts, cached before the run: counted once, not encoded
    some.write_text("".join(open(inputs[0]).readlines()[:120:6]))
    extract(collect_items([some]), tmp_path, create_encoder("fake"), progress=False)
    saves = []
    real_save = Manifest.save
    monkeypatch.setattr(Manifest, "save", lambda self, root: (saves.append(1), real_save(self, root)))
    windows = windows_freed_as_they_go(iter_item_windows(inputs, window=40))
    r = extract_ray(windows, tmp_path, "fake", workers=2, batch_size=4, shard_size=12, progress=False)
    assert len(saves) == 1
    assert (r.items, r.texts, r.images, r.occurrences, r.cached_before, r.encoded) == (
        133,
        130,
        3,
        135,
        20,
        113,
    )
    assert _contents(tmp_path) == single_node
    again = extract_ray(iter_item_windows(inputs, window=40), tmp_path, "fake", progress=False)
    assert (again.items, again.cached_before, again.encoded) == (133, 133, 0)


@pytest.mark.parametrize("point", ["shard-data", "ray-shard"])
def test_a_worker_killed_mid_run_costs_nothing(local_ray, inputs, single_node, tmp_path, monkeypatch, point):
    """Killed mid-shard-write (a temporary file) or after writing a shard it never reported (a complete
    orphan whose batch Ray retries): the run still ends with exactly the single-node result."""
    from embedkit.extract.ray import extract_ray

    monkeypatch.setenv(ENV, f"{point}:2")
    monkeypatch.setenv(ONCE_ENV, str(tmp_path / "killed-one"))
    root = tmp_path / "cache"
    r = extract_ray(
        collect_items(inputs), root, "fake", workers=2, batch_size=4, shard_size=12, progress=False
    )
    assert (tmp_path / "killed-one").exists()  # a worker did die
    assert r.encoded == 133
    assert _contents(root) == single_node
    assert EmbeddingCache(root).verify() == []  # its temporary file and unreported copy are gone


def test_cli_ray_flag(local_ray, inputs, tmp_path, single_node):
    from embedkit.cli.main import cli

    out = CliRunner().invoke(
        cli,
        [
            "extract",
            *inputs,
            "--encoder",
            "fake",
            "--cache",
            str(tmp_path),
            "--shard-size",
            "12",
            "--no-progress",
            "--ray",
            "--ray-workers",
            "2",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "133 unique" in out.output and "133 encoded" in out.output
    assert _contents(tmp_path) == single_node
    out = CliRunner().invoke(
        cli, ["extract", "--ray", inputs[0], "--encoder", "fake", "--cache", str(tmp_path)]
    )
    assert out.exit_code == 2 and "put --ray after the inputs" in out.output


@pytest.mark.slow
def test_open_clip_images_and_texts_on_ray_equal_single_node(
    local_ray, inputs, tiny_clip_checkpoint, tmp_path
):
    """A real open_clip architecture (random ViT-S-32 from a checkpoint), built once per actor: texts go
    through its text tower and images through its image tower as on one node, and the cached vectors
    agree within float16 rounding."""
    from embedkit.extract.ray import extract_ray

    spec = f"open_clip:ViT-S-32:{tiny_clip_checkpoint}"
    texts = inputs[0].replace("texts.jsonl", "few.jsonl")
    with open(texts, "w") as fh:
        fh.writelines(f'{{"text": "a photo of thing {i}"}}\n' for i in range(10))
    items = [texts, inputs[1]]
    extract(collect_items(items), tmp_path / "one", create_encoder(spec, device="cpu"), progress=False)
    r = extract_ray(collect_items(items), tmp_path / "ray", spec, {"device": "cpu"}, workers=1, shard_size=8,
                    progress=False)  # fmt: skip
    assert (r.encoded, r.texts, r.images, r.shards_written) == (13, 10, 3, 3)  # 8 texts | 2 texts, 3 images
    one = EmbeddingCache(tmp_path / "one").namespace(r.fingerprint, strict=True)
    ray_ns = EmbeddingCache(tmp_path / "ray").namespace(r.fingerprint, strict=True)
    assert sorted(one.keys.tolist()) == sorted(ray_ns.keys.tolist())
    a, b = one.get(one.keys, dtype=np.float32), ray_ns.get(one.keys, dtype=np.float32)
    assert np.all(np.abs(a - b) <= 2**-10 * np.abs(a) + 1e-6), float(np.abs(a - b).max())


class _Cluster:
    """Stands in for the ``ray`` module where only the cluster's resources matter."""

    def __init__(self, **resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


def test_one_worker_per_gpu_else_one_per_four_cpus():
    from embedkit.extract.ray import _gpus_per_worker, default_workers

    gpus = _Cluster(CPU=64, GPU=8)
    assert default_workers(gpus) == 8 and _gpus_per_worker(gpus, "auto") == 1
    assert default_workers(gpus, "cpu") == 16 and _gpus_per_worker(gpus, "cpu") == 0  # --device cpu
    cpus = _Cluster(CPU=2)
    assert default_workers(cpus) == 1 and _gpus_per_worker(cpus, "auto") == 0
    from embedkit.cli.main import cli

    argv = [
        "extract",
        __file__,
        "--encoder",
        "fake",
        "--cache",
        "/nonexistent",
        "--ray",
        "--device",
        "cuda:1",
    ]
    r = CliRunner().invoke(cli, argv)  # refused before anything is read
    assert r.exit_code == 2 and "Ray gives each worker its own GPU" in r.output


def test_ray_skips_an_unreadable_image_once_and_names_its_file(local_ray, tmp_path):
    """--skip-bad on Ray as on one node: the image that cannot be decoded is reported once, by file,
    however many windows name it; the rest is cached."""
    from embedkit.data.items import iter_item_windows
    from embedkit.extract.ray import extract_ray

    make_image(tmp_path / "r.png", color=(200, 30, 30))
    make_image(tmp_path / "g.png", color=(30, 200, 30))
    (tmp_path / "bad.png").write_text("not a PNG")
    rows = ["r.png", "bad.png", "g.png", "r.png", "bad.png", "bad.png"]
    (tmp_path / "imgs.jsonl").write_text("".join(f'{{"image": "{p}"}}\n' for p in rows))
    windows = iter_item_windows([tmp_path / "imgs.jsonl"], image_field="image", window=2)
    r = extract_ray(windows, tmp_path / "c", "fake", workers=1, skip_bad=True, progress=False)
    assert (r.items, r.images, r.encoded) == (3, 3, 2)
    assert [e.file for e in r.bad_images] == [str((tmp_path / "bad.png").resolve())]
    assert "cannot embed this image" in r.bad_images[0].reason
