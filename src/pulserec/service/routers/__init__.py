"""One router per resource; each module's ``router`` serves every app (limits come
from the ``LimitsDep`` dependency)."""
