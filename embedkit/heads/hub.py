"""Heads as Hugging Face model repos: a head folder is a Hub repo as it is (config.json, model.safetensors,
README.md with the Hub's metadata block), published with ``huggingface_hub.upload_folder`` and loaded back
by id with :func:`resolve_head`.

Resolution goes through ``huggingface_hub.snapshot_download``, so it shares the local Hugging Face cache
(``HF_HOME`` / ``HF_HUB_CACHE``) with every other library: offline (``HF_HUB_OFFLINE=1``, or no network)
a head comes from that cache, and nothing but the head's own files is downloaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from embedkit.errors import EmbedkitError

HEAD_FILES = ("config.json", "model.safetensors", "README.md")
"""What a head repo holds (and all that is downloaded of one)."""
_HUB_REF = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<revision>[\w./-]+))?$")


def parse_hub_ref(ref: str) -> tuple[str, str | None] | None:
    """``org/name`` or ``org/name@revision`` -> (repo id, revision or None); None when ``ref`` is not of
    that shape (an absolute path, ``./dir``, a deeper path)."""
    m = _HUB_REF.match(str(ref))
    return (m["repo"], m["revision"]) if m else None


def _offline() -> bool:
    """HF_HUB_OFFLINE as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    if env is not None:
        return env.strip().upper() in ("1", "ON", "YES", "TRUE")
    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> str:
    """The Hugging Face cache folder as the environment names it now (HF_HUB_CACHE, else HF_HOME/hub)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return constants.HF_HUB_CACHE


def resolve_head(path_or_id: str | os.PathLike) -> Path:
    """The local folder of a head: ``path_or_id`` itself when it exists, else the snapshot of the Hub repo
    ``org/name`` (``org/name@revision``: a branch, tag or commit) from the local Hugging Face cache, or
    downloaded when online. Raises :class:`EmbedkitError` saying what was tried."""
    path = Path(path_or_id)
    if path.exists():
        return path
    ref = parse_hub_ref(str(path_or_id))
    if ref is None:
        raise EmbedkitError(f"{path} is not a saved head: no such folder (nor a Hub id org/name[@revision])")
    repo_id, revision = ref
    from huggingface_hub import snapshot_download

    cache = hub_cache_dir()
    offline = _offline()
    at = f"{repo_id}@{revision}" if revision else repo_id
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache,
            allow_patterns=list(HEAD_FILES),
            local_files_only=offline,
            library_name="embedkit",
        )
    except Exception as e:  # huggingface_hub raises a zoo: offline, not found, gated, connection errors
        why = (
            "HF_HUB_OFFLINE is set, so only the cache was looked in"
            if offline
            else f"the Hub did not give it either ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        )
        raise EmbedkitError(
            f"no head at {path_or_id}: there is no folder of that name here, and the Hub repo {at} is not in "
            f"the local Hugging Face cache ({cache}); {why}. Give the head's folder, or get the repo where "
            f"there is network (huggingface_hub.snapshot_download({repo_id!r}) or `hf download {repo_id}`) "
            "and copy the cache here"
        ) from None
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise EmbedkitError(f"the Hub repo {at} ({folder}) is not an embedkit head (no config.json)")
    return folder
