"""Every error leaves the API as JSON ``{"error", "field", "reason"}`` with its status code."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.services.errors import ServiceError
from publisher.web.bodies import MAX_BODY_BYTES
from publisher.web.representations import json_response

__all__ = ["STATUS_BY_KIND", "error_middleware", "error_response"]

log = logging.getLogger(__name__)

STATUS_BY_KIND = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
}
# aiohttp's own refusals, before any view ran, in the same vocabulary.
_KIND_BY_STATUS = {status: kind for kind, status in STATUS_BY_KIND.items()} | {
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


def error_response(status: int, kind: str, field: str | None, reason: str,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": kind, "field": field, "reason": reason}
    return json_response(body, status=status, headers=headers)


def _from_http(error: web.HTTPException, request: web.Request) -> web.Response:
    kind = _KIND_BY_STATUS.get(error.status, "http_error")
    if error.status == 404:
        return error_response(404, kind, None, f"no such resource: {request.path}")
    if error.status == 413:
        return error_response(413, kind, "body",
                              f"the body is larger than {MAX_BODY_BYTES} bytes")
    headers = {name: value for name, value in error.headers.items() if name == "Allow"}
    return error_response(error.status, kind, None, error.reason, headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        headers = {"WWW-Authenticate": "Bearer"} if error.kind == "unauthenticated" else None
        return error_response(STATUS_BY_KIND[error.kind], error.kind, error.field,
                              error.reason, headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _from_http(error, request)
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return error_response(500, "internal", None, "internal error; see the server log")
