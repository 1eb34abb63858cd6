"""The options of ``embedkit fit-head`` that come from the heads' config dataclasses: one option per field
of any registered head's config, added on first use."""

from __future__ import annotations

import dataclasses

import click

from embedkit.heads.registry import HEADS


def _configs() -> dict:
    """Head name -> config class: the options of fit-head, from the registry. Read when fit-head itself
    is used (``FitHeadCommand``), so other commands never import a head's module."""
    return {name: entry.load_config() for name, entry in HEADS.items()}


class KParam(click.ParamType):
    """An integer K >= 1, or auto (fit K = 1..--K-max and keep the smallest within noise of the best)."""

    name = "K|auto"

    def convert(self, value, param, ctx):
        if value is None or value == "auto":
            return value
        try:
            k = int(value)
        except ValueError:
            self.fail(f"expected an integer K >= 1 or auto, got {value!r}", param, ctx)
        if k < 1:
            self.fail(f"expected an integer K >= 1 or auto, got {k}", param, ctx)
        return k


def head_config_options(f):
    """One click option per config field of any head; help says which heads use it and the default."""
    configs = _configs()
    fields: dict[str, list] = {}
    for head, cls in configs.items():
        for fld in dataclasses.fields(cls):
            fields.setdefault(fld.name, []).append((head, fld))
    for name in reversed(list(fields)):
        uses = fields[name]
        fld = uses[0][1]
        heads = [h for h, _ in uses]
        applies = "all heads" if len(heads) == len(configs) else ", ".join(heads)
        helps = {fl.metadata["help"] for _, fl in uses}
        text = (
            " / ".join(f"{h}: {fl.metadata['help']}" for h, fl in uses)
            if len(helps) > 1
            else fld.metadata["help"]
        )
        if len({repr(fl.default) for _, fl in uses}) == 1:
            text += f" [{applies}; default {fld.default!r}]"
        else:
            text += " [default " + ", ".join(f"{h}: {fl.default!r}" for h, fl in uses) + "]"
        choices = sorted({c for _, fl in uses for c in (fl.metadata.get("choices") or ())})
        opt_name = "--" + name.replace("_", "-")
        if isinstance(fld.default, bool):
            f = click.option(f"{opt_name}/--no-{name.replace('_', '-')}", name, default=None, help=text)(f)
        else:
            typ = KParam() if name == "K" else click.Choice(choices) if choices else type(fld.default)
            metavar = "K|auto" if name == "K" else None  # click would upper-case the type's name
            f = click.option(opt_name, name, type=typ, default=None, metavar=metavar, help=text)(f)
    return f


class FitHeadCommand(click.Command):
    """fit-head with one option per field of the registered heads' configs, added on first use (help,
    parsing), so that importing the CLI imports no head module."""

    def get_params(self, ctx):
        if not getattr(self, "_config_options_added", False):
            self._config_options_added = True
            self.params.extend(reversed(head_config_options(lambda: None).__click_params__))
        return super().get_params(ctx)
