"""Deprecated: moved to embedkit.datasets.pick_a_pic and embedkit.datasets.pick_a_filter (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.datasets.pick_a_pic and embedkit.datasets.pick_a_filter")

from embedkit.datasets.pick_a_filter import *  # noqa: E402, F401, F403
from embedkit.datasets.pick_a_pic import *  # noqa: E402, F401, F403
