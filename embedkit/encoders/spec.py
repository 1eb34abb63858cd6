"""``EncoderSpec``: an encoder as it can be made again anywhere, a Ray actor, a scoring run that embeds what
the cache lacks, or a hint's command line: the ``--encoder`` value and the options ``create_encoder``
takes (the common ones and its family's, typed by the family's option dataclass).

Made from what the user gave (``embedkit extract``), or from a cached namespace's fingerprint
(:meth:`EncoderSpec.of`: the recorded spec, or what the family's registry entry derives, and the options
the fingerprint holds); :meth:`EncoderSpec.create` makes the encoder, :meth:`EncoderSpec.args` the
``embedkit extract`` arguments that make the same namespace.

    spec = EncoderSpec.of(head.fingerprint_)  # e.g. EncoderSpec("minilm", {"normalize": True, ...})
    encoder = spec.create()
    print(shlex.join(spec.args()))  # --encoder minilm --prompt 'query: ' --normalize
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from embedkit.encoders.base import Encoder
from embedkit.fingerprint import Fingerprint
from embedkit.options import cli_name


@dataclass(frozen=True)
class EncoderSpec:
    """``spec``: a registry name, a general form (``hf:PATH``, ``open_clip:ARCH:TAG``) or a model
    directory / Hub id; ``options``: keyword arguments of ``create_encoder`` (None values left out)."""

    spec: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "options", {k: v for k, v in self.options.items() if v is not None})

    @classmethod
    def of(cls, fingerprint: Fingerprint, spec: str | None = None, device: str | None = None) -> EncoderSpec:
        """The spec that recreates ``fingerprint``: ``spec`` (the one the cache recorded) or what its family
        derives from the fingerprint, with its storage (normalised, dtype) and family options."""
        from embedkit.encoders.registry import options_for, spec_for

        options = {"normalize": fingerprint.normalized, "dtype": fingerprint.dtype, "device": device}
        return cls(spec or spec_for(fingerprint), {**options, **options_for(fingerprint)})

    def create(self) -> Encoder:
        """The encoder (not loaded: its fingerprint is known before any weights are read)."""
        from embedkit.encoders.registry import create_encoder

        return create_encoder(self.spec, **self.options)

    def args(self) -> list[str]:
        """``embedkit extract`` arguments for this spec: ``--encoder``, the family options as their options
        (``--layer 12``), ``--normalize`` and a ``--dtype`` other than float16 (not the device)."""
        from embedkit.encoders.registry import family_options

        family = family_options()
        args = ["--encoder", self.spec]
        for name, value in self.options.items():
            if name in family:
                fld = next(f for f in dataclasses.fields(family[name]) if f.name == name)
                args += [cli_name(fld), str(value)]
        if self.options.get("normalize"):
            args.append("--normalize")
        if self.options.get("dtype", "float16") != "float16":
            args += ["--dtype", self.options["dtype"]]
        return args
