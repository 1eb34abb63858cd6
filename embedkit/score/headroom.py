"""How much can personalisation gain on a pair file at all? The headroom report (issue #30).

For one pair file with a ``user`` column, on two splits (``per-user``: a new user's test pairs may
compare items their few-shot pairs showed; ``item-disjoint``: test items appear in no training or
few-shot pair), a head with per-user weights (PAL-B by default) is fitted on the seen users, and the
held-out (new) users' test pairs are scored by:

- the **population point** (zero-shot): the seen users' mean weights, the same for everyone;
- **few-shot** weights from 1, 2, 5, 10, 20 of each new user's pairs: the head's own new-user fit
  (``head.evaluate(..., shots=...)``, MAP under its calibrated prior), each next to the population
  point's accuracy on the same users' pairs;
- an **oracle per-user fit**: each new user's weights fitted on all their *other* items (two folds by
  items within each user: a test pair is scored with weights fitted on every pair of that user that
  touches none of the items scored in its fold), under a weak prior (isotropic logit variance
  ``oracle_prior_var`` around the population point) rather than the calibrated one. With the encoder,
  f, g and the prototypes frozen, this is about the best any per-user weighting can do: the ceiling of
  personalisation with this head, next to the population point on the same pairs
  (:mod:`embedkit.score.headroom_oracle`).

Beside them, from the file's labels alone: the share of tie labels and Krippendorff's alpha on the item
pairs several users labelled (:mod:`embedkit.data.agreement`). Ties are counted, then left out of
fitting and scoring (accuracy leaves them out anyway) unless ``train_on_ties``.

The attribute prior (issue #30 parts 1-2) has a slot, ``attribute_prior``, in each split's section; it
says ``no users file`` until a users file is given to a head that has one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable

import numpy as np

from embedkit.data.agreement import agreement, tie_share
from embedkit.data.splits import SplitConfig
from embedkit.errors import InputError
from embedkit.score.headroom_config import HeadroomConfig
from embedkit.score.headroom_oracle import oracle_fit

__all__ = ["HeadroomConfig", "headroom_report", "split_headroom"]

log = logging.getLogger(__name__)


def is_tie(counts: np.ndarray) -> np.ndarray:
    """Rows (n, 5 LABEL_BINS counts) all of whose labels are ties. (n,) bool."""
    total = counts.sum(axis=1)
    return (total > 0) & (counts[:, 2] == total)


def drop_ties(data):
    """The pairs without tie rows. A seen user whose training pairs were all ties becomes a new user, as the
    splits treat a user with no training pair: their val pairs are few-shot pairs, their test pairs test."""
    data = data.subset(~is_tie(data.counts))
    users = data.user.astype(str)
    orphan = ~np.isin(users, users[data.split == "train"]) & np.isin(data.split, ["val", "test"])
    if orphan.any():
        split = data.split.copy()
        split[orphan & (data.split == "val")] = "fewshot"
        split[orphan & (data.split == "test")] = "unseen_test"
        data.split = split
    return data


def headroom_report(
    pairs: list[str | os.PathLike],
    cache,
    config: HeadroomConfig | None = None,
    progress: bool = False,
    notify: Callable[[str], None] | None = None,
    users: str | os.PathLike | None = None,
) -> dict:
    """The headroom report of pair file(s): ties, agreement, and per split the accuracy of new users at the
    population point, by shots, and under the oracle per-user fit (see the module docstring).

    ``cache``: the embedding cache (a folder or an ``EmbeddingCache``); ``progress``: the heads' progress
    bars; ``notify``: called with one line as each split starts and ends; ``users``: a users file of
    annotator attributes, for the attribute prior's slot. Returns a JSON-ready dict (NaN where undefined).
    """
    from embedkit.heads import create_head, head_class, load_pair_data
    from embedkit.heads.pair_data import item_overlap

    config = config or HeadroomConfig()
    config.validate()
    attrs = None
    if users is not None:  # a bad users file stops the run before any head is fitted
        from embedkit.data.users import UserAttributes, read_user_attributes

        attrs = users if isinstance(users, UserAttributes) else read_user_attributes(users)
    if not getattr(head_class(config.model), "uses_user_weights", False):  # an ability, not a name
        raise InputError(
            f"the headroom report needs a head with per-user weights (pal-b, pal-a), not {config.model}",
            field="model",
        )
    head_cls = head_class(config.model)
    settings = {f.name for f in dataclasses.fields(head_cls.Config)}
    unknown = sorted(set(config.head_config()) - settings)
    if unknown:
        raise InputError(
            f"{config.model} has no setting {', '.join(unknown)} (its settings: {', '.join(sorted(settings))})",
            field="head_options",
        )
    head_cls.Config(**config.head_config()).validate()  # a bad value stops the run before any data is read
    notify = notify or (lambda line: log.info("%s", line))
    pairs = [str(p) for p in pairs]
    report: dict = {"pairs": pairs, "config": dataclasses.asdict(config), "splits": {}}
    every_row = SplitConfig(seed=config.seed)  # a per-user split keeps every row of the file
    for name, split in {"labels": every_row, **config.split_configs()}.items():
        if name == "labels" and "per-user" in config.splits:
            continue  # the per-user split's own rows serve
        data = load_pair_data(pairs, cache, encoder=config.encoder, split=split, responses=config.responses)
        if not data.has_users:
            raise InputError(
                "the pairs have no user column: the headroom report compares people, so each pair needs "
                "the `user` who labelled it",
                file=pairs[0],
                field="user",
            )
        if split.by == "user":  # every row of the file (the item-disjoint split drops pairs across its items)
            report["ties"] = tie_share(data.counts)
            report["agreement"] = agreement(data.prompt, data.a, data.b, data.counts)
            report["users"] = len(set(data.user.tolist()))
        if name == "labels":
            continue
        if not config.train_on_ties:
            data = drop_ties(data)
        notify(f"{name} split: fitting {config.model} K={config.K} on {data!r}")
        head = create_head(config.model, **config.head_config())
        fit_kw = {"user_attributes": attrs} if attrs is not None and head.supports_user_attributes else {}
        head.fit(data, progress=progress, **fit_kw)
        section = split_headroom(head, data, config.shots, config.oracle_prior_var, config.seed)
        section["item_overlap"] = item_overlap(data)
        section["attribute_prior"] = attribute_prior_slot(head, data, attrs)
        report["splits"][name] = section
        notify(f"{name} split: {conclusion_of(section)}")
    report["conclusion"] = conclusion(report)
    return report


def split_headroom(head, data, shots, oracle_prior_var: float = 10.0, seed: int = 0) -> dict:
    """One split's section: the fitted ``head``'s new users (the ``fewshot`` / ``unseen_test`` rows of
    ``data``) at the population point, by ``shots`` and under the oracle; and its seen users' test
    accuracy, for reference."""
    new = data.in_split("fewshot", "unseen_test")
    if not len(new.in_split("unseen_test")):
        raise InputError(
            "no new user has test pairs on this split: raise --unseen-user-frac, or give more pairs per user"
        )
    unseen = head.evaluate(new, shots=sorted(set(shots)))["unseen"]
    seen_test = head.metrics_.get("seen", {}).get("test", {}).get("accuracy") if head.metrics_ else None
    by_shots = {s: v for s, v in unseen.get("shots", {}).items() if v.get("users")}
    for v in by_shots.values():
        v["gain"] = v["accuracy"] - v["zero_shot"]
    return {
        "data": repr(data),
        "seen_test": seen_test,
        "new_users": unseen["users"],
        "test_pairs": unseen["pairs"],
        "population": unseen["zero_shot"],
        "few_shot": by_shots,
        "few_shot_missing": [str(s) for s in shots if str(s) not in by_shots],
        "few_shot_fallback": bool(getattr(head.prior_, "fallback", False)) if head.prior_ else None,
        "oracle": oracle_fit(head, new, oracle_prior_var, seed),
    }


def attribute_prior_slot(head, data, attrs) -> dict:
    """New users' zero-shot accuracy at their attribute point against the population point on the same
    pairs (:func:`embedkit.heads.attributes.evaluate_attributes`), when a users file was given; otherwise
    says why the slot is empty. Where the prior fell back, the attribute point is the population point and
    the gain is 0 by construction."""
    if attrs is None:
        return {"status": "no users file"}
    if getattr(head, "attribute_prior_", None) is None:
        return {"status": f"not computed: {head.name} takes no user attributes"}
    from embedkit.heads.attribute_groups import evaluate_attributes

    m = evaluate_attributes(head, data, attrs, zero_shot_only=True)  # the row needs no few-shot fits
    z = m.get("zero_shot")
    if not z:
        return {"status": m.get("note", "no new users' test pairs"), "prior": m["prior"]}
    prior = m["prior"]
    return {
        "status": "used" if prior.get("used") else "fell back to the population point",
        "prior": prior,
        "users": m["users"]["new"],
        "with_attributes": m["users"]["with_attributes"],
        "pairs": m["users"]["pairs"],
        "accuracy": z["attributes"],
        "population": z["population"],
        "gain": z["gain"],
        "gain_se": z["gain_se"],
    }


def _points(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:+.1f}"


def conclusion_of(section: dict) -> str:
    """One split's conclusion: "personalisation can add at most X points here; 20 shots add Z"."""
    oracle = section["oracle"]
    text = f"personalisation can add at most {_points(oracle.get('gain'))} points here"
    gain, se = oracle.get("gain"), oracle.get("gain_se")
    if se is not None and np.isfinite(se):
        noise = ""
        if gain is not None and abs(gain) <= 2 * se:
            noise = ", within noise"
        elif gain is not None and gain < 0:
            noise = ", below the population point"
        text += f" (± {100 * se:.1f}{noise})"
    if section["few_shot"]:
        s = max(section["few_shot"], key=int)
        text += f"; {s} shots add {_points(section['few_shot'][s]['gain'])}"
    slot = section.get("attribute_prior", {})
    if "gain" in slot:
        text += f"; the attribute prior adds {_points(slot['gain'])}"
    return text


def conclusion(report: dict) -> str:
    """The report's one line: each split's conclusion."""
    return "; ".join(f"{name}: {conclusion_of(s)}" for name, s in report["splits"].items())
