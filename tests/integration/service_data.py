"""A small two-topic shop shared by the service tests: jazz records and hiking gear."""

from __future__ import annotations

from pulserec.engine import Engine
from pulserec.types import Event, Item

ADMIN_KEY = "test-admin-key-0001"
READ_KEY = "test-read-key-0002"
INGEST_KEY = "test-ingest-key-0003"
API_KEYS = f"{ADMIN_KEY}:ingest+read+admin,{READ_KEY}:read,{INGEST_KEY}:ingest"

N_PER_TOPIC = 20
TOPICS = {"jazz": "saxophone trumpet swing bebop", "hiking": "trail boots mountain tent"}


def catalog() -> list[Item]:
    """Twenty items per topic, each described by its topic's words."""
    return [
        Item(f"{topic}-{j}", f"{topic.title()} {j}", f"{words} {j}", (topic,))
        for topic, words in TOPICS.items()
        for j in range(N_PER_TOPIC)
    ]


def history(n_users: int = 40, per_user: int = 10) -> list[Event]:
    """Even users click only jazz, odd users only hiking, in runs of neighbouring items."""
    events, t = [], 1_000_000.0
    for u in range(n_users):
        topic = "jazz" if u % 2 == 0 else "hiking"
        for j in range(per_user):
            t += 60.0
            item = f"{topic}-{(3 * u + j) % N_PER_TOPIC}"
            events.append(Event(f"u{u}", item, "click", t, event_id=f"h{u}-{j}"))
    return events


def seed(engine: Engine) -> None:
    """Put the shop and its history into an empty engine (the server trains on it next)."""
    engine.upsert_items(catalog())
    engine.bootstrap(history())
