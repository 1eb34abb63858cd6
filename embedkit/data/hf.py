"""Hugging Face ``datasets`` as inputs: ``save_to_disk`` folders, ``.arrow`` files and ``Dataset`` objects.

Every reader of embedkit goes through :func:`embedkit.data.readers.iter_records`, which hands these here:

- a folder written by ``Dataset.save_to_disk`` (``state.json`` + ``data-*.arrow``);
- a folder written by ``DatasetDict.save_to_disk`` (``dataset_dict.json`` and one folder per split): the
  split is chosen with ``--split NAME`` (:func:`use_split`), or by naming the split's folder
  (``FOLDER/train``); a dict of one split needs neither;
- an ``.arrow`` file of a dataset (``Dataset.from_file``);
- a ``datasets.Dataset`` object in the Python API (``extract_files``, ``load_pair_data``, scoring):
  :func:`as_paths` writes it once to a Parquet file named by its fingerprint in a temporary folder,
  so provenance (the file's SHA-256) and every check work as for a file.

Rows are numbered from 1, like the rows of a Parquet file, so errors name the folder, the row and the field.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from embedkit.errors import InputError

_SPLIT: contextvars.ContextVar[str | None] = contextvars.ContextVar("embedkit_dataset_split", default=None)
BATCH_ROWS = 65536


@contextlib.contextmanager
def use_split(name: str | None):
    """Within the block, DatasetDict folders are read at split ``name`` (the CLI's ``--split``)."""
    token = _SPLIT.set(name)
    try:
        yield
    finally:
        _SPLIT.reset(token)


def folder_format(path: Path) -> str | None:
    """``hf-dataset`` / ``hf-dataset-dict`` for a ``save_to_disk`` folder, else None."""
    if not path.is_dir():
        return None
    if (path / "dataset_dict.json").is_file():
        return "hf-dataset-dict"
    if (path / "state.json").is_file() and (path / "dataset_info.json").is_file():
        return "hf-dataset"
    return None


def _datasets():
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - datasets is a dependency of the dev extra
        raise InputError(
            "reading a Hugging Face dataset needs the datasets package: pip install datasets"
        ) from e
    return datasets


def is_dataset(obj) -> bool:
    """Whether ``obj`` is a ``datasets.Dataset`` (without importing datasets when it was never loaded)."""
    mod = type(obj).__module__
    return mod.startswith("datasets.") and type(obj).__name__ == "Dataset"


def is_dataset_dict(obj) -> bool:
    return type(obj).__module__.startswith("datasets.") and type(obj).__name__ in (
        "DatasetDict",
        "IterableDatasetDict",
    )


def open_dataset(path: Path, fmt: str):
    """The ``datasets.Dataset`` behind a folder or ``.arrow`` file (the split chosen for a DatasetDict)."""
    ds = _datasets()
    try:
        if fmt == "arrow":
            return ds.Dataset.from_file(str(path))
        if fmt == "hf-dataset":
            return ds.load_from_disk(str(path))
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits") or []
    except InputError:
        raise
    except Exception as e:  # datasets / pyarrow raise several types for a damaged folder or file
        raise InputError(
            f"not a readable Hugging Face dataset ({type(e).__name__}: {e})", file=str(path)
        ) from e
    split = _SPLIT.get()
    if split is None and len(splits) == 1:
        split = splits[0]
    if split is None:
        raise InputError(
            f"a DatasetDict with splits {', '.join(splits)}: choose one with --split NAME (or give the split's "
            f"folder, e.g. {path / splits[0]})"
            if splits
            else "a DatasetDict without splits",
            file=str(path),
        )
    if split not in splits:
        raise InputError(
            f"no split {split!r} in this DatasetDict (it has {', '.join(splits)})", file=str(path)
        )
    return open_dataset(path / split, "hf-dataset")


def iter_dataset(dataset, path: str) -> Iterator[tuple[int, dict]]:
    """``(row, record)`` of every row, read as Arrow batches of BATCH_ROWS rows (an indices mapping of a
    shuffled or filtered Dataset is honoured)."""
    row = 0
    try:
        batches = dataset.with_format("arrow").iter(batch_size=BATCH_ROWS)
        for batch in batches:
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    except InputError:
        raise
    except Exception as e:  # a damaged arrow file shows only when its batches are read
        raise InputError(
            f"not a readable Hugging Face dataset ({type(e).__name__}: {e})", file=path, line=row + 1
        ) from e


_MATERIALISED: dict[str, Path] = {}


def as_paths(inputs) -> list[str]:
    """Input paths as strings, each ``datasets.Dataset`` object written once to a Parquet file named by its
    fingerprint (kept for the life of the process), so that it is read, hashed and reported as a file."""
    if is_dataset(inputs) or is_dataset_dict(inputs):  # one dataset rather than a list of inputs
        inputs = [inputs]
    out = []
    for item in inputs:
        if is_dataset_dict(item):
            raise InputError(
                f"a DatasetDict (splits {', '.join(item)}): pass one split, e.g. dataset[{next(iter(item))!r}]"
            )
        if is_dataset(item):
            key = getattr(item, "_fingerprint", None) or str(id(item))
            if key not in _MATERIALISED:
                folder = Path(tempfile.mkdtemp(prefix="embedkit-dataset-"))
                path = folder / f"dataset-{key}.parquet"
                item.to_parquet(str(path))
                _MATERIALISED[key] = path
            out.append(str(_MATERIALISED[key]))
        else:
            out.append(os.fspath(item))
    return out
