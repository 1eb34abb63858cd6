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
