"""open_clip encoders through the same `open_clip:ARCH:PATH` route users take (a random ViT-S-32 saved as a
local checkpoint: no weights can be downloaded here)."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache import EmbeddingCache, text_keys
from embedkit.cache.keys import file_key
from embedkit.cli.main import cli
from embedkit.encoders.open_clip import parse_open_clip_spec
from embedkit.encoders.registry import create_encoder
from tests.conftest import make_image

pytestmark = pytest.mark.slow


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_spec_parsing_resolves_clip_h14_without_downloading():
    assert parse_open_clip_spec("clip-h14") == ("ViT-H-14", "laion2b_s32b_b79k")
    assert parse_open_clip_spec("open_clip:ViT-B-32:/x/y.safetensors") == ("ViT-B-32", "/x/y.safetensors")
    with pytest.raises(ValueError, match="expected open_clip:ARCH:PRETRAINED"):
        parse_open_clip_spec("open_clip:ViT-B-32")


def test_clip_h14_without_weights_says_where_it_looked_and_what_to_pass():
    from embedkit.encoders.registry import ENCODERS, check_entry

    if not check_entry(ENCODERS["clip-h14"]):
        pytest.skip("CLIP-H/14 weights are on this machine")
    with pytest.raises(FileNotFoundError) as e:
        create_encoder("clip-h14")
    msg = str(e.value)
    assert "ViT-H-14 (laion2b_s32b_b79k) are not on disk" in msg
    assert "laion/CLIP-ViT-H-14-laion2B-s32B-b79K" in msg and "--encoder open_clip:ViT-H-14:/path/to/" in msg
    r = CliRunner().invoke(cli, ["encoders"])
    assert "weights not on disk" in r.output


def test_unknown_architecture_and_missing_checkpoint(tmp_path):
    with pytest.raises(KeyError, match="did you mean 'ViT-B-32'"):
        create_encoder("open_clip:ViT-B-33:/nope.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_encoder(f"open_clip:ViT-S-32:{tmp_path / 'nope.safetensors'}")


def test_fingerprint_names_weights_tower_and_normalisation(tiny_clip_checkpoint, tmp_path):
    enc = create_encoder(f"open_clip:ViT-S-32:{tiny_clip_checkpoint}", device="cpu")
    fp = enc.fingerprint
    assert (fp.encoder, fp.model, fp.layer, fp.dim) == ("open_clip", "ViT-S-32", "projection", 384)
    assert (
        "text+image" in fp.pooling
        and fp.weights.startswith("sha256:")
        and enc.modalities == ("text", "image")
    )
    copy = tmp_path / "copy.safetensors"
    shutil.copy(tiny_clip_checkpoint, copy)
    assert create_encoder(f"open_clip:ViT-S-32:{copy}").fingerprint == fp  # same bytes, same namespace
    norm = create_encoder(f"open_clip:ViT-S-32:{tiny_clip_checkpoint}", normalize=True).fingerprint
    assert norm.namespace != fp.namespace


def test_cached_vectors_equal_a_direct_open_clip_forward(tiny_clip_checkpoint, tmp_path):
    import open_clip
    import torch

    from embedkit.data.images import load_rgb

    imgs = [
        make_image(tmp_path / "imgs/red.png", (220, 30, 30)),
        make_image(tmp_path / "imgs/blue.jpg", (30, 30, 220), seed=1),
        make_image(tmp_path / "imgs/grey.png", (90, 90, 90), mode="L", seed=2),
    ]
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "a red square"}\n{"text": "a blue circle"}\n')
    spec = f"open_clip:ViT-S-32:{tiny_clip_checkpoint}"
    r = CliRunner().invoke(
        cli,
        ["extract", str(tmp_path / "imgs"), str(texts), "--cache", str(tmp_path / "c"), "--encoder", spec,
         "--dtype", "float32", "--workers", "1", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "3 texts" not in r.output and "(2 texts + 3 images)" in r.output
    ns = EmbeddingCache(tmp_path / "c").namespace(encoder="open_clip")
    assert sorted(s.attrs["modality"] for s in ns.shards) == ["image", "text"]
    model, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-S-32", pretrained=str(tiny_clip_checkpoint)
    )
    model.eval()
    with torch.no_grad():
        ref_img = model.encode_image(torch.stack([preprocess(load_rgb(p)) for p in imgs])).numpy()
        tok = open_clip.get_tokenizer("ViT-S-32")(["a red square", "a blue circle"])
        ref_txt = model.encode_text(tok).numpy()
    ours_img = ns.get([file_key(p) for p in imgs])
    ours_txt = ns.get(text_keys(["a red square", "a blue circle"]))
    assert cosine(ours_img, ref_img).min() >= 0.999 and cosine(ours_txt, ref_txt).min() >= 0.999
    assert np.abs(np.linalg.norm(ours_img, axis=1) - 1).max() > 0.01  # before normalisation
    # a JPEG re-encode of the same picture stays the same picture
    from PIL import Image

    Image.open(imgs[0]).save(tmp_path / "red-again.jpg", quality=95)
    enc = create_encoder(spec, device="cpu")
    pixels = torch.stack([enc.image_transform()(load_rgb(p)) for p in (imgs[0], tmp_path / "red-again.jpg")])
    v = enc.encode_pixels(pixels)
    assert cosine(v[0], v[1]) > 0.99


@pytest.fixture(scope="module")
def clip_folder(tiny_clip_checkpoint, tmp_path_factory):
    """The random ViT-S-32 in open_clip's own folder layout: open_clip_config.json + weights."""
    import json

    import open_clip

    d = tmp_path_factory.mktemp("clipdir") / "vit-s-32-random"
    d.mkdir()
    cfg = {"model_cfg": open_clip.get_model_config("ViT-S-32"), "preprocess_cfg": {}}
    (d / "open_clip_config.json").write_text(json.dumps(cfg))
    shutil.copy(tiny_clip_checkpoint, d / "open_clip_model.safetensors")
    return d


def test_local_dir_is_read_as_open_clip_reads_it(clip_folder, tiny_clip_checkpoint):
    from embedkit.encoders.registry import spec_for

    enc = create_encoder(f"open_clip:local-dir:{clip_folder}", device="cpu")
    by_file = create_encoder(f"open_clip:ViT-S-32:{tiny_clip_checkpoint}", device="cpu")
    fp = enc.fingerprint
    assert fp.model == "local-dir:vit-s-32-random" and fp.dim == 384 and fp.option("config")
    assert fp.weights == by_file.fingerprint.weights and fp.namespace != by_file.fingerprint.namespace
    texts = ["a photo of a cat", "a red square"]
    np.testing.assert_allclose(enc.encode(texts), by_file.encode(texts), atol=1e-5)
    img = enc.image_transform()(__import__("PIL.Image").Image.new("RGB", (40, 30), (200, 10, 10)))
    assert enc.encode_pixels(img[None]).shape == (1, 384) and enc.image_size == 224
    assert enc.spec == f"open_clip:local-dir:{clip_folder}"
    assert spec_for(fp).startswith("open_clip:local-dir:<path of the open_clip folder vit-s-32-random")


def test_local_dir_and_hf_hub_errors(clip_folder, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        create_encoder(f"open_clip:local-dir:{tmp_path / 'absent'}")
    with pytest.raises(FileNotFoundError, match="has no open_clip_config.json"):
        create_encoder(f"open_clip:local-dir:{tmp_path}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as e:
        create_encoder("open_clip:hf-hub:laion/no-such-clip")
    msg = str(e.value)
    assert "not in the local Hugging Face cache" in msg and "embedkit downloads nothing" in msg
    assert "hf download laion/no-such-clip" in msg and "open_clip:local-dir:" in msg
    with pytest.raises(ValueError, match="expected open_clip:hf-hub:ORG/NAME"):
        parse_open_clip_spec("open_clip:hf-hub:")


def test_hf_hub_from_the_local_cache(clip_folder, tmp_path, monkeypatch):
    """A Hub repo in open_clip's layout, put in a Hugging Face cache under tmp_path, read offline."""
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--tiny-clip"
    shutil.copytree(clip_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = create_encoder("open_clip:hf-hub:org/tiny-clip", device="cpu")
    local = create_encoder(f"open_clip:local-dir:{clip_folder}", device="cpu")
    assert enc.fingerprint.model == "hf-hub:org/tiny-clip" and enc.spec == "open_clip:hf-hub:org/tiny-clip"
    assert enc.fingerprint.weights == local.fingerprint.weights
    np.testing.assert_allclose(enc.encode(["a dog"]), local.encode(["a dog"]), atol=1e-5)
    from embedkit.encoders.registry import spec_for

    assert spec_for(enc.fingerprint) == "open_clip:hf-hub:org/tiny-clip"
