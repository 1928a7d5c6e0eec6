"""``GET /health/live`` and ``GET /health/ready``: the probes of a load balancer or orchestrator.

``/health/live`` answers 200 while the process serves requests at all, and
checks nothing else: restart the process when it fails. ``/health/ready``
answers 200 when the database and the broker answer, 503 when either does
not: route no traffic to it then. Both ask for no token. ``/health`` keeps
the detailed report (channels, SMPP binds, devices) for a person or a
monitoring check.
"""

from __future__ import annotations

from aiohttp import web

from publisher.web.context import HEALTH
from publisher.web.representations import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/health/live")
async def live(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/health/ready")
async def ready(request: web.Request) -> web.Response:
    is_ready, report = await request.app[HEALTH].ready()
    return json_response(report, status=200 if is_ready else 503)
