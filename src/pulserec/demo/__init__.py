"""Demo data served on a fresh machine with no dataset at hand.

A packaged bilingual catalog (English and Simplified Chinese, about 300 items over a
dozen topics) and a deterministic synthetic interaction history for it.

Examples
--------
>>> from pulserec.demo import load_demo_items
>>> len(load_demo_items()) >= 250
True
"""

from pulserec.demo.data import (
    DEFAULT_START_TS,
    DemoSeed,
    DemoUser,
    generate_history,
    load_demo_items,
    make_users,
    seed_engine,
    topic_of,
)

__all__ = [
    "DEFAULT_START_TS",
    "DemoSeed",
    "DemoUser",
    "generate_history",
    "load_demo_items",
    "make_users",
    "seed_engine",
    "topic_of",
]
