"""Frozen encoders that turn texts into vectors, looked up by name in a registry."""

from embedkit.encoders.base import Encoder
from embedkit.encoders.registry import create_encoder, list_encoders

__all__ = ["Encoder", "create_encoder", "list_encoders"]
