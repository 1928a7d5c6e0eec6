"""Apps in the API: the administrator's registry and reports, and the apps' own stream.

- ``GET /api/apps``, ``POST /api/apps``, ``DELETE /api/apps/{name}``: the
  registry, for an administrator (the services check the role). Registering
  answers the app's credential, and a webhook app's signing secret, once.
- ``GET /api/apps/{name}/report?month=YYYY-MM``: the app's deliveries of the
  month and its delivery lag, p50 and p99.
- ``GET /api/stream`` and ``POST /api/stream/acks``: the apps themselves
  (``publisher.web.app_stream``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.services.apps import (
    app_json,
    list_apps_as_staff,
    register_app_as_staff,
    remove_app_as_staff,
)
from publisher.services.apps_report import app_report_as_staff
from publisher.web.app_stream import add_app_stream
from publisher.web.auth import current_actor
from publisher.web.bodies import read_json_object
from publisher.web.context import in_transaction
from publisher.web.representations import json_response

__all__ = ["add_apps", "routes"]

routes = web.RouteTableDef()


@routes.get("/api/apps")
async def list_apps(request: web.Request) -> web.Response:
    actor = current_actor(request)
    return json_response(await in_transaction(request, lambda session: {
        "apps": [app_json(app) for app in list_apps_as_staff(session, actor)]}))


@routes.post("/api/apps")
async def register_app(request: web.Request) -> web.Response:
    actor = current_actor(request)
    fields = await read_json_object(request)

    def registering(session: Session) -> dict[str, Any]:
        registered = register_app_as_staff(session, actor, fields)
        return {"app": app_json(registered.app), "credential": registered.credential,
                "webhook_secret": registered.webhook_secret}

    body = await in_transaction(request, registering)
    return json_response(body, status=201,
                         headers={"Location": f"/api/apps/{body['app']['name']}"})


@routes.delete("/api/apps/{name}")
async def remove_app(request: web.Request) -> web.Response:
    actor, name = current_actor(request), request.match_info["name"]
    await in_transaction(request, lambda session: remove_app_as_staff(session, actor, name))
    return json_response({"name": name, "removed": True})


@routes.get("/api/apps/{name}/report")
async def report(request: web.Request) -> web.Response:
    actor, name = current_actor(request), request.match_info["name"]
    month = request.query.get("month", "")
    return json_response(await in_transaction(request, lambda session: app_report_as_staff(
        session, actor, name, month).as_json()))


def add_apps(app: web.Application) -> None:
    app.add_routes(routes)
    add_app_stream(app)
