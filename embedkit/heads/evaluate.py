"""Evaluating a trained head on pair files: what ``embedkit eval`` runs, callable from Python.

The head's recorded data set-up (split fractions and seed, responses mode, encoder namespace) is reused,
so evaluating on the training files reproduces the training splits; users the head has not seen are
evaluated as new users. The metrics are the head's own (``head.evaluate``), plus the item overlap of each
split, the attribute prior's report (with user attributes) and test metrics per tag value (a file with
group / filtered columns).

    from embedkit.heads import load_head
    from embedkit.heads.evaluate import evaluate_head
    metrics = evaluate_head(load_head("heads/pal-b"), ["pairs.jsonl"], "cache/", shots=[1, 5])

or with the command's options as a config, ``evaluate_run("heads/pal-b", EvalConfig(pairs=..., cache_dir=...))``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from embedkit.data.users import UserAttributes
from embedkit.errors import OptionError
from embedkit.heads.base import RewardHead
from embedkit.heads.run_config import EvalConfig

log = logging.getLogger(__name__)


def evaluate_head(
    head: RewardHead,
    pairs: list[str | os.PathLike],
    cache,
    *,
    split_options: dict | None = None,
    responses: str | None = None,
    shots: list[int] | None = None,
    user_attributes: UserAttributes | None = None,
    on_note: Callable[[str], None] | None = None,
) -> dict:
    """Metrics of ``head`` on the pair files ``pairs``, their texts looked up in ``cache``.

    ``split_options`` (val_frac, test_frac, unseen_user_frac, fewshot_frac, by; None = the head's) and
    ``responses`` override the head's data set-up (``reuse_setup`` refuses overrides that would feed the
    head other vectors or move its training pairs). ``shots``: few-shot sizes of new users (heads with
    per-user weights). ``user_attributes``: a users file's attributes, for the attribute prior's report
    (``attributes``). ``on_note`` receives each note about the set-up (default: logged as a warning).
    Returns the metrics dict (``item_overlap``, and ``attributes`` / ``by`` where they apply).
    """
    from embedkit.heads.pair_data import item_overlap, load_pair_data
    from embedkit.heads.provenance import reuse_setup

    if shots is not None and not head.uses_user_weights:
        raise OptionError(f"--shots applies to heads with per-user weights (PAL), not {head.name}")
    if user_attributes is not None and not head.uses_user_weights:
        raise OptionError(f"user attributes apply to heads with per-user weights (PAL), not {head.name}")
    split, responses, notes = reuse_setup(
        head.data_setup_, list(pairs), head.config.seed, split_options, responses
    )
    for note in notes:
        (on_note or log.warning)(note)
    data = load_pair_data(
        list(pairs),
        cache,
        encoder=head.fingerprint_,
        split=split,
        responses=responses,
        seen_users=getattr(head, "users_", None),
        encoder_spec=head.data_setup_.encoder_spec if head.data_setup_ else "",
    )
    kwargs = {} if shots is None else {"shots": list(shots)}
    metrics = head.evaluate(data, **kwargs)
    metrics["item_overlap"] = item_overlap(data)
    if user_attributes is not None:
        from embedkit.heads.attribute_groups import evaluate_attributes

        metrics["attributes"] = evaluate_attributes(head, data, user_attributes, kwargs.get("shots"))
    if data.tags:  # e.g. Pick-a-Filter's group and filtered columns (PAL Figure 15)
        from embedkit.heads.api import evaluate_by_tags

        metrics["by"] = evaluate_by_tags(head, data, **kwargs)
    return metrics


def evaluate_run(head: RewardHead | str | os.PathLike, run: EvalConfig, on_note=None) -> dict:
    """What ``embedkit eval`` runs, from its options (:class:`EvalConfig`): :func:`evaluate_head` on
    ``run.pairs`` with ``run.attributes_file`` read and the split overrides of ``run.split``. ``head``: a
    head, or its folder / Hub id (loaded on ``run.device``)."""
    if not isinstance(head, RewardHead):
        from embedkit.heads.save_load import load_head

        head = load_head(head, device=run.device)
    attributes = None
    if run.attributes_file:
        if not head.uses_user_weights:  # before the users file is read
            raise OptionError(f"--users applies to heads with per-user weights (PAL), not {head.name}")
        from embedkit.data.users import read_user_attributes

        attributes = read_user_attributes(run.attributes_file, run.users_id_field)
    return evaluate_head(
        head,
        list(run.pairs),
        run.cache_dir,
        split_options=run.split,
        responses=run.responses,
        shots=list(run.shots) if run.shots else None,
        user_attributes=attributes,
        on_note=on_note,
    )
