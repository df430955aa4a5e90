"""The chat page at `/` and its static files (turned off with --web-ui off).

The page is a client of the public APIs only (Models, Conversations, Responses), so it needs no
route of its own beyond its files. `/` and `/static/` answer without an API key (auth.py) so the
page can load and ask for one; everything it then does goes through the key like any client.

Headers: the page is served fresh (`no-cache`, with an ETag), its files for a year (their names
change with their content); a Content-Security-Policy allows scripts, styles and connections to
this server only, so nothing a model writes can load or run anything, even past the sanitizer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gossamer.server.errors import APIError
from gossamer.server.state import get_state
from gossamer.server.webui.assets import Asset, bundle

router = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
_FILE_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"}


def _require_enabled(request: Request) -> None:
    if not get_state(request).settings.web_ui:
        raise APIError(404, "The chat page is turned off on this server (--web-ui off).", code="not_found")


def _serve(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    base = {**headers, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=base)
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "")
    if asset.gzipped is not None and accepts_gzip:
        return Response(
            asset.gzipped, media_type=asset.media_type, headers={**base, "Content-Encoding": "gzip"}
        )
    return Response(asset.body, media_type=asset.media_type, headers=base)


@router.get("/")
async def page(request: Request) -> Response:
    _require_enabled(request)
    return _serve(request, bundle().index, _PAGE_HEADERS)


@router.get("/static/{path:path}")
async def static_file(path: str, request: Request) -> Response:
    _require_enabled(request)
    asset = bundle().files.get(path)
    if asset is None:
        raise APIError(404, f"No file '{path}' here.", code="not_found")
    return _serve(request, asset, _FILE_HEADERS)
