"""Deprecated: moved to embedkit.datasets.persona (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.datasets.persona")

from embedkit.datasets.persona import *  # noqa: E402, F401, F403
