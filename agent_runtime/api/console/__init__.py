"""The web console: static files (HTML, CSS, JavaScript modules) served by the API at `/console`.

No build step and nothing from another origin: every response carries a strict Content-Security-Policy
(`CSP`), so the pages can run only their own scripts and talk only to this API, with the same `/v1`
routes and API keys as every other client. The pages need no key to load; the key the user enters stays
in the tab's session storage and goes out as the bearer header of each `/v1` call.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

PREFIX = "/console"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}

_STATIC = files(__name__) / "static"

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> Response:
    """One file of the console by its plain name (no folders: nothing outside `static/` can be asked for)."""
    suffix = name[name.rfind("."):] if "." in name else ""
    resource = _STATIC / name
    if "/" in name or name.startswith(".") or suffix not in MEDIA_TYPES or not resource.is_file():
        raise HTTPException(status_code=404, detail=f"no console file {name!r}")
    return Response(resource.read_bytes(), media_type=MEDIA_TYPES[suffix], headers=HEADERS)


@router.get(PREFIX)
async def console_root() -> RedirectResponse:
    """`/console` -> `/console/`, so the pages' relative URLs resolve under it."""
    return RedirectResponse(f"{PREFIX}/", status_code=308, headers=HEADERS)


@router.get(f"{PREFIX}/")
async def console_page() -> Response:
    """The console's one HTML page; the views are drawn by `app.js`."""
    return _asset("index.html")


@router.get(PREFIX + "/{name}")
async def console_file(name: str) -> Response:
    """A stylesheet or script module of the console."""
    return _asset(name)


__all__ = ["CSP", "PREFIX", "router"]
