"""The web pages: the live demo page ``/`` and the operator dashboard ``/dashboard``.

Both are static HTML with plain JavaScript, served from the package's ``static`` folder;
they call the JSON API with the key the visitor types in (or passes in the address's
fragment, ``#key=``, which the browser never sends). The pages themselves carry no data,
so they need no key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from pulserec.service.errors import ApiError

STATIC_DIR = Path(str(resources.files("pulserec.service") / "static"))
"""Where the pages, styles and scripts live (inside the installed package)."""

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def static_file(name: str) -> FileResponse:
    """One file of the static folder, or a 404; never a path outside it.

    Parameters
    ----------
    name : str
        A bare file name such as ``live.js``.

    Returns
    -------
    FileResponse
        The file, with its media type and ``Cache-Control: no-cache`` (the browser
        revalidates, so a new release's script is never mixed with an old page).
    """
    path = STATIC_DIR / name
    suffix = path.suffix.lower()
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in MEDIA_TYPES:
        raise ApiError(404, "name", f"no static file {name!r}")
    if not path.is_file():
        raise ApiError(404, "name", f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[suffix], headers={"Cache-Control": "no-cache"})


router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/")
async def live_page() -> FileResponse:
    """The live page: browse, click, and watch recommendations and interests move."""
    return static_file("index.html")


@router.get("/dashboard")
async def dashboard_page() -> FileResponse:
    """The operator dashboard (its data needs an admin key)."""
    return static_file("dashboard.html")


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    """A style sheet or script of the pages."""
    return static_file(name)
