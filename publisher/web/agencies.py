"""The agency registry in the API, for administrators (the services check the role).

- ``GET /api/agencies``, ``POST /api/agencies``: list, register (answers the
  agency's credential and webhook secret once);
- ``GET``, ``PATCH``, ``DELETE /api/agencies/{code}``: one agency;
- ``GET /api/agencies/{code}/report?month=YYYY-MM``: its month.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.services.actors import require_role
from publisher.services.agencies import (
    agency_json,
    change_agency,
    find_agency,
    list_agencies,
    register_agency,
    remove_agency,
)
from publisher.services.agencies_report import agency_report
from publisher.services.errors import NotFound
from publisher.store.models import Role
from publisher.web.auth import current_actor
from publisher.web.bodies import read_json_object
from publisher.web.context import in_transaction
from publisher.web.representations import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/api/agencies")
async def list_all(request: web.Request) -> web.Response:
    actor = current_actor(request)
    return json_response(await in_transaction(request, lambda session: {
        "agencies": [agency_json(agency) for agency in list_agencies(session, actor)]}))


@routes.post("/api/agencies")
async def register(request: web.Request) -> web.Response:
    actor = current_actor(request)
    fields = await read_json_object(request)

    def registering(session: Session) -> dict[str, Any]:
        registered = register_agency(session, actor, fields)
        return {"agency": agency_json(registered.agency), "credential": registered.credential,
                "webhook_secret": registered.webhook_secret}

    body = await in_transaction(request, registering)
    return json_response(body, status=201,
                         headers={"Location": f"/api/agencies/{body['agency']['code']}"})


@routes.get("/api/agencies/{code}")
async def show(request: web.Request) -> web.Response:
    actor, code = current_actor(request), request.match_info["code"]

    def showing(session: Session) -> dict[str, Any]:
        require_role(actor, Role.ADMIN, "reading an agency")
        agency = find_agency(session, code)
        if agency is None:
            raise NotFound(f"no agency {code!r}", field="code")
        return agency_json(agency)

    return json_response(await in_transaction(request, showing))


@routes.patch("/api/agencies/{code}")
async def change(request: web.Request) -> web.Response:
    actor, code = current_actor(request), request.match_info["code"]
    fields = await read_json_object(request)
    return json_response(await in_transaction(request, lambda session: agency_json(
        change_agency(session, actor, code, fields))))


@routes.delete("/api/agencies/{code}")
async def remove(request: web.Request) -> web.Response:
    actor, code = current_actor(request), request.match_info["code"]
    await in_transaction(request, lambda session: remove_agency(session, actor, code))
    return json_response({"code": code, "removed": True})


@routes.get("/api/agencies/{code}/report")
async def report(request: web.Request) -> web.Response:
    actor, code = current_actor(request), request.match_info["code"]
    month = request.query.get("month", "")
    return json_response(await in_transaction(request, lambda session: agency_report(
        session, actor, code, month)))
