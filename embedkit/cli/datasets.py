"""The ``embedkit convert`` and ``embedkit build`` commands, generated from the data set registry
(``embedkit.datasets.registry``): an entry's input argument, ``--out`` / ``--overwrite``, one option per
field of its config (``config_options``) and the call of its function; the CLI only parses, calls and
prints."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path

import click

from embedkit.cli.options import config_from, config_options, field_options, split_options, take_split_options
from embedkit.data.pairs import SPLITS
from embedkit.datasets.registry import DatasetEntry, _resolve, datasets_of
from embedkit.options import REQUIRED, cache_field, csv_tuple, opt


class DatasetGroup(click.Group):
    """``embedkit convert`` / ``embedkit build``: one subcommand per registry entry of ``command``
    (plugins included), each generated when it is used or listed."""

    def __init__(self, *args, command: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry_command = command

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *datasets_of(self.registry_command)})

    def get_command(self, ctx, name):
        if name not in self.commands:
            entry = datasets_of(self.registry_command).get(name)
            if entry is not None:
                cmd = _resolve(entry.handwritten) if entry.handwritten else dataset_command(entry)
                self.add_command(cmd, name)
        return super().get_command(ctx, name)


# -- options shared by the generated commands --------------------------------------------------------


_out_option = field_options(
    out=opt(REQUIRED, "Pair file to write (JSONL).", path="file"),
    overwrite=opt(False, "Replace an existing output file."),
)


_SPLIT_HELP = {
    "val_frac": "Split column: seen annotators' pairs (--split-by item: items) for validation.",
    "test_frac": "Split column: seen annotators' pairs (--split-by item: items) for test.",
    "unseen_user_frac": "Split column: annotators held out as new users.",
    "fewshot_frac": "Split column: share of a new annotator's pairs for few-shot (--split-by user).",
    "by": "Split column: val/test pairs drawn within each seen annotator (user), or item-disjoint (item: "
    "val/test items held out; a pair is in a split only when both its items are, so test pairs compare "
    "items no training pair touched).",
}


def _ratings_options(f, **defaults):
    """What rating converters share: the pairing, the split column, --skip-bad."""
    from embedkit.data.ratings import PairingConfig

    f = field_options(
        skip_bad=opt(False, "Skip bad rows (listed in the report) instead of stopping at the first.")
    )(f)
    f = split_options(helps=_SPLIT_HELP)(f)
    return config_options(PairingConfig, defaults=defaults)(f)


def rating_split(split_given: dict, pairing, item_split: bool = False):
    """The split column's ``SplitConfig`` of a rating converter (seeded like the pairing), or None where
    the pairs get none: Likert rows without an item-disjoint split (``item_split``: the source's own)."""
    from embedkit.data.splits import SplitConfig

    if pairing.likert and split_given["by"] != "item" and not item_split:
        return None
    return config_from(SplitConfig, split_given, seed=pairing.seed)


@dataclasses.dataclass(frozen=True)
class ExtraOption:
    """An option with no config home (``DatasetEntry.extras``): the field ``dest`` declared with ``opt``,
    passed to the function as ``param``."""

    field: dataclasses.Field
    dest: str
    param: str
    before_config: bool = False

    @property
    def decorator(self) -> Callable:
        return field_options(**{self.dest: self.field})

    def value(self, given: dict):
        """This option's value, taken out of the command's keyword arguments (parsed as its field says)."""
        v = given.pop(self.dest)
        parse = self.field.metadata.get("parse")
        return parse(v) if parse is not None and isinstance(v, str) else v


EXTRA_OPTIONS = {
    "cache": ExtraOption(
        cache_field("Cache the item vectors go into."), "cache_dir", "cache", before_config=True
    ),
    "personas": ExtraOption(
        opt(
            None,
            "Comma-separated persona names instead of --K-star (e.g. math,music).",
            parse=lambda text: list(csv_tuple(text)) or None,  # blank: None, as not given
        ),
        "personas",
        "personas",
    ),
    "persona_dir": ExtraOption(
        opt(
            None,
            "Folder of persona files (interest-in-<name>.jsonl or <name>.jsonl). Default: data/persona.",
            path="dir",
            exists=True,
        ),
        "persona_dir",
        "persona_dir",
    ),
}

_INPUTS = {
    "file": lambda: click.argument("input_path", type=click.Path()),
    "files": lambda: click.argument("inputs", nargs=-1, required=True, type=click.Path()),
    "pairs": lambda: click.argument("pairs", type=click.Path(dir_okay=False, exists=True)),
}


def dataset_command(entry: DatasetEntry) -> click.Command:
    """The click command of ``entry`` (see :class:`DatasetEntry` for what each part of it generates)."""
    cfg_cls = entry.load_config()
    decorators = [_INPUTS[entry.inputs]()] if entry.inputs else []
    config = [config_options(cfg_cls, skip=entry.skip, defaults=entry.defaults)] if cfg_cls else []
    extras = [EXTRA_OPTIONS[name] for name in entry.extras]
    if entry.kind == "folder":
        out = field_options(out_dir=opt(REQUIRED, entry.out_help, cli="--out", path="dir"))
        decorators += [out, *(x.decorator for x in extras if x.before_config), *config]
        decorators += [x.decorator for x in extras if not x.before_config]
        decorators.append(field_options(overwrite=opt(False, entry.overwrite_help)))
    else:
        decorators += [_out_option, *config, *(x.decorator for x in extras)]
        if entry.kind == "ratings":
            decorators.append(lambda f: _ratings_options(f, **entry.defaults))
    if entry.progress_help:
        decorators.append(field_options(progress=opt(True, entry.progress_help)))

    def command(**given):
        _run(entry, cfg_cls, given)

    for deco in reversed(decorators):
        command = deco(command)
    return click.command(entry.name, help=inspect.cleandoc(entry.help))(command)


def _pairs_out(rows: list[dict], report: dict, out: str, source: str, unit: str = "row") -> None:
    """Write converted rating pairs and their report (OUT.report.json), saying first how many pairs were
    possible and what capped them, then what was skipped, repeated or dropped."""
    import json as _json

    from embedkit.atomic import committing, write_text
    from embedkit.data.convert import write_pairs

    if not rows:
        raise click.ClickException(
            f"{source}: no pairs could be formed (each annotator needs two rated items)"
        )
    capped = f", capped by {report['capped']}" if report.get("capped") else ""
    click.echo(f"{report['possible_pairs']} pairs possible; writing {len(rows)}{capped}", err=True)
    report_path = Path(out).with_name(Path(out).stem + ".report.json")
    # the report and the pairs change together (the report first, the pair file last: embedkit.atomic)
    with committing(report_path, out) as (report_tmp, out_tmp):
        write_text(report_tmp, _json.dumps(report, indent=1) + "\n")
        n = write_pairs(iter(rows), out_tmp)
    click.echo(
        f"{report['ratings']} ratings by {report['annotators']} annotators of {report['items']} items -> "
        f"{n} pairs ({report['ties']} ties) in {out}; report {report_path}"
    )
    example = report["preferred"].get("example")
    if example:
        won, lost = example["preferred"], example["other"]
        click.echo(
            f"--prefer {report['preferred']['prefer']}: the item with the {report['preferred']['prefer']} score is "
            f"preferred; e.g. {example['user']} scored {won['item']} {won['score']:g} ({won['text']!r:.60}) and "
            f"{lost['item']} {lost['score']:g} ({lost['text']!r:.60}), so {won['item']} is the preferred side "
            f"(--prefer {'higher' if report['preferred']['prefer'] == 'lower' else 'lower'} turns this round)"
        )
    if report.get("small_splits"):
        small = sorted(report["small_splits"], key=lambda x: SPLITS.index(x["split"]))
        sizes = ", ".join(f"{x['split']} {x['pairs']}" for x in small)
        worst = max(small, key=lambda x: x["accuracy_se"])
        click.echo(
            f"small held-out split(s) of the {n} pairs: {sizes} pairs; an accuracy on n pairs has a standard "
            f"error up to 0.5/sqrt(n) ({worst['accuracy_se']:.2f} at {worst['pairs']}), too noisy to tell heads "
            "apart: give them more annotators or items (the split fractions, --split-by)",
            err=True,
        )
    if report.get("repeated_items"):
        first = report["repeated_items"][0]
        click.echo(
            f"{len(report['repeated_items'])} item(s) repeat an earlier item's text, annotators and labels exactly "
            f"(e.g. {first['item']} in {first['file']} repeats {first['repeats']} in {first['repeats_file']}): "
            "each annotator's two copies make a tie pair. Is a file given twice under another name?",
            err=True,
        )
    skipped = report.get("skipped_rows", report.get("skipped_items", []))
    if skipped:
        first = skipped[0]
        where = f"{first['file']}:{first['line']}" if first.get("line") else first["file"]
        click.echo(f"skipped {len(skipped)} bad {unit}(s); first: {where}: {first['error']}", err=True)
    if report["repeated_rows"]:
        first = report["repeated_rows"][0]
        click.echo(
            f"{len(report['repeated_rows'])} row(s) repeat an earlier row exactly and were read once (e.g. "
            f"{first['file']}:{first['line']} repeats line {first['repeats_line']})",
            err=True,
        )
    if report.get("dropped_across_item_splits"):
        click.echo(
            f"{report['dropped_across_item_splits']} pair(s) compare items of two different splits and were "
            "left out (item-disjoint split)",
            err=True,
        )
    if report["annotators_with_one_item"]:
        first = report["annotators_with_one_item"][0]
        where = f" at {first['file']}:{first['line']}" if first.get("line") else ""
        click.echo(
            f"{len(report['annotators_with_one_item'])} annotator(s) rated a single item and give no pairs "
            f"(e.g. {first['user']!r}{where})",
            err=True,
        )


# -- running an entry ----------------------------------------------------------------------------------


def _check_out(out: str, overwrite: bool) -> None:
    from embedkit.atomic import finish_commit

    finish_commit(out)  # a run killed after it committed its files: complete it first
    if Path(out).exists() and not overwrite:
        raise click.ClickException(f"{out} exists; pass --overwrite or choose another --out")


def _check_folder(out_dir: str, overwrite: bool) -> None:
    if (Path(out_dir) / "pairs.jsonl").exists() and not overwrite:
        raise click.ClickException(f"{out_dir}/pairs.jsonl exists; pass --overwrite or choose another --out")


def _run(entry: DatasetEntry, cfg_cls: type | None, given: dict) -> None:
    inputs = [given.pop(name) for name in ("input_path", "inputs", "pairs") if name in given]
    extras = {EXTRA_OPTIONS[name].param: EXTRA_OPTIONS[name].value(given) for name in entry.extras}
    overwrite = given.pop("overwrite")
    run = entry.load()
    if entry.kind == "folder":
        out_dir = given.pop("out_dir")
        _check_folder(out_dir, overwrite)
        kwargs = {"out_dir": out_dir, **{k: v for k, v in extras.items() if v is not None}}
        if "progress" in given:
            kwargs["progress"] = given.pop("progress")
        cfg = config_from(cfg_cls, given) if cfg_cls else None
        if cfg is not None:
            kwargs["cfg"] = cfg
        result = run(*inputs, **kwargs)
        lines = _resolve(entry.summary)(result, cfg, out_dir, **extras) if entry.summary else []
        for line in lines or [f"wrote {out_dir}/pairs.jsonl"]:
            click.echo(line)
        return
    out = given.pop("out")
    _check_out(out, overwrite)
    if entry.kind == "rows":
        cfg = config_from(cfg_cls, given) if cfg_cls else None
        from embedkit.data.convert import write_pairs

        rows = run(*inputs, **dataclasses.asdict(cfg)) if cfg is not None else run(*inputs)
        n = write_pairs(rows, out)
        click.echo(f"wrote {n} pairs to {out}")
        return
    from embedkit.data.ratings import PairingConfig

    skip_bad = given.pop("skip_bad")
    split_given = take_split_options(given)
    cfg = config_from(cfg_cls, given)
    pairing = config_from(PairingConfig, given)
    split = rating_split(split_given, pairing)
    rows, report = run(*inputs, cfg, pairing, split=split, skip_bad=skip_bad)
    source = ", ".join(inputs[0]) if entry.inputs == "files" else inputs[0]
    _pairs_out(rows, report, out, source)
