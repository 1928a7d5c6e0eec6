"""The middleware that names each web request on the log lines written while it is handled."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.observability.log_context import request_log_context

__all__ = ["log_context_middleware"]


@web.middleware
async def log_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # aiohttp handles each request in its own task, with its own copy of the
    # context: what is bound here stays on this request's lines.
    with request_log_context(request.method, request.path, request.match_info):
        return await handler(request)
