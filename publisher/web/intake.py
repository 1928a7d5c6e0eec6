"""``POST /api/intake`` and ``GET /api/intake/{id}``: what agencies call, with their credential.

The agency's bearer credential says who it is; the signature of the CAP it
posts must come from that agency's certificates. A refusal answers
``{"error", "field", "rule", "reason"}``: 400 for a message that is not
usable CAP, 403 for a signature, a sender or a permission, 409 for a message
submitted before. An accepted message answers 201 with its intake record;
one published directly under the agency's policy is handed to fan-out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable, load_districts
from publisher.services.agencies import agency_for_credential
from publisher.services.intake import intake_record, receive_intake
from publisher.services.intake_notifications import intake_json
from publisher.web.auth import bearer_token
from publisher.web.bodies import CAP_MEDIA_TYPES
from publisher.web.context import FANOUT, SETTINGS, SIGNER, in_transaction
from publisher.web.errors import STATUS_BY_KIND, error_response
from publisher.web.path_ids import path_id
from publisher.web.representations import json_response

__all__ = ["INTAKE_PATH", "add_intake"]

INTAKE_PATH = "/api/intake"
INTAKE_DISTRICTS = web.AppKey("intake_districts", DistrictTable)

routes = web.RouteTableDef()


async def _open_intake(app: web.Application) -> AsyncIterator[None]:
    app[INTAKE_DISTRICTS] = await asyncio.to_thread(load_districts,
                                                    app[SETTINGS].paths.districts_file)
    yield


def add_intake(app: web.Application) -> None:
    app.cleanup_ctx.append(_open_intake)
    app.add_routes(routes)


@routes.post(INTAKE_PATH)
async def post_intake(request: web.Request) -> web.Response:
    credential = bearer_token(request)
    if request.content_type not in CAP_MEDIA_TYPES:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send application/cap+xml")
    xml = await request.read()
    app = request.app

    def receive(session: Session) -> dict[str, Any]:
        agency = agency_for_credential(session, credential)
        outcome = receive_intake(session, agency, xml, app[SIGNER], app[INTAKE_DISTRICTS])
        if outcome.record is None:
            assert outcome.refusal is not None
            return {"refusal": outcome.refusal}
        messages = outcome.record.alert.messages if outcome.record.alert else []
        return {"intake": intake_json(session, outcome.record),
                "message_id": messages[0].id if messages else None}

    result = await in_transaction(request, receive)
    refusal = result.get("refusal")
    if refusal is not None:
        return json_response(refusal.as_json(), status=STATUS_BY_KIND[refusal.error.kind])
    body = result["intake"]
    if result["message_id"] is not None:
        body["fanout"] = await app[FANOUT].trigger(result["message_id"])
    return json_response(body, status=201, headers={"Location": f"{INTAKE_PATH}/{body['id']}"})


@routes.get(INTAKE_PATH + "/{id:\\d+}")
async def get_intake(request: web.Request) -> web.Response:
    credential, intake_id = bearer_token(request), path_id(request, "id")

    def reading(session: Session) -> dict[str, Any]:
        agency = agency_for_credential(session, credential)
        return intake_json(session, intake_record(session, agency, intake_id))

    return json_response(await in_transaction(request, reading))
