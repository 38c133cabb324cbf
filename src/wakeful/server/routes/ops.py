"""What an operator's tools poll: Prometheus metrics and readiness.

`GET /metrics` is the Prometheus exposition of the runtime's registry (OpenMetrics when the scraper
asks for it); `GET /global/ready` answers 200 while the server takes work and 503 while it drains or
when its store does not answer a read within `ready_timeout`. Both sit behind the server's Basic auth
like every other route (`/global/health` says only that the process answers).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder

from wakeful.errors import ServiceUnavailableError
from wakeful.server.deps import RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.wire.meta import Ready

router = APIRouter(route_class=WireRoute)
# A message id that no run has: reading it is a round trip to the store and nothing else.
PROBE = "msg_ready_probe"


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep, request: Request) -> Response:
    # Rendered on the event loop, not in a thread: the gauges the run manager and the event bus
    # bind read their live state, which only the loop may touch. It takes about a millisecond.
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(runtime.metrics.registry), media_type=content_type)


@router.get("/global/ready", operation_id="global.ready", tags=["global"])
async def ready(runtime: RuntimeDep) -> Ready:
    """200 while the server takes work; 503 (`ServiceUnavailableError`, with `Retry-After`) while it
    drains for shutdown or when its store does not answer."""
    runtime.refuse_when_draining()
    timeout = runtime.config.ready_timeout
    try:
        async with asyncio.timeout(timeout):
            await runtime.store.get_run(PROBE)
    except TimeoutError:
        raise ServiceUnavailableError(f"The store did not answer within {timeout:g} s") from None
    except Exception as exc:  # whatever the store raises, the answer is the same: not ready
        raise ServiceUnavailableError(f"The store does not answer: {type(exc).__name__}: {exc}") from None
    return Ready(ready=True)
