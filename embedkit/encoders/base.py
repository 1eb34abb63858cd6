"""The encoder contract every registry entry meets."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embedkit.fingerprint import Fingerprint

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx")


class Encoder(ABC):
    """A frozen model mapping texts (and, for image encoders, images) to fixed-size vectors.

    ``encode`` returns float32 (n, dim) in the order of its input; ``fingerprint`` identifies the
    embedding space (model, weights, layer, pooling, normalisation, dim, storage dtype, options).
    Image encoders list ``"image"`` in ``modalities`` and implement ``image_transform`` (PIL -> tensor,
    run in DataLoader workers) and ``encode_pixels`` (a batch of those tensors -> vectors).
    """

    fingerprint: Fingerprint
    device: str = "cpu"
    compute_dtype: str = "float32"
    spec: str = ""
    """The ``--encoder`` value this encoder was created from (set by ``create_encoder``)."""
    modalities: tuple[str, ...] = ("text",)
    truncated: int = 0
    """How many texts were cut to the encoder's maximum length so far (encoders that truncate count)."""

    @property
    def dim(self) -> int:
        return self.fingerprint.dim

    def load(self) -> None:  # noqa: B027 - a no-op for encoders without a model to load
        """Load the model now (otherwise the first ``encode`` does). Idempotent."""

    @abstractmethod
    def encode(
        self, texts: Sequence[str], batch_size: int = 32, parts: Sequence[tuple] | None = None
    ) -> np.ndarray:
        """Embeddings of ``texts``, shape (len(texts), dim), float32.

        ``parts``: for each text, ``(prompt, response)`` when it is a response embedded in context, or
        ``(text, None)``; encoders that render conversations (an LLM's chat template) use it, others ignore it.
        """

    def prepare(self, texts: Sequence[str], batch_size: int = 32, parts: Sequence[tuple] | None = None):
        """The host-side work of ``encode`` for ``texts`` (tokenizing, batching, padding), done ahead:
        ``encode_prepared(prepare(t, b, p))`` equals ``encode(t, b, p)``. The extraction loop runs it for
        the next chunk in a thread while the current chunk runs on the device, so it must not use the
        model. Default: nothing is done ahead."""
        return texts, batch_size, parts

    def encode_prepared(self, prepared) -> np.ndarray:
        """Embeddings of what :meth:`prepare` returned, shape (len(texts), dim), float32."""
        texts, batch_size, parts = prepared
        return self.encode(texts, batch_size=batch_size, parts=parts)

    # --- images (encoders with "image" in modalities) -------------------------------------------------
    @property
    def image_size(self) -> int | None:
        """The model's input resolution (a decoding hint for large JPEGs), or None."""
        return None

    def image_transform(self) -> Callable:
        """PIL RGB image -> preprocessed tensor (C, H, W); picklable, it runs in DataLoader workers."""
        raise NotImplementedError(f"{self.fingerprint.encoder} does not embed images")

    def encode_pixels(self, pixels) -> np.ndarray:
        """Embeddings of a batch of preprocessed images (B, C, H, W) -> (B, dim) float32."""
        raise NotImplementedError(f"{self.fingerprint.encoder} does not embed images")


def hash_file(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of one file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def user_cache_dir() -> Path:
    """embedkit's folder in the user's cache (``$XDG_CACHE_HOME/embedkit``, else ``~/.cache/embedkit``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embedkit"


def hash_weight_files(model_dir: str | os.PathLike) -> str:
    """``sha256:<hex>`` over the weight files of a model directory (names and bytes, sorted by path)."""
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) under {root}")
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
    return "sha256:" + h.hexdigest()


def cached_weights_hash(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a weights file, or of a model directory's weight files, memoised per
    (path, size, mtime) in the user's cache dir so that re-runs skip hashing."""
    model_dir = Path(path)
    files = (
        [str(model_dir)]
        if model_dir.is_file()
        else sorted(str(p) for p in model_dir.rglob("*") if p.is_file())
    )
    stamp = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
    memo_path = user_cache_dir() / "weight-hashes.json"
    key = str(model_dir.resolve())
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    hit = memo.get(key)
    if hit and hit.get("stamp") == [list(s) for s in stamp]:
        return hit["hash"]
    digest = hash_file(model_dir) if model_dir.is_file() else hash_weight_files(model_dir)
    memo[key] = {"stamp": stamp, "hash": digest}
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, memo_path)
    except OSError as e:  # a read-only home only costs a re-hash next time
        log.debug("cannot memoise weight hash: %s", e)
    return digest


def looks_like_path(spec: str) -> bool:
    """A filesystem path rather than a Hub id: starts with . / ~, has more than one /, or exists."""
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or os.path.exists(spec)


def absolute_path(spec: str) -> str:
    """``spec`` with ``~`` expanded and made absolute when it is a path (so a hint works from elsewhere)."""
    return os.path.abspath(os.path.expanduser(spec)) if looks_like_path(spec) else spec


def resolve_hub_model(model_id: str) -> str:
    """Local directory of a Hub model: the local cache first, a download only when online."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - comes with sentence-transformers
        raise ModuleNotFoundError("huggingface_hub is needed to resolve Hub model ids") from e
    try:
        return snapshot_download(model_id, local_files_only=True)
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
        raise FileNotFoundError(
            f"{model_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
            "pass the model's local directory instead"
        )
    try:
        return snapshot_download(model_id)
    except Exception as e:
        raise FileNotFoundError(
            f"cannot get {model_id}: not in the local Hugging Face cache and the Hub is "
            f"unreachable ({type(e).__name__}); pass the model's local directory instead"
        ) from e


PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def precision_of(fp16: bool, bf16: bool) -> str:
    """``fp16``, ``bf16`` or ``fp32`` from the two flags."""
    return "fp16" if fp16 else "bf16" if bf16 else "fp32"


def half_precision_on(precision: str, device: str) -> str:
    """The dtype name an encoder loads its weights in for ``precision`` (fp32 | fp16 | bf16) on ``device``;
    half precision is refused off CUDA."""
    if precision != "fp32" and not str(device).startswith("cuda"):
        raise ValueError("fp16 / bf16 compute is for CUDA devices; on CPU use float32 (the default)")
    return PRECISIONS[precision]


def autocast_for(precision: str, device: str):
    """``(autocast context or None, compute dtype name)`` for a model kept in float32 and run at
    ``precision`` (fp32 | fp16 | bf16) on ``device``; half precision is refused off CUDA."""
    import torch

    half_precision_on(precision, device)
    autocast = (
        torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)
        if precision != "fp32"
        else None
    )
    return autocast, PRECISIONS[precision]


def l2_normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in place (zero rows stay zero); returns ``x``."""
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x
