"""A head's data set-up: which pair files, split fractions and seed, responses mode and cache namespace it
was trained with. Stored in the head so that ``eval`` (and ``score``) see the data the way training did.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from embedkit.cache.keys import file_key
from embedkit.data.splits import SplitConfig
from embedkit.errors import EmbedkitError


@dataclass
class DataSetup:
    """How pair files became a head's tensors; stored in the head so ``eval`` and ``score`` reproduce it."""

    pairs: list[dict] = field(default_factory=list)
    """One entry per pair file: ``file`` (as given), ``sha256`` of its bytes, ``rows``."""
    responses: str = "in-context"
    split_source: str = "drawn"
    """``file`` (the file's split column) or ``drawn`` (drawn with ``split``)."""
    split: dict = field(default_factory=lambda: SplitConfig().to_dict())
    namespace: str = ""
    encoder_spec: str = ""
    prompt_rendering: str = ""
    """How the training prompts were written: ``messages`` (conversations as ``role: content`` blocks, as
    ``embedkit convert trl`` renders them), ``plain``, or "" (not recorded: heads before embedkit 0.3)."""
    response_rendering: str = ""
    """The same for the responses."""

    @property
    def split_config(self) -> SplitConfig:
        return SplitConfig(**self.split)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataSetup:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def same_files(self, paths: list[str | os.PathLike]) -> bool:
        """Whether ``paths`` hold exactly the bytes the head was trained on (names may differ)."""
        return sorted(p["sha256"] for p in self.pairs) == sorted(file_key(p) for p in paths)


def reuse_setup(
    stored: DataSetup | None,
    pairs: list[str | os.PathLike],
    seed: int,
    split_options: dict | None = None,
    responses: str | None = None,
) -> tuple[SplitConfig, str, list[str]]:
    """The split config and responses mode to read ``pairs`` with for a trained head, and notes to show.

    By default the head's own set-up is used. ``split_options`` (only those the user set explicitly) and
    ``responses`` override it; an override that would feed the head other vectors (responses) is refused,
    and so is one that would move the head's own training pairs into val/test (other split fractions on
    the training files). Returns (split config, responses mode, notes).
    """
    split_options = {k: v for k, v in (split_options or {}).items() if v is not None}
    notes: list[str] = []
    if stored is None:  # a head saved before set-ups were recorded
        notes.append(
            "this head does not record its data set-up (saved by an older embedkit): splits are drawn "
            "with the options given or the defaults, and the head's seed"
        )
        return (
            SplitConfig(**{**SplitConfig().to_dict(), **split_options, "seed": seed}),
            responses or ("in-context"),
            notes,
        )
    if responses is not None and responses != stored.responses:
        raise EmbedkitError(
            f"--responses {responses} conflicts with the head: it was trained on responses embedded "
            f"{stored.responses} (fit-head --responses {stored.responses}), and it must be fed vectors "
            "made the same way. Drop --responses: eval uses the head's setting"
        )
    same = stored.same_files(pairs)
    if not same:
        trained = ", ".join(p["file"] for p in stored.pairs)
        notes.append(
            f"these pair files differ from the ones the head was trained on ({trained}): where they have "
            "no split column, splits are drawn with the head's fractions and seed, and users the head has "
            "not seen are evaluated as new users"
        )
    trained_split = {**SplitConfig().to_dict(), **stored.split}  # heads saved before a field existed
    conflicts = {k: v for k, v in split_options.items() if trained_split.get(k) != v}
    if conflicts:
        names = {"by": "split-by"}
        desc = ", ".join(
            f"--{names.get(k, k.replace('_', '-'))} {v} (trained with {trained_split.get(k)})"
            for k, v in conflicts.items()
        )
        if same and stored.split_source == "drawn":
            raise EmbedkitError(
                f"{desc}: on the head's own training files other split fractions would move training "
                "pairs into val/test. Drop these options: eval uses the head's splits by default"
            )
        notes.append(f"using {desc} instead of the head's split set-up")
    return SplitConfig(**{**trained_split, **split_options}), stored.responses, notes
