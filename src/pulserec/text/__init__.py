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
from pulserec.text.keywords import candidate_phrases, extract_keywords, mmr_select, user_keywords
from pulserec.text.sentiment import SentimentModel, star_labels
from pulserec.text.spam import SpamFilter, SpamVerdict
from pulserec.text.topics import Topics, fit_topics

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "KINDS",
    "CachedEncoder",
    "E5Encoder",
    "HashingEncoder",
    "Kind",
    "MiniLMEncoder",
    "SentimentModel",
    "SpamFilter",
    "SpamVerdict",
    "TextEncoder",
    "Topics",
    "USEEncoder",
    "candidate_phrases",
    "extract_keywords",
    "fit_topics",
    "make_encoder",
    "mmr_select",
    "star_labels",
    "user_keywords",
]
