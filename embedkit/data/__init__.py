"""Data in: readers for JSONL / CSV / Parquet, the text items to embed, and preference pairs."""
