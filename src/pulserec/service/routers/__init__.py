"""One router per resource; each module's ``build_router(limits)`` makes it for one app."""
