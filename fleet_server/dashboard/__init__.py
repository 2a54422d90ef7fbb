"""The operators' web dashboard, served by the fleet server itself (docs/dashboard.md).

``mount(app)`` adds the single-page dashboard at ``/ui/`` (vanilla JavaScript modules, hand-written
SVG charts and one stylesheet, all in ``static/``: nothing is fetched from another host, and the
Content-Security-Policy header forbids it) and the dashboard's read-only helper routes under
``/api/v1/ui/`` (``routes.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "STATIC_DIR", "mount"]

STATIC_DIR = Path(__file__).with_name("static")

# Everything comes from this server: scripts, styles, data. Inline scripts are not allowed either.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _UiHeaders:
    """Adds the CSP and no-cache headers to every response under ``/ui``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/ui"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", CSP.encode()))
                headers.append((b"cache-control", b"no-cache"))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` and its helper API at ``/api/v1/ui/`` on ``app``."""
    from tinyfleet.server.dashboard.routes import router

    index = STATIC_DIR / "index.html"

    @app.get("/ui", include_in_schema=False)
    def _ui_redirect() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui/", include_in_schema=False)
    def _ui_index() -> FileResponse:
        return FileResponse(index, media_type="text/html")

    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(router)
    app.add_middleware(_UiHeaders)
