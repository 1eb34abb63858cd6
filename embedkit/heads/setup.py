"""Deprecated: moved to embedkit.heads.provenance (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.heads.provenance")

from embedkit.heads.provenance import *  # noqa: E402, F401, F403
