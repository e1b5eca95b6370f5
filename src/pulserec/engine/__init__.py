"""The loop: ingest events, keep each user's state current, recommend.

The engine is the one place where the parts are wired together; the service and the
CLI both drive it through :class:`Engine`. See ``docs/architecture.md`` for the parts
and the path of an event and of a request through them.
"""

from pulserec.engine.config import EngineConfig
from pulserec.engine.core import Engine
from pulserec.engine.insight import Interests
from pulserec.engine.modelset import ModelSet
from pulserec.engine.training import Trainer, TrainingRecord

__all__ = ["Engine", "EngineConfig", "Interests", "ModelSet", "Trainer", "TrainingRecord"]
