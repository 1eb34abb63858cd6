import numpy as np
import pytest

from embedkit.encoders.registry import create_encoder, list_encoders
from embedkit.errors import UnknownNameError


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
