"""Inputs the cache lacks when scoring files: which distinct texts and images the few-shot pairs and the
files to score need, how many are missing, the error with the complete ``embedkit extract`` command, and
``--extract-missing``'s embedding of them with the head's encoder."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from embedkit.data.pairs import join_in_context
from embedkit.data.readers import iter_records, require_text
from embedkit.errors import EmbedkitError, InputError, MissingKeysError
from embedkit.score.api import RewardModel


def input_items(model: RewardModel, fewshot: Sequence[str], inputs: Sequence[str], kind: str):
    """Every distinct item (text or image) that scoring the files embeds: the few-shot pairs' and the
    inputs' (``kind`` pairs or candidates), embedded the way the head's training pairs were."""
    from embedkit.data.items import Items, collect_items

    files = list(fewshot) + (list(inputs) if kind == "pairs" else [])
    items = collect_items(files, responses=model.responses) if files else Items()
    if kind == "candidates":
        for path in inputs:
            for line, rec in iter_records(path):
                if isinstance(rec, InputError):
                    raise rec
                prompt = require_text(rec, "prompt", str(path), line)
                items.add(prompt)
                for c in rec.get("responses") or []:
                    if isinstance(c, str) and c.strip():
                        if model.responses == "images":
                            from embedkit.data.images import resolve_image_path

                            items.add_image(resolve_image_path(c, path, line, "responses"))
                        else:
                            items.add(
                                *(
                                    (join_in_context(prompt, c), (prompt, c))
                                    if model.responses == "in-context"
                                    else (c,)
                                )
                            )
    return items


def count_missing(model: RewardModel, items) -> tuple[int, int]:
    """(items the cache lacks under the head's fingerprint, distinct items) of ``input_items``."""
    ns = model.embedder.namespace
    total = len(items)
    if ns is None:
        return total, total
    keys = np.concatenate([items.key_array(), items.image_key_array()])
    return int((ns.lookup(keys) < 0).sum()), total


def missing_inputs_error(
    model: RewardModel,
    fewshot: Sequence[str],
    inputs: Sequence[str],
    kind: str,
    cache_dir: str | os.PathLike,
    error: MissingKeysError,
) -> MissingKeysError:
    """What to raise when scoring met an input the cache lacks: how many of all the distinct inputs of the
    files (not just the first chunk's) are missing, with the complete ``embedkit extract`` command, or
    ``error`` itself when none of the files' inputs is missing."""
    from embedkit.hints import extract_command

    missing, total = count_missing(model, input_items(model, fewshot, inputs, kind))
    if not missing:
        return error
    cmd = extract_command(
        [*fewshot, *inputs],
        cache_dir,
        model.head.fingerprint_,
        spec=model.embedder.spec,
        responses=model.responses,
    )
    return MissingKeysError(
        f"{missing} of the {total} distinct texts / images of the inputs{' (few-shot pairs included)' if fewshot else ''} "
        f"are not in the cache {cache_dir} under {model.head.fingerprint_.describe()}. Extract them first: {cmd} "
        "(or let embedkit embed them: --extract-missing)",
        missing_indices=error.missing_indices,
    )


def extract_missing_inputs(
    model: RewardModel, fewshot: Sequence[str], inputs: Sequence[str], kind: str, progress: bool = False
):
    """Embed what the cache lacks of the few-shot pairs and the inputs (``kind`` pairs or candidates) with
    the head's encoder, into the cache (``--extract-missing``). Returns the ExtractResult."""
    from embedkit.extract import extract

    if model.embedder.cache is None:
        raise EmbedkitError("--extract-missing needs a cache to add the embeddings to")
    items = input_items(model, fewshot, inputs, kind)
    return extract(items, model.embedder.cache, model.embedder.encoder(), progress=progress)
