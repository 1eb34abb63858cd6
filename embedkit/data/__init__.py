"""Formats and readers: JSONL / CSV / Parquet records (``readers``), the pair format (``pairs``), the items
extraction embeds (``items``: texts, images, pair files), images (``images``), train / val / test and
new-user splits (``splits``), streamed batches for scoring (``batches``), and the generic converters
(``convert``: TRL and arbitrary columns; ``ratings``: per-item ratings to pairs).

Named data sets (persona, Pick-a-Pic, MultiPref...) are in ``embedkit.datasets``. This package imports
only the cache keys, the errors and the base helpers (an import-linter contract checks it).
"""
