"""Throw-away plugins, one of each kind, as another package would register them through entry points
(``embedkit.plugins``): a toy encoder family ``toy:DIM``, a toy head ``toy-bt`` (a Bradley-Terry head with
its own config) and a toy converter ``convert toy-tsv``. The ``toy_plugins`` fixture (tests/conftest.py)
installs them; the registries' contract tests then run over them like over the built-in entries."""

from __future__ import annotations

import dataclasses
from importlib.metadata import EntryPoint
from typing import ClassVar

from embedkit.datasets.registry import DatasetEntry
from embedkit.encoders.fake import FakeEncoder
from embedkit.encoders.registry import EncoderEntry
from embedkit.errors import InputError
from embedkit.fingerprint import Fingerprint, format_options
from embedkit.heads.config import BTConfig
from embedkit.heads.registry import HeadEntry
from embedkit.options import opt

TOY_HEAD = "toy-bt"
TOY_ENCODER = "toy:DIM"
TOY_DATASET = "toy-tsv"


# -- an encoder family: toy:DIM, DIM-d vectors ---------------------------------------------------------


class ToyEncoder(FakeEncoder):
    modalities = ("text",)
    offset = 0.0

    def encode(self, texts, **kw):
        return super().encode(texts, **kw) + self.offset

    def __init__(self, dim: int, **opts):
        super().__init__(dim=dim, **opts)
        self.fingerprint = Fingerprint(
            "toy", f"toy-{dim}", "none", "pooled", "hash", self.normalize, dim, "float16"
        )


def create_toy(spec: str, **opts) -> ToyEncoder:
    """``toy:DIM``."""
    try:
        dim = int(spec.removeprefix("toy:"))
    except ValueError:
        raise ValueError(f"--encoder {spec}: expected toy:DIM with DIM a number") from None
    enc = ToyEncoder(dim, **{k: v for k, v in opts.items() if k == "normalize"})
    if opts.get("offset"):  # other vectors: another namespace (the option is in the fingerprint)
        enc.offset = float(opts["offset"])
        enc.fingerprint = dataclasses.replace(enc.fingerprint, options=format_options(offset=enc.offset))
    return enc


@dataclasses.dataclass(frozen=True)
class ToyOptions:
    """The options only toy encoders take (``--offset``), as a family declares its own."""

    applies: ClassVar[str] = "toy encoders"
    offset: float | None = opt(None, "toy encoders: a number added to every vector (tests).", kind=float)


ENCODER_ENTRY = EncoderEntry(
    TOY_ENCODER,
    "a toy encoder family (tests)",
    f"{__name__}:create_toy",
    prefix="toy:",
    fingerprints=("toy",),
    options=f"{__name__}:ToyOptions",
)


# -- a head: Bradley-Terry under another name, with its own config -------------------------------------


def _toy_head_class():
    from embedkit.heads.bt import BTHead

    class ToyBTHead(BTHead):
        name = TOY_HEAD
        Config = ToyBTConfig

    ToyBTHead.__qualname__ = ToyBTHead.__name__ = "ToyBTHead"
    return ToyBTHead


@dataclasses.dataclass
class ToyBTConfig(BTConfig):
    """Bradley-Terry's settings (its own class, as a plugin's head would have)."""


def __getattr__(name):  # the head class imports torch: only when asked for
    if name == "ToyBTHead":
        cls = _toy_head_class()
        globals()["ToyBTHead"] = cls
        return cls
    raise AttributeError(name)


HEAD_ENTRY = HeadEntry(f"{__name__}:ToyBTHead", f"{__name__}:ToyBTConfig", "a toy head (tests)")


# -- a converter: tab-separated prompt, chosen, rejected ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class ToyTSVConfig:
    user: str = opt("anyone", "User id of every pair.")


def from_toy_tsv(path, user: str = "anyone"):
    """Pair rows from lines ``prompt<TAB>chosen<TAB>rejected``."""
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise InputError(
                    f"expected 3 tab-separated fields, found {len(parts)}", file=str(path), line=line_no
                )
            yield {"prompt": parts[0], "chosen": parts[1], "rejected": parts[2], "user": user}


DATASET_ENTRY = DatasetEntry(
    TOY_DATASET,
    "convert",
    "rows",
    f"{__name__}:from_toy_tsv",
    f"{__name__}:ToyTSVConfig",
    "Tab-separated prompt, chosen, rejected -> pairs (a toy converter, tests).",
)


def entry_points_with_toys(real):
    """``importlib.metadata.entry_points`` with the toys' entry points added to their groups."""
    toys = {
        "embedkit.encoders": [EntryPoint("toy", f"{__name__}:ENCODER_ENTRY", "embedkit.encoders")],
        "embedkit.heads": [EntryPoint(TOY_HEAD, f"{__name__}:HEAD_ENTRY", "embedkit.heads")],
        "embedkit.datasets": [EntryPoint(TOY_DATASET, f"{__name__}:DATASET_ENTRY", "embedkit.datasets")],
    }

    def entry_points(**select):
        group = select.get("group")
        return [*real(**select), *toys.get(group, [])]

    return entry_points
