"""REST API (FastAPI): OpenAPI at ``/docs``, Prometheus at ``/metrics``, routes under ``/api/v1``."""

from tinyfleet.server.api.app import create_app

__all__ = ["create_app"]
