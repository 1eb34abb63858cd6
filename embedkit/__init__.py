"""embedkit: pluralistic reward modelling on cached embeddings.

Extract embeddings once with a frozen encoder (``embedkit.extract``), keep them in an HDF5 shard cache
(``embedkit.cache``), train small reward heads on the cached tensors (``embedkit.heads``), and score
users with them (``embedkit.load_reward_model`` -> ``reward``, ``reward_function``; ``embedkit.score``).

Two loaders, one per concept: ``embedkit.load_reward_model(path, cache=...)`` gives a
:class:`~embedkit.score.RewardModel` that scores texts; ``embedkit.heads.load_head(path)`` the bare
:class:`~embedkit.heads.RewardHead` that works on embeddings.
"""

from embedkit._version import __version__  # noqa: F401 (the package version, re-exported)


def load_reward_model(path, cache=None, device=None, allow_encode: bool = True):
    """A saved head ready to score texts: ``reward(prompts, responses, user=...)``,
    ``reward_from_embeddings(...)`` and ``reward_function(user=...)`` for TRL (see ``embedkit.score``).

    ``cache``: the embedding cache to look inputs up in; what it lacks is embedded with the head's
    encoder (unless ``allow_encode=False``). ``device``: run the head there (default: as trained)."""
    from embedkit.score import load_reward_model as load

    return load(path, cache=cache, device=device, allow_encode=allow_encode)
