"""Training a head from pair files into a head folder: what ``embedkit fit-head`` runs, callable from
Python (and by benchmarks).

    from embedkit.heads.fit import fit_head
    from embedkit.heads.run_config import FitConfig
    run = FitConfig(model="pal-b", pairs=("pairs.jsonl",), cache_dir="cache/", out_dir="heads/pal-b")
    result = fit_head(run, {"K": "auto"})  # result.head, result.selection (K = 1..run.k_max)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedkit.data.users import UserAttributes
from embedkit.errors import OptionError
from embedkit.heads.base import RewardHead
from embedkit.heads.run_config import FitConfig
from embedkit.heads.select_k import KSelection


@dataclass
class FitResult:
    """The trained (and saved) head, the K selection when K was ``auto``, and where the seconds went."""

    head: RewardHead
    selection: KSelection | None = None
    timings: dict[str, float] = field(default_factory=dict)


def foreign_options(model: str, options: dict) -> str | None:
    """What is wrong when ``options`` (None values: not given) set fields ``model``'s config lacks."""
    from embedkit.heads.registry import config_class

    names = {fl.name for fl in dataclasses.fields(config_class(model))}
    foreign = sorted(k for k, v in options.items() if v is not None and k not in names)
    if not foreign:
        return None
    return f"--model {model} has no option(s) {', '.join('--' + k.replace('_', '-') for k in foreign)}"


def head_config(model: str, options: dict):
    """``model``'s config from ``options`` (None values left out: the config's defaults); an option of
    another head is an error naming it."""
    from embedkit.heads.registry import config_class

    problem = foreign_options(model, options)
    if problem:
        raise OptionError(problem)
    cfg = config_class(model)(**{k: v for k, v in options.items() if v is not None})
    cfg.validate()
    return cfg


def fit_head(
    run: FitConfig, options: dict | None = None, *, user_attributes: UserAttributes | None = None
) -> FitResult:
    """Train ``run.model`` on ``run.pairs`` (vectors from ``run.cache_dir``) and save it to ``run.out_dir``.

    ``options``: the head's hyper-parameters (its config's fields); ``{"K": "auto"}`` fits K = 1..
    ``run.k_max`` and keeps the smallest within noise of the best (``select_k``; the selection is saved
    beside the head). ``user_attributes``: attributes of the users for the attribute prior of PAL heads
    (default: ``run.attributes_file`` read, if set). An existing non-empty ``out_dir`` is refused unless
    ``run.overwrite``.
    """
    t_start = time.perf_counter()
    options = dict(options or {})
    run.check(options, attributes=user_attributes is not None)
    if user_attributes is None and run.attributes_file:
        from embedkit.data.users import read_user_attributes

        user_attributes = read_user_attributes(run.attributes_file, run.users_id_field)
    k_auto = options.get("K") == "auto"
    if k_auto:
        options["K"] = None
    cfg = head_config(run.model, options)
    out = Path(run.out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not run.overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --overwrite or choose another --out")
    from embedkit.heads.pair_data import load_pair_data

    data = load_pair_data(
        list(run.pairs),
        run.cache_dir,
        encoder=run.encoder,
        split=dataclasses.replace(run.split, seed=cfg.seed),
        responses=run.responses,
    )
    timings = {"read_pairs_and_cache": time.perf_counter() - t_start}
    if k_auto:
        from embedkit.heads.select_k import save_with_selection, select_k

        kwargs = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "K"}
        t_select = time.perf_counter()
        head, sel = select_k(
            run.model, data, run.k_max, progress=run.progress, repeats=run.k_repeats, **kwargs
        )
        timings["select_k"] = time.perf_counter() - t_select
        t_save = time.perf_counter()
        save_with_selection(head, sel, out, overwrite=run.overwrite)
        timings["save"] = time.perf_counter() - t_save
        return FitResult(head, sel, timings)
    from embedkit.heads.api import create_head

    head = create_head(run.model, **dataclasses.asdict(cfg)).fit(
        data, progress=run.progress, user_attributes=user_attributes
    )
    timings.update(head.timings_)
    t_save = time.perf_counter()
    head.save(out, overwrite=run.overwrite)
    timings["save"] = time.perf_counter() - t_save
    return FitResult(head, None, timings)
