"""Deprecated: moved to embedkit.data.items (pair-format helpers: embedkit.data.pairs; require_text: embedkit.data.readers) (embedkit 0.3). Kept so that old imports still work."""

from embedkit._compat import moved

moved(__name__, "embedkit.data.items (pair-format helpers: embedkit.data.pairs; require_text: embedkit.data.readers)")

from embedkit.data.items import *  # noqa: E402, F401, F403
from embedkit.data.pairs import *  # noqa: E402, F401, F403
from embedkit.data.readers import *  # noqa: E402, F401, F403
