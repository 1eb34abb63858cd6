"""Deprecated: moved to embedkit.index.leakage (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.index.leakage")

from embedkit.index.leakage import *  # noqa: E402, F401, F403
