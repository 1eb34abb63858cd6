"""embedkit: pluralistic reward modelling on cached embeddings.

Extract embeddings once with a frozen encoder (``embedkit.extract``), keep them in an HDF5 shard cache
(``embedkit.cache``), and train small reward heads on the cached tensors (``embedkit.heads``).
"""

__version__ = "0.1.0"
