"""One error shape for every failure: ``{"detail": [{"field": ..., "message": ...}]}``."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pulserec.service.schemas import FieldError
from pulserec.storage.base import StorageUnavailable

_LOCATIONS = ("body", "query", "path", "header", "cookie")


class ApiError(Exception):
    """An error answer: a status and what was wrong with which field.

    Parameters
    ----------
    status_code : int
    field : str or None
        Dotted path of the offending field; None when the request as a whole is at fault.
    message : str
        What was expected, in words a caller can act on.
    errors : sequence of FieldError, optional
        Several problems at once (``field`` and ``message`` are then ignored).
    headers : dict, optional
    """

    def __init__(
        self,
        status_code: int,
        field: str | None,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = list(errors) or [FieldError(field=field, message=message)]
        self.headers = headers


def error_response(
    status_code: int, errors: Sequence[FieldError], headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON answer for ``errors``."""
    body = {"detail": [e.model_dump() for e in errors]}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.errors, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        errors.append(FieldError(field=".".join(loc) or None, message=str(err.get("msg", ""))))
    return error_response(422, errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers is not None else None
    return error_response(
        exc.status_code, [FieldError(field=None, message=str(exc.detail))], headers
    )


async def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # shared storage (Redis) is down: nothing was acknowledged; the caller retries later
    message = f"storage unavailable, retry shortly (nothing was recorded): {exc}"
    return error_response(503, [FieldError(field=None, message=message)], {"Retry-After": "1"})


def install_error_handlers(app: FastAPI) -> None:
    """Route ApiError, validation errors and Starlette's HTTP errors to the one shape.

    :class:`StorageUnavailable` (Redis unreachable) answers 503 with ``Retry-After: 1``.
    """
    app.add_exception_handler(StorageUnavailable, _storage_unavailable)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
