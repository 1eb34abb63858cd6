"""Deprecated: moved to embedkit.datasets.annotators (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.datasets.annotators")

from embedkit.datasets.annotators import *  # noqa: E402, F401, F403
