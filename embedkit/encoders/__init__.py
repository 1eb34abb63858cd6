"""Frozen encoders that turn texts (and images) into vectors, looked up in one registry (``registry``):
sentence-transformers (MiniLM, mpnet, any model directory or Hub id), open_clip towers (CLIP ViT-H/14,
any open_clip model), Llama-family LLM hidden states (SmolLM2 embedded, any transformers causal LM or
GGUF), and a deterministic fake for tests. Each fingerprints its embedding space."""

from embedkit.encoders.base import Encoder
from embedkit.encoders.registry import create_encoder, list_encoders

__all__ = ["Encoder", "create_encoder", "list_encoders"]
