"""Scoring files with a saved head: what ``embedkit score`` runs, callable from Python. ``ScoreConfig``'s
fields are the command's options (help included).

    from embedkit.score.run import ScoreConfig, score_files
    run = ScoreConfig(cache_dir="cache/", pairs=("todo.jsonl",), fewshot=("new.jsonl",), out="scored.jsonl")
    summary = score_files("heads/pal-b", run)  # rows, accuracy by shots, users file
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embedkit.atomic import committing, finish_commit
from embedkit.data.users import UserAttributes
from embedkit.errors import OptionError
from embedkit.options import (
    REQUIRED,
    cache_field,
    check_fields,
    device_field,
    extract_missing_field,
    file_tuple,
    opt,
    pairs_field,
    users_field,
    users_id_field,
)
from embedkit.score.files import DEFAULT_CHUNK


@dataclass(kw_only=True)
class ScoreConfig:
    """What ``score`` reads and writes: pairs or candidates for each row's user, new users' weights from
    few-shot pairs, attributes or an earlier run's users file."""

    cache_dir: str = cache_field()
    pairs: tuple[str, ...] = pairs_field(
        "Pairs to score (the pair format; labels optional): each output row is the input row plus p_left "
        "(probability the left / chosen response is preferred by the row's user), reward_left, reward_right.",
        required=False,
    )
    candidates: tuple[str, ...] = opt(
        (),
        'Rows {"user", "prompt", "responses": [...]}: each output row adds rewards (one per response) and '
        "ranking (response indices, best first).",
        path="any",
        multiple=True,
    )
    out: str = opt(
        REQUIRED,
        "Output file: JSONL, or Parquet for .parquet. The users' weights go to OUT.users.jsonl (.parquet).",
        path="file",
    )
    fewshot: tuple[str, ...] = opt(
        (),
        "Labelled pairs with a user field: each of their users' weights is fitted from them (PAL heads). Users "
        "without few-shot pairs get zero-shot weights; seen users keep their trained weights.",
        path="any",
        multiple=True,
    )
    attributes_file: str | None = users_field(
        "PAL heads: a user in it with no few-shot pairs (and not a seen user) is scored from attributes alone "
        "(the head's attribute prior); with few-shot pairs, their attribute point is the prior's mean."
    )
    users_id_field: str = users_id_field()
    user_weights: str | None = opt(
        None,
        "A users file from an earlier run (OUT.users.jsonl): score again without refitting those users.",
        path="file",
        exists=True,
    )
    fewshot_method: str | None = opt(
        None,
        "How --fewshot weights are fitted (default: the head's, map). See `embedkit fit-head --help`.",
        ("map", "mle", "knn"),
    )
    extract_missing: bool = extract_missing_field()
    chunk_size: int = opt(DEFAULT_CHUNK, "Rows scored at a time.", min=1)
    device: str | None = device_field()
    overwrite: bool = opt(False, "Replace an existing --out (and its users file).")
    progress: bool = opt(True, "Show a progress bar.")

    def __post_init__(self):
        for name in ("pairs", "candidates", "fewshot"):
            setattr(self, name, file_tuple(getattr(self, name)))

    def validate(self) -> None:
        check_fields(self)
        if bool(self.pairs) == bool(self.candidates):
            raise OptionError("give exactly one of --pairs or --candidates")


def score_files(
    head,
    run: ScoreConfig,
    *,
    attributes: UserAttributes | None = None,
    on_note: Callable[[str], None] | None = None,
) -> dict:
    """Score ``run.pairs`` (or ``run.candidates``) with ``head`` (a folder or Hub id) into ``run.out``, and
    the users' weights into ``OUT.users.jsonl``; both written atomically (an interrupted run leaves
    nothing half written). ``attributes``: users' attributes (default: ``run.attributes_file`` read, if set).
    Returns the summary (rows, accuracy by shots, users by source, the files written)."""
    from embedkit.errors import MissingKeysError
    from embedkit.score.api import load_reward_model
    from embedkit.score.files import read_fewshot, score_candidates_file, score_pairs_file, users_file
    from embedkit.score.missing import extract_missing_inputs, missing_inputs_error
    from embedkit.score.users import UserWeights, fit_users

    run.validate()
    out_path, users_path = Path(run.out), users_file(run.out)
    finish_commit(out_path)  # a run killed after it committed its two files: complete it first
    for p in (out_path, users_path):
        if p.exists() and not run.overwrite:
            raise FileExistsError(f"{p} exists; pass --overwrite or choose another --out")
    model = load_reward_model(head, cache=run.cache_dir, device=run.device, allow_encode=False)
    head = model.head
    personal = run.fewshot or run.user_weights or run.fewshot_method or run.attributes_file or attributes
    if personal and not head.uses_user_weights:
        raise OptionError(
            f"--fewshot / --fewshot-method / --users / --user-weights apply to PAL heads; {head.name} is a "
            "population model"
        )
    if attributes is None and run.attributes_file:
        from embedkit.data.users import read_user_attributes

        attributes = read_user_attributes(run.attributes_file, run.users_id_field)
    inputs = list(run.pairs or run.candidates)
    kind = "pairs" if run.pairs else "candidates"
    fewshot = list(run.fewshot)
    if run.extract_missing:
        done = extract_missing_inputs(model, fewshot, inputs, kind=kind, progress=run.progress)
        if done.encoded and on_note is not None:
            on_note(f"embedded {done.encoded} input(s) the cache lacked into {run.cache_dir}")
    model.embedder.open()  # a cache that lacks the head's vectors: its error before any progress bar
    try:
        weights = None
        if head.uses_user_weights:
            given = UserWeights.load(run.user_weights, head.config.K) if run.user_weights else None
            fs = read_fewshot(model, fewshot) if fewshot else None
            weights = fit_users(head, fs, given=given, method=run.fewshot_method, attributes=attributes)
        scorer = score_pairs_file if run.pairs else score_candidates_file
        # The scored rows and the users' weights change together: both are written under hidden names,
        # then renamed, the users file first and the scored file last (embedkit.atomic.committing).
        with committing(users_path, out_path) as (users_tmp, out_tmp):
            summary, uw = scorer(
                model, inputs, out_tmp, weights=weights, chunk_size=run.chunk_size, progress=run.progress
            )
            if uw is not None:
                uw.save(users_tmp)
    except MissingKeysError as e:  # name every input the cache lacks, not just the first chunk's
        raise missing_inputs_error(model, fewshot, inputs, kind, run.cache_dir, e) from None
    result = summary.to_dict()
    result["out"] = str(out_path)
    if uw is not None:
        result["users_file"] = str(users_path)
    return result
