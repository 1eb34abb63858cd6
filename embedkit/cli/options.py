"""Command-line options generated from config dataclasses (fields made with ``embedkit.options.opt``): the
config is the one source of a command's options, defaults and help, and :func:`config_from` turns what
click parsed back into the config."""

from __future__ import annotations

import dataclasses

import click


def option_name(f: dataclasses.Field) -> str:
    return f.metadata.get("cli") or "--" + f.name.replace("_", "-")


def _click_type(f: dataclasses.Field, default):
    meta = f.metadata
    if meta.get("choices"):
        return click.Choice(list(meta["choices"]))
    if meta.get("parse"):
        return str
    if meta.get("path"):
        return click.Path(dir_okay=meta["path"] != "file", file_okay=meta["path"] != "dir")
    kind = meta.get("kind") or (
        type(default) if default is not None and default is not dataclasses.MISSING else str
    )
    lo, hi = meta.get("min"), meta.get("max")
    if kind is int and (lo is not None or hi is not None):
        return click.IntRange(lo, hi)
    if kind is float and (lo is not None or hi is not None):
        return click.FloatRange(lo, hi, min_open=bool(meta.get("min_open")))
    return kind


def config_options(
    cls, *, skip: tuple[str, ...] = (), defaults: dict | None = None, show_default: bool = True
):
    """Decorator: one click option per field of ``cls`` (in field order), except ``skip``. ``defaults``
    overrides a field's default for this command only. A field without a default is a required option;
    a bool field is a flag (``--x/--no-x`` when it defaults to True)."""
    defaults = defaults or {}

    def deco(func):
        for f in reversed(dataclasses.fields(cls)):
            if f.name in skip or not f.init:
                continue
            meta = f.metadata
            if "help" not in meta:
                raise TypeError(
                    f"{cls.__name__}.{f.name} has no help text (declare it with embedkit.options.opt)"
                )
            default = defaults.get(f.name, f.default)
            if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            name = option_name(f)
            if isinstance(default, bool):
                decl = name if not default else f"{name}/--no-{name[2:]}"
                func = click.option(
                    decl, f.name, is_flag=True, default=default, show_default=default, help=meta["help"]
                )(func)
                continue
            required = default is dataclasses.MISSING
            empty = required or default is None or (isinstance(default, dict | list | tuple) and not default)
            shown = None if empty else meta["show"](default) if meta.get("show") else default
            extra = {}
            if meta.get("flag_value") is not None:  # --name alone means flag_value; --name VALUE a value
                extra = {"is_flag": False, "flag_value": meta["flag_value"]}
            func = click.option(
                name,
                f.name,
                type=_click_type(f, default),
                default=shown,
                required=required,
                show_default=show_default and not empty,
                metavar=meta.get("metavar"),
                help=meta["help"],
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
                except ValueError as e:  # an error in the value, like the library's own (exit code 1)
                    raise click.ClickException(f"{option_name(f)}: {e}") from None
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

    @click.option(
        "--split",
        "dataset_split",
        default=None,
        metavar="NAME",
        help="For inputs that are a Hugging Face DatasetDict folder (save_to_disk): the split to read, e.g. "
        "train (a dict of one split needs none; FOLDER/NAME names a split's folder directly).",
    )
    @functools.wraps(f)
    def run(*args, dataset_split=None, **kwargs):
        with use_split(dataset_split):
            return f(*args, **kwargs)

    return run
