"""Deprecated: moved to embedkit.extract.ray (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.extract.ray")

from embedkit.extract.ray import *  # noqa: E402, F401, F403
