"""Server-sent events: device, model, rollout and drift changes as they happen in this process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from tinyfleet.server.api.deps import RT, Viewer

router = APIRouter(prefix="/api/v1", tags=["stream"])


@router.get("/events/stream", response_class=StreamingResponse)
async def stream(request: Request, rt: RT, _: Viewer) -> StreamingResponse:
    """``text/event-stream``: one event per change (``event: device|model|rollout|drift``, JSON data),
    and a comment every 15 s to keep proxies from closing the connection."""
    queue = rt.bus.subscribe()

    async def events() -> AsyncIterator[str]:
        try:
            yield ": tinyfleet\n\n"
            while not await request.is_disconnected():
                try:
                    change = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                data = json.dumps({**change.data, "ts": change.ts}, separators=(",", ":"))
                yield f"event: {change.kind}\ndata: {data}\n\n"
        finally:
            rt.bus.unsubscribe(queue)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
