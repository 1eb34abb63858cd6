"""Image inputs to extraction, with the fake encoder (decoding runs in real DataLoader workers)."""

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache import EmbeddingCache
from embedkit.cache.keys import file_key
from embedkit.cli.main import cli
from embedkit.data.images import find_images, load_rgb
from embedkit.data.items import collect_items
from embedkit.encoders.fake import FakeEncoder
from embedkit.errors import EmbedkitError, InputError
from embedkit.extract import extract
from tests.conftest import make_image


@pytest.fixture
def gallery(tmp_path):
    """PNG, JPEG, greyscale, alpha, palette, CMYK, animated GIF, a large JPEG, and a copy under another name."""
    from PIL import Image

    root = tmp_path / "gallery"
    make_image(root / "red.png", (220, 30, 30))
    make_image(root / "blue.jpg", (30, 30, 220), seed=1)
    make_image(root / "sub/grey.png", (120, 120, 120), mode="L", seed=2)
    make_image(root / "sub/alpha.png", (30, 200, 30), mode="RGBA", seed=3)
    make_image(root / "sub/palette.png", (200, 200, 30), mode="P", seed=4)
    make_image(root / "sub/cmyk.jpg", (30, 200, 200), mode="CMYK", seed=5)
    make_image(root / "big.jpg", (90, 40, 160), size=(3000, 2000), seed=6)
    frames = [Image.new("RGB", (24, 24), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    shutil.copy(root / "red.png", root / "sub/same-picture-other-name.png")
    (root / ".hidden").mkdir()
    make_image(root / ".hidden/skip.png")
    return root


def test_a_folder_is_every_image_in_it_once_by_content(gallery, tmp_path):
    items = collect_items([gallery])
    assert len(find_images(gallery)) == 9  # hidden folders skipped
    assert items.records == 9 and len(items.images) == 8  # the copy shares the original's key
    assert items.image_keys[0] == file_key(items.images[0])
    result = extract(items, tmp_path / "cache", FakeEncoder(dim=8), workers=2, progress=False)
    assert (result.encoded, result.images, result.shards_written) == (8, 8, 1)
    ns = EmbeddingCache(tmp_path / "cache").namespace(encoder="fake")
    assert ns.shards[0].attrs["modality"] == "image"
    again = extract(collect_items([gallery]), tmp_path / "cache", FakeEncoder(dim=8), progress=False)
    assert again.encoded == 0 and again.cached_before == 8


def test_every_mode_decodes_to_rgb(gallery):
    for path in find_images(gallery):
        img = load_rgb(path, size_hint=224)
        assert img.mode == "RGB"
    assert max(load_rgb(gallery / "big.jpg", size_hint=224).size) <= 1000  # decoded near the model's size
    alpha = np.asarray(load_rgb(gallery / "sub/alpha.png"))
    assert alpha.shape[2] == 3


def test_workers_give_the_same_vectors_as_the_main_process(gallery, tmp_path):
    for workers in (0, 2):
        extract(
            collect_items([gallery]),
            tmp_path / f"c{workers}",
            FakeEncoder(dim=8),
            workers=workers,
            progress=False,
        )
    a = EmbeddingCache(tmp_path / "c0").namespace(encoder="fake")
    b = EmbeddingCache(tmp_path / "c2").namespace(encoder="fake")
    keys = a.keys
    assert np.array_equal(a.get(keys), b.get(keys))


def test_image_field_paths_resolve_relative_and_cannot_escape(tmp_path):
    make_image(tmp_path / "data/img/a.png")
    make_image(tmp_path / "outside.png", seed=1)
    good = tmp_path / "data/list.jsonl"
    good.write_text(json.dumps({"path": "img/a.png", "caption": "a red thing"}) + "\n")
    items = collect_items([good], image_field="path", text_field="caption")
    assert items.images == [tmp_path / "data/img/a.png"] and items.texts == ["a red thing"]
    for bad_path in ("../outside.png", str(tmp_path / "outside.png")):
        bad = tmp_path / "data/bad.jsonl"
        bad.write_text(json.dumps({"path": bad_path}) + "\n")
        with pytest.raises(InputError, match="leaves the folder of the file") as e:
            collect_items([bad], image_field="path")
        assert e.value.file.endswith("bad.jsonl") and e.value.line == 1 and bad_path in str(e.value)
    missing = tmp_path / "data/missing.jsonl"
    missing.write_text(json.dumps({"path": "img/nope.png"}) + "\n")
    with pytest.raises(InputError, match="image 'img/nope.png' not found"):
        collect_items([missing], image_field="path")


@pytest.mark.parametrize("kind", ["truncated", "not an image"])
def test_unreadable_images_are_named_and_the_cache_untouched(tmp_path, kind):
    make_image(tmp_path / "imgs/ok.png")
    bad = tmp_path / "imgs/bad.png"
    if kind == "truncated":
        full = make_image(tmp_path / "full.png", size=(64, 64)).read_bytes()
        bad.write_bytes(full[: len(full) // 2])
    else:
        bad.write_text("this is text, not a PNG")
    runner = CliRunner()
    r = runner.invoke(
        cli, ["extract", str(tmp_path / "imgs"), "--cache", str(tmp_path / "c"), "--encoder", "fake"]
    )
    assert r.exit_code == 1 and "bad.png" in r.output and "cannot embed this image" in r.output
    assert not (tmp_path / "c/manifest.json").exists()
    r = runner.invoke(
        cli,
        ["extract", str(tmp_path / "imgs"), "--cache", str(tmp_path / "c"), "--encoder", "fake", "--skip-bad",
         "--bad-rows-report", str(tmp_path / "report.jsonl")],
    )  # fmt: skip
    assert r.exit_code == 0 and "skipped 0 bad row(s) and 1 unreadable image(s)" in r.output
    report = [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert report[0]["file"].endswith("bad.png")
    ns = EmbeddingCache(tmp_path / "c").namespace(encoder="fake")
    assert len(ns) == 1 and ns.contains([file_key(tmp_path / "imgs/ok.png")]).all()


def test_pair_file_with_image_responses_is_detected(tmp_path):
    make_image(tmp_path / "p/a.png")
    make_image(tmp_path / "p/b.jpg", seed=1)
    pairs = tmp_path / "p/pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "a cat", "chosen": "a.png", "rejected": "b.jpg"}) + "\n")
    items = collect_items([pairs])
    assert items.texts == ["a cat"] and [p.name for p in items.images] == ["a.png", "b.jpg"]
    forced = tmp_path / "p/forced.jsonl"
    forced.write_text(json.dumps({"prompt": "a cat", "chosen": "a.png", "rejected": "b.jpg"}) + "\n")
    assert len(collect_items([forced], responses="images").images) == 2


def test_a_text_encoder_refuses_images(tmp_path):
    make_image(tmp_path / "imgs/a.png")

    class TextOnly(FakeEncoder):
        modalities = ("text",)

    with pytest.raises(EmbedkitError, match="embeds texts only; use an image encoder"):
        extract(collect_items([tmp_path / "imgs"]), tmp_path / "c", TextOnly(dim=4), progress=False)
    assert not (tmp_path / "c").exists()
