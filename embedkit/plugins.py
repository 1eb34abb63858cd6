"""Plugins by entry points: another package adds an encoder family, a head or a data set without editing
embedkit, by naming a registry entry in its own package metadata (``pyproject.toml``)::

    [project.entry-points."embedkit.heads"]
    my-head = "my_package.heads:ENTRY"          # a HeadEntry (or a function returning one)

    [project.entry-points."embedkit.encoders"]
    toy = "my_package.encoders:ENTRY"           # an EncoderEntry

    [project.entry-points."embedkit.datasets"]
    my-set = "my_package.data:ENTRY"            # a DatasetEntry

Each registry reads its group the first time it is asked for a name or a listing (never at import), so
``embedkit --help`` costs no plugin import. A plugin that fails to load, or gives something other than an
entry, is a :class:`PluginWarning` naming it, and is left out; embedkit goes on with the rest.

Dependency-free (the standard library and ``embedkit.errors``): every registry layer uses it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from embedkit.errors import UnknownNameError

GROUPS = {
    "encoders": "embedkit.encoders",
    "heads": "embedkit.heads",
    "datasets": "embedkit.datasets",
}
"""Registry -> its entry-point group."""

E = TypeVar("E")


class PluginWarning(UserWarning):
    """A plugin that could not be loaded (it is left out)."""


def plugin_entries(group: str, expected: type) -> dict[str, object]:
    """The entries other packages register under the entry-point ``group``, by entry-point name. An
    entry point names an ``expected`` instance, or a function of no arguments that returns one."""
    found: dict[str, object] = {}
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
            if not isinstance(obj, expected) and callable(obj):
                obj = obj()
            if not isinstance(obj, expected):
                raise TypeError(f"it gives a {type(obj).__name__}, not a {expected.__name__}")
        except Exception as e:  # a broken plugin must not break embedkit: say which, go on
            warnings.warn(
                f"embedkit plugin {ep.name!r} ({ep.value}, entry-point group {group}) was not loaded: "
                f"{type(e).__name__}: {e}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        found[ep.name] = obj
    return found


class Registry(Mapping, Generic[E]):
    """A read-only name -> entry table: the built-in ``entries`` first, then the plugins of ``group``
    (read on first use). A plugin may not replace a built-in name (a warning, and the built-in stays)."""

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, E],
        group: str,
        expected: type,
        name_of: Callable[[str, E], str] | None = None,
        hint: str = "",
    ):
        self.kind = kind
        self.group = group
        self.expected = expected
        self.hint = hint
        self._builtin = dict(entries)
        self._name_of = name_of
        self._all: dict[str, E] | None = None

    @property
    def builtin(self) -> dict[str, E]:
        """The entries embedkit itself has (no plugin is read)."""
        return dict(self._builtin)

    def _entries(self) -> dict[str, E]:
        if self._all is None:
            merged = dict(self._builtin)
            for ep_name, entry in plugin_entries(self.group, self.expected).items():
                name = self._name_of(ep_name, entry) if self._name_of else ep_name
                if name in merged:
                    warnings.warn(
                        f"embedkit plugin {ep_name!r} (entry-point group {self.group}) names the {self.kind} "
                        f"{name!r}, which embedkit already has; the built-in one is kept",
                        PluginWarning,
                        stacklevel=3,
                    )
                    continue
                merged[name] = entry
            self._all = merged
        return self._all

    def __getitem__(self, name: str) -> E:
        return self._entries()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self)})"

    def entry(self, name: str) -> E:
        """The entry of ``name``; an unknown name lists the valid ones and the closest match."""
        entries = self._entries()
        if name not in entries:
            raise UnknownNameError(self.kind, name, entries, hint=self.hint)
        return entries[name]

    def reload(self) -> None:
        """Read the plugins again on next use (after installing one in this process; tests)."""
        self._all = None

    def add(self, name: str, entry: E) -> None:
        """Register ``entry`` in this process only (tests, notebooks). A name already taken is an error."""
        if name in self._entries():
            raise ValueError(f"the {self.kind} {name!r} is registered already")
        self._entries()[name] = entry

    def remove(self, name: str) -> None:
        """Undo :meth:`add` (tests)."""
        self._entries().pop(name)
