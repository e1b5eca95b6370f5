"""The language-model layer: text encoders and their on-disk embedding cache.

Examples
--------
>>> from pulserec.text import make_encoder
>>> encoder = make_encoder("hashing", dim=64)
>>> encoder.encode(["hello", "你好"]).shape
(2, 64)
"""

from pulserec.text.base import KINDS, Kind, TextEncoder
from pulserec.text.cache import CachedEncoder
from pulserec.text.encoders import (
    DEFAULT_ENCODER,
    ENCODERS,
    E5Encoder,
    HashingEncoder,
    MiniLMEncoder,
    USEEncoder,
    make_encoder,
)

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "KINDS",
    "CachedEncoder",
    "E5Encoder",
    "HashingEncoder",
    "Kind",
    "MiniLMEncoder",
    "TextEncoder",
    "USEEncoder",
    "make_encoder",
]
