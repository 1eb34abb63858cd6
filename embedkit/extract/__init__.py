"""Extraction: encode what the cache lacks with a frozen encoder and write it as shards.

- :func:`extract_files` (``embedkit extract``, :mod:`embedkit.extract.files`): input files and folders, every
  record checked before anything is written, then streamed in windows (:mod:`embedkit.extract.inputs`) to
  one of the two below;
- :func:`extract`: items already read (an :class:`~embedkit.data.items.Items`, a list of texts, or an
  iterator of windows), on this machine (:mod:`embedkit.extract.run`: the window plan in ``plan``, the
  encoding loop in ``loop``);
- :func:`embedkit.extract.ray.extract_ray`: the same on a Ray cluster (the only module that imports ray).
"""

from embedkit.extract.files import extract_files
from embedkit.extract.inputs import STREAM_WINDOW, check_modalities, read_inputs
from embedkit.extract.loop import EncodingLoop, default_workers
from embedkit.extract.plan import WindowPlan
from embedkit.extract.run import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_SHARD_SIZE,
    ExtractResult,
    extract,
    window_stream,
    write_bad_rows_report,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SHARD_SIZE",
    "STREAM_WINDOW",
    "EncodingLoop",
    "ExtractResult",
    "WindowPlan",
    "check_modalities",
    "default_workers",
    "extract",
    "extract_files",
    "read_inputs",
    "window_stream",
    "write_bad_rows_report",
]
