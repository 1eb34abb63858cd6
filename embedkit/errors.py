"""Exceptions raised by the library. The CLI turns them into messages and exit codes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EmbedkitError(Exception):
    """Base class of every error embedkit raises on purpose."""


class InputError(EmbedkitError):
    """Bad user input: names the file, the line (or row) and the field, and what was expected."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
    ):
        self.file = file
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if file is not None:
            where.append(str(file) + (f":{line}" if line is not None else ""))
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__((", ".join(where) + ": " if where else "") + message)


class OptionError(EmbedkitError, ValueError):
    """Settings that do not go together (``--K auto`` for a head without prototypes, attributes for a
    population head): the CLI's usage error, exit code 2."""


class OutputError(EmbedkitError):
    """An output could not be written: the disk is full, a file-size limit or quota was hit, or the
    filesystem is read-only. Names the file; nothing half-written is left under its name."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"cannot write {path}: {problem}")


class UnknownNameError(EmbedkitError, KeyError):
    """A registry lookup for a name that does not exist; lists the valid names and the closest one."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], hint: str = ""):
        valid = sorted(valid)
        close = difflib.get_close_matches(name, valid, n=1)
        msg = f"unknown {kind} {name!r}; valid: {', '.join(valid)}"
        if close:
            msg += f" (did you mean {close[0]!r}?)"
        if hint:
            msg += f". {hint}"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class UnknownUserError(EmbedkitError, KeyError):
    """A user id the head was not trained on, asked for by name (the reward API's ``user=``)."""

    def __init__(self, user: str, seen: list[str]):
        close = difflib.get_close_matches(user, seen, n=1)
        example = ", ".join(map(repr, seen[:3])) if seen else "none"
        self.message = (
            f"user {user!r} is not a seen user of this head ({len(seen)} seen users, e.g. {example}"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + "). A new user is scored from a few of their pairs (user=[{'prompt', 'chosen', 'rejected'}, ...]), "
            "from K weights, or with user=None for the zero-shot weights; for many new users at once: "
            "embedkit score HEAD --fewshot THEIR_PAIRS.jsonl"
        )
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class CacheError(EmbedkitError):
    """Something is wrong with an embedding cache directory."""


class CacheLockedError(CacheError):
    """Another process is writing to the cache."""


class NamespaceNotFoundError(CacheError):
    """No embeddings were ever extracted under the requested encoder fingerprint.

    ``problem`` says what is missing, ``hint`` the command that fixes it (callers that know the input
    files replace the hint with a complete command).
    """

    def __init__(self, problem: str, hint: str = ""):
        self.problem = problem
        self.hint = hint
        super().__init__(problem + (f". {hint}" if hint else ""))


class CorruptShardError(CacheError):
    """A shard file is truncated, unreadable, or does not match its checksum or the manifest."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"corrupt shard {path}: {problem}")


class MissingKeysError(CacheError, KeyError):
    """Items were asked for that the cache does not hold under this namespace."""

    def __init__(self, message: str, missing_indices=None):
        self.message = message
        self.missing_indices = missing_indices
        super().__init__(message)

    def __str__(self) -> str:
        return self.message
