"""OpenTelemetry traces, when the optional ``otel`` extra is installed (``opentelemetry-api``).

Spans: one per API request (``GET /api/v1/devices/{device_id}``: method and route template, status
code), one per scheduler round (``scheduler.round``) and one per rollout decision inside it
(``rollout.step``: rollout id, claimed, events written, status after). Without the API package every
helper is a no-op. Exporting is the deployer's choice: configure the SDK (a ``TracerProvider`` with an
exporter, e.g. through ``opentelemetry-instrument`` or the ``OTEL_*`` variables) in the process that runs
``tinyfleet server``; the server itself only creates spans.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

try:  # optional dependency
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - exercised by installs without the otel extra
    _trace = None  # type: ignore[assignment]

__all__ = ["ENABLED", "span"]

ENABLED = _trace is not None
_SCOPE = "tinyfleet.server"


class _NoSpan:
    def set_attribute(self, _key: str, _value: Any) -> None:
        return None

    def set_status_error(self, _description: str) -> None:
        return None


class _Span:
    def __init__(self, span: Any) -> None:
        self._span = span

    def set_attribute(self, key: str, value: Any) -> None:
        self._span.set_attribute(key, value)

    def set_status_error(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))


@contextlib.contextmanager
def span(
    name: str, kind: str = "internal", attributes: dict[str, Any] | None = None
) -> Iterator[_NoSpan | _Span]:
    """A span named ``name`` around the block (``kind``: internal | server)."""
    if _trace is None:
        yield _NoSpan()
        return
    tracer = _trace.get_tracer(_SCOPE)  # looked up per call: the provider may be set after import
    sk = _trace.SpanKind.SERVER if kind == "server" else _trace.SpanKind.INTERNAL
    with tracer.start_as_current_span(name, kind=sk, attributes=attributes or {}) as sp:
        yield _Span(sp)
