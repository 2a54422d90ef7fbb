"""The FastAPI application of one server process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tinyfleet import __version__
from tinyfleet.errors import TinyfleetError
from tinyfleet.server.api.schemas import HealthOut
from tinyfleet.server.runtime import Runtime

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
    )
    app.state.runtime = rt

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

    from tinyfleet.server.api import capture, devices, drift, models, rollouts, stream, tokens

    for module in (devices, models, rollouts, drift, tokens, stream, capture):
        app.include_router(module.router)

    from tinyfleet.server.dashboard import (
        mount as mount_dashboard,  # the web dashboard at /ui/ (docs/dashboard.md)
    )

    mount_dashboard(app)
    return app
