"""Deprecated: moved to embedkit.datasets.synthetic (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.datasets.synthetic")

from embedkit.datasets.synthetic import *  # noqa: E402, F401, F403
