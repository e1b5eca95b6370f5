"""The request body limit, enforced before any handler reads a byte of JSON."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulserec.service.errors import error_response
from pulserec.service.schemas import FieldError

DRAIN_BYTES = 16 * 1024 * 1024
"""How much of an oversized body is read and dropped before the 413 is sent."""


class BodyLimitMiddleware:
    """Answers 413 to a body larger than ``max_bytes`` (declared or streamed).

    The body is read here, up to the limit, and replayed to the app: a chunked upload
    that never declares its length is held to the same bound.

    Before answering 413 the rest of the body is read and dropped, up to ``drain_bytes``
    in all: a client that writes its whole body before it reads (Python's urllib, which
    also asks to close the connection) would otherwise have its connection reset under it
    and never see the 413. A body larger than that is not read; the answer then says
    ``Connection: close`` and such a client may see a reset instead.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, drain_bytes: int = DRAIN_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = max(drain_bytes, max_bytes)

    async def _reject(
        self, scope: Scope, receive: Receive, send: Send, *, received: int, more: bool,
        drain: bool = True,
    ) -> None:  # fmt: skip
        while drain and more and received <= self.drain_bytes:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
        headers = {"Connection": "close"} if more else None
        message_text = f"the request body exceeds {self.max_bytes} bytes; send smaller batches"
        response = error_response(413, [FieldError(field="body", message=message_text)], headers)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    # a declared length past the drain bound is not worth reading
                    drain = value.isdigit() and int(value) <= self.drain_bytes
                    await self._reject(scope, receive, send, received=0, more=True, drain=drain)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                more = message.get("more_body", False)
                await self._reject(scope, receive, send, received=size, more=more)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class HeadMiddleware:
    """Answers ``HEAD`` on every ``GET`` route: the GET's status and headers, no body.

    The routes are declared for GET only (FastAPI adds no HEAD), which answered HEAD with
    405; HTTP expects a server to support HEAD wherever it supports GET. The app runs the
    request as a GET on a copy of the scope; the outer scope keeps ``HEAD`` (the server
    then sends no body) and gets the matched route back, for the metrics.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        inner = dict(scope, method="GET")

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(inner, receive, headers_only)
        finally:
            for key in ("route", "endpoint", "path_params"):
                if key in inner:
                    scope.setdefault(key, inner[key])
