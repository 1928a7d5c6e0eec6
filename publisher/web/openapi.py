"""``GET /api/openapi.json``: the OpenAPI 3.1 description of the REST API, for anyone.

Built once from the table of operations (``openapi_operations``) and the
body schemas (``openapi_schemas``). Every error of every operation has the
one documented shape, ``components.schemas.Error``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from aiohttp import web

from publisher.web.openapi_operations import CAP_XML, OPERATIONS, Caller, Operation
from publisher.web.openapi_schemas import SCHEMAS, ref
from publisher.web.representations import json_response

__all__ = ["OPENAPI_PATH", "openapi_document", "routes"]

OPENAPI_PATH = "/api/openapi.json"
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
_PARAMETERS: dict[str, dict[str, Any]] = {
    "alert_id": {"type": "integer", "minimum": 1},
    "id": {"type": "integer", "minimum": 1},
    "page": {"type": "integer", "minimum": 1},
    "kind": {"enum": ["msisdn", "wechat_openid"]},
}
_SECURITY: dict[Caller, list[dict[str, list[str]]]] = {
    Caller.STAFF: [{"staffToken": []}, {"staffSession": [], "csrfToken": []}],
    Caller.DEVICE: [{"deviceToken": []}],
    Caller.NODE: [{"nodeCredential": []}],
    Caller.APP: [{"appCredential": []}],
    Caller.AGENCY: [{"agencyCredential": []}],
    Caller.SIGNED: [],
    Caller.PUBLIC: [],
}
_SECURITY_SCHEMES = {
    "staffToken": {"type": "http", "scheme": "bearer", "description": "a person's pat_ token"},
    "staffSession": {"type": "apiKey", "in": "cookie", "name": "staff_session"},
    "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                  "description": "the session's CSRF token; needed for writes"},
    "deviceToken": {"type": "http", "scheme": "bearer", "description": "the device's dev_ token"},
    "nodeCredential": {"type": "http", "scheme": "bearer",
                       "description": "the district node's node_ credential"},
    "appCredential": {"type": "http", "scheme": "bearer",
                      "description": "the app backend's credential"},
    "agencyCredential": {"type": "http", "scheme": "bearer",
                         "description": "the agency's credential"},
}
_REFUSALS = {
    400: "invalid: the field and the reason are named",
    401: "unauthenticated: no credential, or one that is unknown or revoked",
    403: "forbidden: the role, the signature or the policy does not allow it",
    404: "not_found: nothing at this path",
    409: "conflict: not in a state that allows it, or a duplicate",
    413: "too_large: the body is over 1 MiB",
    415: "unsupported_media_type: a Content-Type this operation does not read",
    429: "rate_limited: too many requests; Retry-After says when to try again",
}
_AUTHENTICATED_REFUSALS = (401, 403)


def _parameter(name: str, where: str, schema: dict[str, Any],
               description: str = "") -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": where, "required": where == "path",
                                 "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    found = [_parameter(name, "path", _PARAMETERS.get(name, {"type": "string"}))
             for name in _PATH_PARAMETER.findall(operation.path)]
    found += [_parameter(query.name, "query",
                         _PARAMETERS.get(query.name, {"type": query.schema}),
                         query.description)
              for query in operation.query]
    return found


def _refusal_statuses(operation: Operation) -> list[int]:
    statuses = {400} if operation.body or operation.query or "{" in operation.path else set()
    if operation.caller not in (Caller.PUBLIC, Caller.SIGNED):
        statuses.update(_AUTHENTICATED_REFUSALS)
    if operation.caller is Caller.SIGNED:
        statuses.update((401, 403, 409, 429))
    if "{" in operation.path:
        statuses.add(404)
    if operation.method in ("POST", "PUT", "PATCH", "DELETE"):
        statuses.add(409)
    if operation.body:
        statuses.update((413, 415))
    if operation.caller is Caller.PUBLIC:
        statuses.add(429)
    return sorted(statuses)


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": ref("Error")}}}


def _success(operation: Operation) -> dict[str, Any]:
    schema = ref(operation.answer) if operation.answer else {"type": "string",
                                                             "format": "binary"}
    return {"description": operation.summary,
            "content": {operation.answer_media: {"schema": schema}}}


def _operation(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {str(operation.status): _success(operation)}
    responses |= {str(status): {"description": when,
                                "content": {"application/json": {"schema": ref(schema)}}}
                  for status, schema, when in operation.also}
    responses |= {str(status): _error(_REFUSALS[status])
                  for status in _refusal_statuses(operation)}
    responses["default"] = _error("any other refusal, in the same shape")
    described: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": f"{operation.method.lower()} {operation.path}",
        "tags": [operation.caller.value],
        "security": _SECURITY[operation.caller],
        "parameters": _parameters(operation),
        "responses": responses,
    }
    if operation.body:
        described["requestBody"] = {
            "required": operation.body_required,
            "content": {media: {"schema": ref("CapXml" if media in CAP_XML else operation.body)}
                        for media in operation.body_media}}
    return described


@functools.cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Public alert publishing platform", "version": "1",
                 "description": "The REST API: see docs/api.md. Every error is "
                                "application/json in the shape of components.schemas.Error."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": _SECURITY_SCHEMES},
    }


routes = web.RouteTableDef()


@routes.get(OPENAPI_PATH)
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())
