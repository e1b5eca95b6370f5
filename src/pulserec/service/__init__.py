"""The HTTP service: a thin FastAPI shell over :class:`pulserec.engine.Engine`."""

from pulserec.service.app import create_app

__all__ = ["create_app"]
