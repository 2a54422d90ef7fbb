"""The FastAPI application of one server process."""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tinyfleet import __version__
from tinyfleet.errors import TinyfleetError
from tinyfleet.server.api.schemas import HealthOut, add_contract_schemas
from tinyfleet.server.metrics import HTTP_DURATION, install_fleet_collector
from tinyfleet.server.runtime import Runtime
from tinyfleet.server.tracing import span

__all__ = ["create_app"]

log = logging.getLogger("tinyfleet.api")


def create_app(rt: Runtime, *, start: bool = True) -> FastAPI:
    """``start``: start the broker, MQTT link and scheduler with the app (and stop them at shutdown)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start:
            rt.start()
        try:
            yield
        finally:
            if start:
                rt.stop()

    app = FastAPI(
        title="tinyfleet fleet server",
        version=__version__,
        description="Devices, signed models, staged rollouts with ML health gates, drift. "
        "Authenticate with `Authorization: Bearer <token>` (roles: viewer < operator < admin).",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copy of Swagger UI / ReDoc (no CDN)
        redoc_url=None,
    )
    app.state.runtime = rt
    install_fleet_collector(rt.db)
    _observe(app)
    _docs(app)

    @app.exception_handler(TinyfleetError)
    async def _tinyfleet_error(_req: Request, exc: TinyfleetError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/api/v1/health", tags=["server"], response_model=HealthOut)
    def health() -> HealthOut:
        """Liveness and what this process runs (no token needed)."""
        return HealthOut(
            status="ok",
            version=__version__,
            mqtt_connected=bool(rt.link and rt.link.connected.is_set()),
            broker="builtin" if rt.settings.builtin_broker else "external",
            broker_running=bool(rt.broker and rt.broker.running()),
            broker_port=rt.device_broker()[1],
        )

    @app.get("/metrics", tags=["server"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    from tinyfleet.server.api import capture, devices, drift, models, policies, rollouts, stream, tokens

    for module in (devices, models, rollouts, drift, tokens, stream, capture, policies):
        app.include_router(module.router)

    from tinyfleet.server.dashboard import (
        mount as mount_dashboard,  # the web dashboard at /ui/ (docs/dashboard.md)
    )

    mount_dashboard(app)
    add_contract_schemas(app)
    return app


def _observe(app: FastAPI) -> None:
    """Request duration histogram and a server span per request, by route template (bounded labels)."""

    @app.middleware("http")
    async def _timed(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        method = request.method
        with span(
            f"{method} {request.url.path}", kind="server", attributes={"http.request.method": method}
        ) as sp:
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                route = request.scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                sp.set_attribute("http.route", template)
                sp.set_attribute("http.response.status_code", status)
                if status >= 500:
                    sp.set_status_error(f"HTTP {status}")
                HTTP_DURATION.labels(method, template, str(status)).observe(time.perf_counter() - t0)


def _assets() -> Path | None:
    """Swagger UI and ReDoc assets shipped by the ``fastapi-offline`` package (found, not imported)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def _docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from local files: they work offline."""
    assets = _assets()
    if assets is None:
        log.warning(
            "fastapi-offline is not installed: /docs and /redoc are off (the API is at /openapi.json)"
        )
        return
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )
