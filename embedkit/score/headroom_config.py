"""The options of the headroom report (:mod:`embedkit.score.headroom`): one dataclass that ``embedkit
headroom`` generates its options from and the Python API takes."""

from __future__ import annotations

from dataclasses import dataclass

from embedkit.data.splits import SplitConfig
from embedkit.options import csv_tuple, joined, opt

SPLIT_NAMES = ("per-user", "item-disjoint")


def _int_tuple(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in csv_tuple(value))
    except ValueError:
        raise ValueError(f"expected comma-separated integers like 1,2,5,10,20, got {value!r}") from None


def _key_values(value: str) -> tuple[str, ...]:
    return csv_tuple(value)


@dataclass(frozen=True)
class HeadroomConfig:
    """Options of the headroom report (``embedkit headroom``; the Python API takes the same)."""

    model: str = opt("pal-b", "The head fitted on each split: one with per-user weights (pal-b, pal-a).")
    K: int = opt(3, "Prototypes of the head (at most the number of seen users).", min=1)
    shots: tuple[int, ...] = opt(
        (1, 2, 5, 10, 20),
        "Few-shot sizes of new users, each over the new users with that many few-shot pairs.",
        parse=_int_tuple,
        show=joined,
        metavar="N,N,...",
    )
    head_options: tuple[str, ...] = opt(
        (),
        "Other settings of the head, as its config names them: KEY=VALUE,... (e.g. hidden_dim=64,epochs=5; "
        "see `embedkit fit-head --help`).",
        parse=_key_values,
        show=joined,
        metavar="KEY=VALUE,...",
    )
    unseen_user_frac: float = opt(
        0.2, "Users held out of training as new users (both splits).", min=0, max=0.95
    )
    fewshot_frac: float = opt(
        0.5,
        "per-user split: share of a new user's pairs that are few-shot pairs (the rest test).",
        min=0,
        max=0.95,
    )
    val_frac: float = opt(0.1, "Seen users' pairs (item-disjoint: items) for validation.", min=0, max=0.95)
    test_frac: float = opt(0.2, "per-user split: seen users' pairs held out as test.", min=0, max=0.95)
    item_test_frac: float = opt(
        0.35,
        "item-disjoint split: items held out as test items (a new user's test pairs compare only them).",
        min=0,
        max=0.95,
    )
    oracle_prior_var: float = opt(
        10.0, "Logit variance of the weak prior of the oracle per-user fit.", min=0, min_open=True
    )
    train_on_ties: bool = opt(False, "Fit the heads on tie labels too (they are always counted).")
    encoder: str = opt("minilm", "The cached namespace (the --encoder given to `embedkit extract`).")
    responses: str = opt(
        "in-context",
        "How the pairs' responses were extracted (must match `embedkit extract --responses`).",
        choices=("in-context", "alone", "images"),
    )
    seed: int = opt(0, "Seed of the splits, the heads and the oracle's folds.")
    splits: tuple[str, ...] = opt(
        SPLIT_NAMES,
        "Which splits to report on: per-user, item-disjoint or both.",
        parse=csv_tuple,
        show=joined,
    )

    def validate(self) -> None:
        if not self.shots or min(self.shots) < 1:
            raise ValueError(f"--shots must be integers >= 1, got {joined(self.shots) or 'none'}")
        if self.K < 1:
            raise ValueError(f"--K must be >= 1, got {self.K}")
        for kv in self.head_options:
            if "=" not in kv:
                raise ValueError(f"--head-options: expected KEY=VALUE, got {kv!r}")
        unknown = sorted(set(self.splits) - set(SPLIT_NAMES))
        if unknown or not self.splits:
            raise ValueError(
                f"--splits must name per-user and/or item-disjoint, got {joined(self.splits) or 'none'}"
            )
        for split in self.split_configs().values():
            split.validate()

    def split_configs(self) -> dict[str, SplitConfig]:
        """The splits the report is made on, by name."""
        every = {
            "per-user": SplitConfig(
                self.val_frac, self.test_frac, self.unseen_user_frac, self.fewshot_frac, self.seed, by="user"
            ),
            "item-disjoint": SplitConfig(
                self.val_frac,
                self.item_test_frac,
                self.unseen_user_frac,
                self.fewshot_frac,
                self.seed,
                by="item",
            ),
        }
        return {name: every[name] for name in SPLIT_NAMES if name in self.splits}

    def head_config(self) -> dict:
        """The head's settings: K, the seed and ``head_options`` (values parsed as JSON where they parse)."""
        import json

        out: dict = {"K": self.K, "seed": self.seed}
        for kv in self.head_options:
            key, value = kv.split("=", 1)
            try:
                out[key.strip()] = json.loads(value)
            except ValueError:
                out[key.strip()] = value.strip()
        return out
