"""Command-line options generated from config dataclasses (fields made with ``embedkit.options.opt``): the
config is the one source of a command's options, defaults and help, and :func:`config_from` turns what
click parsed back into the config."""

from __future__ import annotations

import dataclasses

import click

from embedkit.options import cli_name, opt


def _click_type(f: dataclasses.Field):
    meta = f.metadata
    if meta.get("choices"):
        return click.Choice(list(meta["choices"]))
    if meta.get("parse"):
        return str
    if meta.get("path"):
        kind = meta["path"]
        return click.Path(dir_okay=kind != "file", file_okay=kind != "dir", exists=bool(meta.get("exists")))
    declared = _declared_default(f)
    if meta.get("multiple") or declared in (None, dataclasses.MISSING):
        declared = ""  # a repeatable option's values, or a value with no default to say its type: text
    kind = meta.get("kind") or type(declared)
    lo, hi = meta.get("min"), meta.get("max")
    if kind is int and (lo is not None or hi is not None):
        return click.IntRange(lo, hi)
    if kind is float and (lo is not None or hi is not None):
        return click.FloatRange(
            lo, hi, min_open=bool(meta.get("min_open")), max_open=bool(meta.get("max_open"))
        )
    return kind


def _declared_default(f: dataclasses.Field):
    if f.default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def config_options(
    cls,
    *,
    skip: tuple[str, ...] = (),
    defaults: dict | None = None,
    helps: dict | None = None,
    show_default: bool = True,
):
    """Decorator: one click option per field of ``cls`` (in field order), except ``skip``. ``defaults``
    overrides a field's default for this command only (None: not given, the caller's default applies),
    ``helps`` its help text. A field without a default is a required option; a bool field is a flag
    (``--x/--no-x`` when it defaults to True); a ``multiple`` field a repeatable option."""
    defaults = defaults or {}
    helps = helps or {}

    def deco(func):
        for f in reversed(dataclasses.fields(cls)):
            if f.name in skip or not f.init:
                continue
            meta = f.metadata
            if "help" not in meta:
                raise TypeError(
                    f"{cls.__name__}.{f.name} has no help text (declare it with embedkit.options.opt)"
                )
            text = helps.get(f.name, meta["help"])
            default = defaults.get(f.name, _declared_default(f))
            name = cli_name(f)
            if isinstance(default, bool):
                decl = name if not default else f"{name}/--no-{name[2:]}"
                func = click.option(
                    decl, f.name, is_flag=True, default=default, show_default=default, help=text
                )(func)
                continue
            if meta.get("multiple"):
                func = click.option(
                    name,
                    f.name,
                    multiple=True,
                    required=default is dataclasses.MISSING,
                    type=_click_type(f),
                    metavar=meta.get("metavar"),
                    help=text,
                )(func)
                continue
            required = default is dataclasses.MISSING
            empty = required or default is None or (isinstance(default, dict | list | tuple) and not default)
            shown = None if empty else meta["show"](default) if meta.get("show") else default
            # a required option gets no default at all: click (>= 8.2) takes an explicit None for a value
            extra = {} if required else {"default": shown}
            if meta.get("flag_value") is not None:  # --name alone means flag_value; --name VALUE a value
                extra.update(is_flag=False, flag_value=meta["flag_value"])
            func = click.option(
                name,
                f.name,
                type=_click_type(f),
                required=required,
                show_default=show_default and not empty,
                metavar=meta.get("metavar"),
                help=text,
                **extra,
            )(func)
        return func

    return deco


def config_from(cls, given: dict, *, error: type[click.ClickException] = click.ClickException, **fixed):
    """``cls`` from the options click parsed (``given``: the command's keyword arguments; the fields of
    ``cls`` are taken out of it) and ``fixed`` values; a value that does not parse, or a config that does
    not validate, is an error naming the option (``error``: exit code 1, as for the library's own errors;
    ``click.UsageError`` for a command whose config checks are about combinations of options)."""
    values = dict(fixed)
    for f in dataclasses.fields(cls):
        if f.name in given:
            v = given.pop(f.name)
            if v is None:  # not given: the field's own default
                continue
            parse = f.metadata.get("parse")
            if parse is not None and isinstance(v, str):
                try:
                    v = parse(v)
                except ValueError as e:  # an error in the value: the command's kind of error (``error``)
                    raise error(f"{cli_name(f)}: {e}") from None
            values[f.name] = v
    try:
        cfg = cls(**values)
        if hasattr(cfg, "validate"):
            cfg.validate()
    except ValueError as e:
        raise error(str(e)) from None
    return cfg


def dataset_split_option(f):
    """``--split NAME``: the split read from inputs that are a Hugging Face DatasetDict folder
    (``DatasetDict.save_to_disk``); put it just above the command function."""
    import functools

    from embedkit.data.hf import use_split

    @field_options(
        dataset_split=opt(
            None,
            "For inputs that are a Hugging Face DatasetDict folder (save_to_disk): the split to read, e.g. train "
            "(a dict of one split needs none; FOLDER/NAME names a split's folder directly).",
            cli="--split",
            metavar="NAME",
            kind=str,
        )
    )
    @functools.wraps(f)
    def run(*args, dataset_split=None, **kwargs):
        with use_split(dataset_split):
            return f(*args, **kwargs)

    return run


def split_option_names() -> tuple[str, ...]:
    """The split options' fields: ``SplitConfig``'s but the seed (the head's or the pairing's own ``--seed``)."""
    from embedkit.data.splits import SplitConfig

    return tuple(f.name for f in dataclasses.fields(SplitConfig) if f.name != "seed")


def take_split_options(given: dict) -> dict:
    """The split options taken out of a command's keyword arguments (``--seed`` is left: it is the head's or
    the pairing's option, not a split option)."""
    return {name: given.pop(name) for name in split_option_names() if name in given}


def split_options(*, helps: dict[str, str] | None = None, stored: bool = False):
    """The split options: ``SplitConfig``'s fields but the seed (``--val-frac``, ``--test-frac``,
    ``--unseen-user-frac``, ``--fewshot-frac``, ``--split-by``), with this command's ``helps``. ``stored``:
    the defaults are a trained head's (eval; its ``helps`` say so), so none is shown and an option not given
    is None."""
    from embedkit.data.splits import SplitConfig

    defaults = dict.fromkeys(split_option_names()) if stored else None
    return config_options(SplitConfig, skip=("seed",), defaults=defaults, helps=helps)


def field_options(**fields):
    """Options from single fields declared with ``opt`` (the shared ones of ``embedkit.options``, e.g.
    ``cache_option = field_options(cache_dir=cache_field())``), for commands without a config class of
    their own: the same generator, so each option is still declared once."""
    cls = dataclasses.make_dataclass(
        "Options", [(name, object, f) for name, f in fields.items()], kw_only=True
    )
    return config_options(cls)
