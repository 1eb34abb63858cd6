"""Users files: one row of attributes per user id (who annotated: gender, age, groups, ...), read from
JSONL / CSV / Parquet / a Hugging Face dataset folder, or a JSON object keyed by user id (LeWiDi's
``*_annotators_meta.json``: ``{"Ann0": {"Gender": "Female", "Age": "56"}, ...}``), and the encoder that
turns them into a feature matrix.

Each column is one of three kinds, found from its values:

- **numeric**: every present value is a number or a numeric string (``"56"``): standardised;
- **multi**: every present value is a list (in CSV a JSON list, ``["a", "b"]``): multi-hot;
- **categorical**: anything else (strings, booleans, numbers mixed with words): one-hot.

A missing value (null, NaN, ``""``, ``"nan"``, ``"none"``, ``"null"``, ``"n/a"``, ``"DATA_EXPIRED"``,
``"CONSENT_REVOKED"``, an empty list) is no evidence about the user: its features are zero, which is the
column mean of a numeric and "no category" of a categorical. A categorical value (or list item) seen on
fewer than ``min_count`` users gets no feature of its own: it is encoded like a missing value.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedkit.data.readers import iter_records
from embedkit.errors import InputError

MISSING = frozenset({"", "nan", "none", "null", "na", "n/a", "data_expired", "consent_revoked"})
"""Values (compared lower-cased, stripped) that mean "not known" for a field."""
KINDS = ("categorical", "numeric", "multi")


@dataclass
class UserAttributes:
    """The attributes of each user: ``values[i][column]`` is a str (categorical), a float (numeric), a
    tuple of str (multi) or None (missing); ``kinds`` maps each column to its kind; ``lines[i]`` is the
    line (or row) of user i in ``path``."""

    users: list[str]
    values: list[dict]
    kinds: dict[str, str]
    path: str = ""
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.users)

    def index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.users)}

    def get(self, user: str) -> dict | None:
        i = self.index().get(str(user))
        return None if i is None else self.values[i]

    def subset(self, users) -> UserAttributes:
        """The rows of ``users`` that have attributes, in that order."""
        idx = self.index()
        keep = [idx[u] for u in map(str, users) if u in idx]
        return UserAttributes(
            [self.users[i] for i in keep],
            [self.values[i] for i in keep],
            dict(self.kinds),
            self.path,
            [self.lines[i] for i in keep] if self.lines else [],
        )

    @classmethod
    def from_records(cls, records: dict, path: str = "<attributes>") -> UserAttributes:
        """From ``{user id: {column: value}}`` in memory (the reward API's ``user_attributes``)."""
        rows = [(i + 1, str(u), rec) for i, (u, rec) in enumerate(records.items())]
        return _build(rows, path, "user")


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip().lower() in MISSING:
        return True
    return isinstance(value, list | tuple) and not [v for v in value if not is_missing(v)]


def _number(value) -> float | None:
    """A finite number from a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return None


def _as_list(value, path: str, line: int, column: str):
    """A list value (a JSON list in a CSV cell too), or None when the value is a scalar."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError(
                f'expected a JSON list like ["a", "b"], found {value!r:.60}',
                file=path,
                line=line,
                field=column,
            ) from None
    if isinstance(value, list | tuple | np.ndarray):
        items = []
        for v in value:
            if isinstance(v, dict | list | tuple):
                raise InputError(
                    f"expected a list of strings or numbers, found an item {v!r:.40}",
                    file=path,
                    line=line,
                    field=column,
                )
            if not is_missing(v):
                items.append(
                    str(v).strip() if not isinstance(v, float) or not v.is_integer() else str(int(v))
                )
        return tuple(sorted(set(items)))
    return None


def read_user_attributes(path: str | os.PathLike, id_field: str = "user") -> UserAttributes:
    """Read a users file: one row per user id (``id_field``), any other columns as attributes (see the
    module docstring). Raises :class:`InputError` with file, line and field for a row without an id, a
    duplicate id, a value that is neither a scalar nor a list, or a column that mixes lists and scalars."""
    path_s = str(path)
    keyed = _keyed_json(Path(path), id_field) if Path(path).suffix.lower() == ".json" else None
    if keyed is not None:
        return _build(keyed, path_s, id_field)
    rows = []
    for line, rec in iter_records(path):
        if isinstance(rec, InputError):
            raise rec
        user = rec.get(id_field)
        if isinstance(user, float) and user.is_integer():
            user = int(user)
        if not isinstance(user, str | int) or isinstance(user, bool) or str(user).strip() == "":
            columns = ", ".join(sorted(map(str, rec))[:8])
            raise InputError(
                f"expected a user id (--users-id-field names the column; this row has {columns})",
                file=path_s,
                line=line,
                field=id_field,
            )
        rows.append((line, str(user), {k: v for k, v in rec.items() if k != id_field}))
    return _build(rows, path_s, id_field)


def _keyed_json(path: Path, id_field: str) -> list | None:
    """The rows of a JSON object keyed by user id, each value an object of attributes; None when the file
    is JSON Lines (or a single record with an ``id_field``)."""
    try:
        text = path.read_text(encoding="utf-8")
        obj = json.loads(text)
    except (OSError, ValueError):
        return None  # JSONL, or unreadable: the record reader says why
    if not isinstance(obj, dict) or id_field in obj or not obj:
        return None
    if not all(isinstance(v, dict) for v in obj.values()):
        bad = next(k for k, v in obj.items() if not isinstance(v, dict))
        raise InputError(
            f"a JSON object keyed by user id needs an object of attributes per user, found "
            f"{type(obj[bad]).__name__} for {bad!r}",
            file=str(path),
            line=_line_of_key(text, bad),
            field=bad,
        )
    rows, at = [], 0
    for user, rec in obj.items():
        line = _line_of_key(text, user, at)
        at = max(at, text.find(json.dumps(user), at))
        rows.append((line, str(user), rec))
    return rows


def _line_of_key(text: str, key: str, start: int = 0) -> int | None:
    pos = text.find(json.dumps(key), start)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


def _build(rows: list[tuple[int | None, str, dict]], path: str, id_field: str) -> UserAttributes:
    """Check ids and values, find each column's kind, and normalise the values to it."""
    first_line: dict[str, int | None] = {}
    seen_as: dict[str, tuple[str, int | None]] = {}  # column -> (list | scalar, first line)
    for line, user, rec in rows:
        if user in first_line:
            raise InputError(
                f"duplicate user id {user!r} (first at line {first_line[user]}): one row per user",
                file=path,
                line=line,
                field=id_field,
            )
        first_line[user] = line
        for column, value in rec.items():
            if isinstance(value, dict):
                raise InputError(
                    f"expected a value or a list of values, found an object {json.dumps(value)[:40]}",
                    file=path,
                    line=line,
                    field=column,
                )
            if is_missing(value):
                continue
            shape = "list" if _as_list(value, path, line, column) is not None else "scalar"
            before = seen_as.setdefault(column, (shape, line))
            if before[0] != shape:
                raise InputError(
                    f"expected a {before[0]} (as at line {before[1]}), found {value!r:.40}: a column holds "
                    "either lists or single values",
                    file=path,
                    line=line,
                    field=column,
                )
    kinds = {}
    columns = list(dict.fromkeys(c for _, _, rec in rows for c in rec))
    for column in columns:
        present = [rec[column] for _, _, rec in rows if column in rec and not is_missing(rec[column])]
        if seen_as.get(column, ("scalar",))[0] == "list":
            kinds[column] = "multi"
        elif present and all(_number(v) is not None for v in present):
            kinds[column] = "numeric"
        else:
            kinds[column] = "categorical"
    values = []
    for line, _, rec in rows:
        out = {}
        for column, kind in kinds.items():
            v = rec.get(column)
            if is_missing(v):
                out[column] = None
            elif kind == "numeric":
                out[column] = _number(v)
            elif kind == "multi":
                out[column] = _as_list(v, path, line, column) or None  # an empty list is missing
            else:
                out[column] = _category(v)
        values.append(out)
    return UserAttributes([u for _, u, _ in rows], values, kinds, path, [line for line, _, _ in rows])


def _category(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass
class AttributeEncoder:
    """Attributes -> features: one-hot categoricals and multi-hot lists over the values seen on at least
    ``min_count`` users, standardised numerics; missing is all zeros (no evidence). ``columns``:
    ``[{"name", "kind", "values": [...]}` or `{"name", "kind": "numeric", "mean", "std"}]``, JSON-able
    (``to_dict`` / ``from_dict``), so a saved head re-encodes new users exactly as it encoded its own."""

    columns: list[dict] = field(default_factory=list)
    min_count: int = 5

    @classmethod
    def fit(cls, attrs: UserAttributes, min_count: int = 5) -> AttributeEncoder:
        """The vocabulary and numeric scales of ``attrs``' users (the head's seen users)."""
        cols = []
        for name, kind in attrs.kinds.items():
            present = [v[name] for v in attrs.values if v.get(name) is not None]
            if kind == "numeric":
                x = np.asarray(present, float)
                if len(x) < 2 or not x.std() > 0:
                    continue  # one value or none: no feature can tell users apart
                cols.append({"name": name, "kind": kind, "mean": float(x.mean()), "std": float(x.std())})
                continue
            items = [i for v in present for i in v] if kind == "multi" else present
            values, counts = np.unique(np.asarray(items, dtype=object).astype(str), return_counts=True)
            keep = sorted(values[counts >= min_count].tolist())
            if keep:
                cols.append({"name": name, "kind": kind, "values": keep})
        return cls(cols, int(min_count))

    @property
    def kinds(self) -> dict[str, str]:
        """Column -> kind of the columns that have features."""
        return {c["name"]: c["kind"] for c in self.columns}

    @property
    def n_features(self) -> int:
        return sum(1 if c["kind"] == "numeric" else len(c["values"]) for c in self.columns)

    def feature_names(self) -> list[str]:
        out = []
        for c in self.columns:
            if c["kind"] == "numeric":
                out.append(c["name"])
            else:
                out += [f"{c['name']}={v}" for v in c["values"]]
        return out

    def encode(self, values: list[dict | None]) -> np.ndarray:
        """(U, F) features of each user's attribute dict (None: a user without attributes: all zeros)."""
        X = np.zeros((len(values), self.n_features), np.float32)
        at = 0
        for c in self.columns:
            name = c["name"]
            if c["kind"] == "numeric":
                for i, v in enumerate(values):
                    x = None if v is None else v.get(name)
                    if x is not None:
                        X[i, at] = (float(x) - c["mean"]) / c["std"]
                at += 1
                continue
            slot = {v: at + j for j, v in enumerate(c["values"])}
            for i, v in enumerate(values):
                x = None if v is None else v.get(name)
                items = () if x is None else x if isinstance(x, tuple) else (x,)
                for item in items:
                    j = slot.get(str(item))
                    if j is not None:
                        X[i, j] = 1.0
            at += len(c["values"])
        return X

    def transform(self, attrs: UserAttributes | None, users) -> tuple[np.ndarray, np.ndarray]:
        """(features (U, F), has attributes (U,) bool) of ``users``, in that order."""
        users = [str(u) for u in users]
        idx = attrs.index() if attrs is not None else {}
        values = [attrs.values[idx[u]] if u in idx else None for u in users]
        return self.encode(values), np.array([u in idx for u in users], dtype=bool)

    def to_dict(self) -> dict:
        return {"columns": self.columns, "min_count": self.min_count}

    @classmethod
    def from_dict(cls, d: dict) -> AttributeEncoder:
        """From ``to_dict``'s output; a ValueError names the part that is not what ``to_dict`` writes."""
        if not isinstance(d, dict) or not isinstance(d.get("columns"), list):
            raise ValueError("expected an object with a list of columns")
        for i, c in enumerate(d["columns"]):
            ok = isinstance(c, dict) and isinstance(c.get("name"), str) and c.get("kind") in KINDS
            if ok and c["kind"] == "numeric":
                ok = all(
                    isinstance(c.get(k), int | float) and not isinstance(c.get(k), bool)
                    for k in ("mean", "std")
                )
                ok = ok and c["std"] > 0
            elif ok:
                ok = isinstance(c.get("values"), list) and all(isinstance(v, str) for v in c["values"])
            if not ok:
                raise ValueError(f"columns[{i}] is not a column of an attribute encoder: {c!r:.80}")
        return cls([dict(c) for c in d["columns"]], int(d.get("min_count", 5)))


def missing_users(attrs: UserAttributes, users) -> list[str]:
    """The ``users`` (in order, once each) that have no row in ``attrs``."""
    idx = attrs.index()
    return [u for u in dict.fromkeys(map(str, users)) if u not in idx]


def coerce(
    record: dict, kinds: dict[str, str], source: str = "user_attributes", line: int | None = None
) -> dict:
    """One user's attributes given in memory (``{"gender": "Female", "age": 60}``), normalised to the
    ``kinds`` an encoder was fitted with (columns it does not know are left out: they have no feature).
    An InputError names the field whose value does not fit its kind."""
    if not isinstance(record, dict):
        raise InputError(
            f"expected an object of attributes, found {type(record).__name__}", file=source, line=line
        )
    out: dict = {}
    for column, kind in kinds.items():
        v = record.get(column)
        if is_missing(v):
            out[column] = None
        elif kind == "numeric":
            out[column] = _number(v)
            if out[column] is None:
                raise InputError(f"expected a number, found {v!r:.40}", file=source, line=line, field=column)
        elif kind == "multi":
            items = _as_list(v, source, line, column)
            out[column] = items if items is not None else (_category(v),)
        else:
            if isinstance(v, dict | list | tuple):
                raise InputError(f"expected one value, found {v!r:.40}", file=source, line=line, field=column)
            out[column] = _category(v)
    return out
