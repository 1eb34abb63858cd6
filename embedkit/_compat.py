"""Old import paths kept working for a while after a module moved (each warns once, when imported)."""

from __future__ import annotations

import warnings

REMOVED_IN = "0.5"


def moved(old: str, new: str) -> None:
    """Warn that module ``old`` is now ``new`` (called at the top of the stand-in module left at ``old``)."""
    warnings.warn(
        f"{old} moved to {new} in embedkit 0.3; the old path goes away in embedkit {REMOVED_IN}",
        DeprecationWarning,
        stacklevel=3,
    )
