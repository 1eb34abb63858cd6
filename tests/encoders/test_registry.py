import numpy as np
import pytest

from embedkit.encoders.registry import (
    _resolve,
    create_encoder,
    entries,
    entry_for,
    entry_of,
    entry_options,
    family_options,
    list_encoders,
)
from embedkit.errors import UnknownNameError
from embedkit.fingerprint import Fingerprint


def test_unknown_name_lists_valid_names_and_closest():
    with pytest.raises(UnknownNameError) as e:
        create_encoder("minlm")
    msg = str(e.value)
    assert "minilm" in msg and "mpnet" in msg and "did you mean 'minilm'" in msg


def test_registry_lists_the_default():
    assert "minilm" in list_encoders() and "(the default)" in list_encoders()["minilm"]


def test_fake_encoder_is_deterministic_and_content_keyed():
    enc = create_encoder("fake")
    a = enc.encode(["x", "y", "x", "cafe\u0301"])
    b = enc.encode(["caf\u00e9", "x"])
    assert a.shape == (4, 32) and a.dtype == np.float32
    assert np.array_equal(a[0], a[2]) and np.array_equal(a[0], b[1]) and np.array_equal(a[3], b[0])
    assert not np.allclose(a[0], a[1])


@pytest.mark.slow
def test_minilm_is_the_unnormalised_pooled_embedding(minilm_encoder):
    from sentence_transformers import SentenceTransformer

    fp = minilm_encoder.fingerprint
    assert (fp.encoder, fp.dim, fp.layer, fp.pooling, fp.normalized) == (
        "minilm",
        384,
        "pooled",
        "mean",
        False,
    )
    assert fp.weights.startswith("sha256:") and fp.model == "sentence-transformers/all-MiniLM-L6-v2"
    texts = ["I enjoy going to art museums", "Math is my favourite subject"]
    ours = minilm_encoder.encode(texts)
    norms = np.linalg.norm(ours, axis=1)
    assert np.all(np.abs(norms - 1) > 0.1)  # no Normalize module left
    reference = SentenceTransformer(str(minilm_encoder.model_dir), device="cpu")
    unit = reference.encode(texts, convert_to_numpy=True)  # the stock model ends in Normalize
    np.testing.assert_allclose(ours / norms[:, None], unit, atol=1e-5)


@pytest.mark.slow
def test_minilm_normalize_option_is_a_different_namespace(minilm_encoder):
    enc = create_encoder("minilm", device="cpu", normalize=True)
    assert enc.fingerprint.normalized and enc.fingerprint.namespace != minilm_encoder.fingerprint.namespace
    enc._model = minilm_encoder.model  # share the loaded weights; normalisation is applied after
    np.testing.assert_allclose(np.linalg.norm(enc.encode(["hello"]), axis=1), 1, atol=1e-5)


NAMES = [*(e.name for e in entries()), "toy:DIM"]  # the built-in entries and a throw-away plugin's


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_points_at_code_that_exists(name):
    """The registry is the one place an encoder family is named: its factory and hint helpers resolve,
    its family options are declared, and fingerprints it produces find it again (for hints). (The toy's
    plugin: tests/conftest.py.)"""
    entry = next(e for e in entries() if e.name == name)
    paths = (
        entry.create,
        entry.matches,
        entry.absolute_spec,
        entry.spec_of,
        entry.options_of,
    )
    for path in (*paths, entry.check):
        if path is not None:
            assert callable(_resolve(path)), path
    assert set(entry_options(entry)) <= set(family_options())
    assert entry.help
    for name in entry.produces:
        fp = Fingerprint(name, "m", "none", "hidden:3", "last", False, 8, "float16")
        assert entry_of(fp) is entry


def test_specs_resolve_to_their_entry():
    assert entry_for("minilm").name == "minilm"
    assert entry_for("open_clip:ViT-B-32:x.safetensors").name == "open_clip:ARCH:PRETRAINED"
    assert entry_for("hf:org/model").name == "hf:PATH_OR_ID"
    assert (
        entry_for("org/model").name
        == entry_for("./a/dir").name
        == entry_for("st:dir").name
        == "DIR or org/name"
    )


def test_a_family_option_given_to_another_family_is_refused():
    with pytest.raises(ValueError, match="--layer applies to LLM encoders"):
        create_encoder("fake", layer=3)
    assert create_encoder("fake", layer=None).spec == "fake"  # unset options are fine


def test_hints_recreate_a_fingerprint_from_the_registry():
    from embedkit.hints import encoder_args

    llm = Fingerprint("hf", "org/model", "sha256:x", "hidden:12", "mean", True, 8, "float32", "template=chat")
    assert encoder_args(llm) == [
        "--encoder", "hf:org/model", "--layer", "12", "--pool", "mean", "--template", "chat", "--normalize",
        "--dtype", "float32",
    ]  # fmt: skip
    st = Fingerprint("st", "my-model", "sha256:x", "pooled", "mean", False, 8, "float16")
    assert encoder_args(st)[:2] == [
        "--encoder",
        "<path of the sentence-transformers model directory my-model>",
    ]
    assert encoder_args(st, spec="/models/my-model") == ["--encoder", "/models/my-model"]


def test_an_encoder_spec_recreates_its_fingerprint_and_its_command_line():
    """EncoderSpec.of(fingerprint): the spec, storage and family options that make the same namespace again,
    as an encoder (create) and as extract's arguments (args); it travels to Ray actors (pickled)."""
    import pickle

    from embedkit.encoders.spec import EncoderSpec

    fp = create_encoder("fake", normalize=True, dtype="float32").fingerprint
    spec = EncoderSpec.of(fp, "fake")
    assert spec.create().fingerprint == fp
    assert spec.args() == ["--encoder", "fake", "--normalize", "--dtype", "float32"]
    assert pickle.loads(pickle.dumps(spec)) == spec
    llm = Fingerprint("hf", "org/model", "sha256:x", "hidden:3", "last", False, 8, "float16", "max_length=64")
    spec = EncoderSpec.of(llm, device="cpu")
    assert spec.spec == "hf:org/model" and spec.options["layer"] == 3 and "pool" not in spec.options
    assert spec.args() == [
        "--encoder",
        "hf:org/model",
        "--layer",
        "3",
        "--max-length",
        "64",
    ]  # not the device
