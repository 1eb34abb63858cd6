"""embedkit: pluralistic reward modelling on cached embeddings.

Extract embeddings once with a frozen encoder (``embedkit.extract``), keep them in an HDF5 shard cache
(``embedkit.cache``), train small reward heads on the cached tensors (``embedkit.heads``), and score
users with them (``embedkit.load_head`` -> ``reward``, ``reward_function``; ``embedkit.score``).
"""

__version__ = "0.2.0"


def load_head(path, cache=None, device=None, allow_encode: bool = True):
    """A saved head ready to score texts: ``reward(prompts, responses, user=...)``,
    ``reward_from_embeddings(...)`` and ``reward_function(user=...)`` for TRL (see ``embedkit.score``).

    ``cache``: the embedding cache to look inputs up in; what it lacks is embedded with the head's
    encoder (unless ``allow_encode=False``). ``device``: run the head there (default: as trained)."""
    from embedkit.score import load_reward_model

    return load_reward_model(path, cache=cache, device=device, allow_encode=allow_encode)
