"""The commands that error messages suggest, complete enough to run as printed.

A hint that leaves out an option (``--responses alone``, ``--normalize``...) sends the user round a loop:
the suggested command "succeeds" on the wrong namespace and the original command fails again. Every
suggestion is built here from what was actually used, and tests run each one.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from embedkit.fingerprint import Fingerprint


def encoder_args(fingerprint: Fingerprint, spec: str | None = None) -> list[str]:
    """``extract`` options that produce exactly ``fingerprint``'s namespace (``spec``: the ``--encoder``
    value the cache recorded, if any)."""
    from embedkit.encoders.spec import EncoderSpec

    return EncoderSpec.of(fingerprint, spec).args()


def extract_command(
    inputs: Iterable[str],
    cache: str,
    fingerprint: Fingerprint | None = None,
    *,
    encoder: str | None = None,
    spec: str | None = None,
    responses: str = "in-context",
    extra: Iterable[str] = (),
) -> str:
    """``embedkit extract INPUTS --cache CACHE <encoder options> [--responses alone]``, shell-quoted.

    Give the ``fingerprint`` the embeddings must have (the exact options are derived from it), or just an
    ``encoder`` name when no fingerprint is known yet.
    """
    if fingerprint is not None and fingerprint.encoder == "synthetic":
        return (
            f"embedkit build synthetic --out DIR --cache {shlex.quote(str(cache))} with the options that made "
            f"the pairs (synthetic items are generated, not extracted; namespace {fingerprint.namespace})"
        )
    args = ["embedkit", "extract", *map(str, inputs), "--cache", str(cache)]
    if fingerprint is not None:
        args += encoder_args(fingerprint, spec)
        if fingerprint.encoder == "fake" and fingerprint.dim != 32:
            args.insert(0, f"EMBEDKIT_FAKE_DIM={fingerprint.dim}")
    elif encoder:
        args += ["--encoder", encoder]
    if responses != "in-context":
        args += ["--responses", responses]
    args += list(extra)
    return " ".join(a if a.startswith("EMBEDKIT_") or a.startswith("<") else shlex.quote(a) for a in args)
