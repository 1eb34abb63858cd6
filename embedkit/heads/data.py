"""Deprecated: moved to embedkit.heads.pair_data (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.heads.pair_data")

from embedkit.heads.pair_data import *  # noqa: E402, F401, F403
