"""The run-level settings of training and evaluating a head, one dataclass per command: ``FitConfig``
(``embedkit fit-head``, :func:`embedkit.heads.fit.fit_head`) and ``EvalConfig`` (``embedkit eval``,
:func:`embedkit.heads.evaluate.evaluate_head`). Their fields are the commands' options (help included);
the head's own hyper-parameters are its config class's (``embedkit.heads.config``), the split options
``SplitConfig``'s. Torch-free.

    from embedkit.heads.fit import fit_head
    from embedkit.heads.run_config import FitConfig
    run = FitConfig(model="pal-b", pairs=("pairs.jsonl",), cache_dir="cache/", out_dir="heads/pal-b")
    result = fit_head(run, {"K": 2})  # result.head, saved in heads/pal-b
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from embedkit.data.splits import SplitConfig
from embedkit.errors import OptionError
from embedkit.heads.registry import HEADS
from embedkit.options import (
    REQUIRED,
    RESPONSES,
    cache_field,
    check_fields,
    device_field,
    file_tuple,
    opt,
    pairs_field,
    responses_field,
    users_field,
    users_id_field,
)

USERS_HELP = {
    "fit": "PAL heads: a prior over new users' weights from their attributes, used where it beats the population "
    "point on the held-out calibration users.",
    "eval": "New users' zero-shot and few-shot accuracy with the head's attribute prior vs the population point, "
    "side by side, and per attribute value (attributes.*).",
}


@dataclass(kw_only=True)
class FitConfig:
    """What ``fit-head`` trains on and where it writes (the head's hyper-parameters are its own config's)."""

    model: str = opt(REQUIRED, "Which head to train.", tuple(HEADS))
    pairs: tuple[str, ...] = pairs_field(
        "Pair file(s) in the documented format (docs/pairs-format.md): JSONL, CSV, Parquet, or a Hugging Face "
        "dataset folder (save_to_disk) or .arrow file; repeat for several."
    )
    attributes_file: str | None = users_field(USERS_HELP["fit"])
    users_id_field: str = users_id_field()
    cache_dir: str = cache_field()
    out_dir: str = opt(REQUIRED, "Head directory to write.", cli="--out", path="dir")
    encoder: str = opt(
        "minilm",
        "Which cached namespace to train on: the --encoder given to `embedkit extract`, or a namespace id from "
        "`embedkit cache ls`.",
    )
    overwrite: bool = opt(False, "Replace an existing head directory.")
    progress: bool = opt(True, "Show a progress bar per epoch.")
    k_max: int = opt(
        6,
        "With --K auto: try K = 1..K_MAX and keep the smallest within noise of the best.",
        cli="--K-max",
        min=1,
    )
    k_repeats: int = opt(
        2,
        "With --K auto: when the validation curve over K is not monotonic (training noise), fit the Ks near the "
        "best this many more times with other seeds and choose on the mean (0 = never).",
        cli="--K-repeats",
        min=0,
    )
    responses: str = responses_field()
    split: SplitConfig = field(default_factory=SplitConfig)
    """The split options (``SplitConfig``, or a dict of its fields; its seed is replaced by the head's)."""

    def __post_init__(self):
        self.pairs = file_tuple(self.pairs)
        if isinstance(self.split, dict):
            self.split = SplitConfig(**self.split)
        check_fields(self)
        self.split.validate()

    def check(self, head_options: dict, attributes: bool = False) -> None:
        """Refuse combinations the head cannot do (``OptionError``): ``--K auto`` for a head without prototypes,
        attributes (``attributes_file``, or ``attributes`` given) for a head without per-user weights or
        with ``--K auto``."""
        from embedkit.heads.api import head_class

        cls = head_class(self.model)
        k_auto = head_options.get("K") == "auto"
        attributes = attributes or bool(self.attributes_file)
        if k_auto and not cls.supports_auto_k:
            able = " / ".join(n for n in sorted(HEADS) if head_class(n).supports_auto_k)
            raise OptionError(f"--K auto chooses the prototypes of {able} heads, not {self.model}")
        if attributes and not cls.supports_user_attributes:
            raise OptionError(
                f"--users is a prior over per-user weights (pal-a, pal-b); {self.model} has none"
            )
        if attributes and k_auto:
            raise OptionError(
                "--users takes a fixed --K (choose K with --K auto first, then refit with --users)"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(kw_only=True)
class EvalConfig:
    """What ``eval`` reads; ``responses`` and the split options left None are the head's own set-up."""

    pairs: tuple[str, ...] = pairs_field(
        "Pair file(s) (or Hugging Face dataset folders) to evaluate on: the training file(s), or new ones (users "
        "the head has not seen are evaluated as new users); repeat for several."
    )
    attributes_file: str | None = users_field(USERS_HELP["eval"])
    users_id_field: str = users_id_field()
    cache_dir: str = cache_field()
    shots: tuple[int, ...] | None = opt(
        None,
        "PAL: comma-separated few-shot sizes for unseen users (e.g. 1,5,10).",
        parse=lambda t: shot_sizes(t),
        metavar="N,N,...",
    )
    device: str | None = device_field()
    responses: str | None = opt(
        None,
        "How the pairs' responses were extracted (must match `embedkit extract --responses`). Default: the "
        "head's.",
        RESPONSES,
    )
    split: dict = field(default_factory=dict)
    """Split options that override the head's (``val_frac``, ``test_frac``, ``unseen_user_frac``,
    ``fewshot_frac``, ``by``); absent or None ones are the head's."""

    def __post_init__(self):
        self.pairs = file_tuple(self.pairs)
        check_fields(self)


def shot_sizes(text: str) -> tuple[int, ...]:
    """``1,5,10`` -> ``(1, 5, 10)`` (each >= 1)."""
    try:
        sizes = tuple(int(s) for s in str(text).split(","))
    except ValueError:
        raise ValueError(f"expected integers like 1,5,10, got {text!r}") from None
    if min(sizes) < 1:
        raise ValueError("shots must be >= 1")
    return sizes
