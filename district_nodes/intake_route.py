"""``POST /api/intake`` on a district node: an agency registered with the district submits.

The agency proves who it is with its bearer credential (``[[agencies]]``
in the node's configuration) and signs the CAP it posts. 201 with the
intake and the district draft it became (published already under a
direct-publish policy); 401 without a registered agency's credential; 415
for a body that is not CAP; a refusal as the center's intake answers it:
400, 403 or 409 with ``error``, ``field``, ``rule`` and ``reason``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from district_nodes.agencies import NodeAgency, agency_of_credential
from district_nodes.intake import POLICY_APPROVER, intake_json, take_intake
from district_nodes.local_alerts import approve, describe
from district_nodes.node import DistrictNode
from district_nodes.store import LocalAlert
from publisher.services.intake_rules import Refusal
from publisher.store.db import session_scope
from publisher.web.bodies import CAP_MEDIA_TYPES
from publisher.web.errors import STATUS_BY_KIND, error_response

__all__ = ["INTAKE_PATH", "answer_intake"]

log = logging.getLogger(__name__)

INTAKE_PATH = "/api/intake"


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


async def _submit(node: DistrictNode, agency: NodeAgency, xml: bytes) -> dict[str, Any]:
    """The intake and its draft, published at once under a direct-publish policy."""
    config, now = node.config, datetime.now(UTC)
    taken: list[dict[str, Any]] = []

    def submitted(session: Session) -> LocalAlert:
        record, local = take_intake(session, agency, xml, config, now)
        taken.append(intake_json(record))
        return local

    if agency.direct_publish:
        draft = await node.publish_local(lambda session: approve(
            session, submitted(session).id, POLICY_APPROVER.format(code=agency.code), config))
    else:
        with session_scope(node.sessions) as session:
            draft = describe(submitted(session), None)
    return {**taken[0], "local_alert": draft}


async def answer_intake(request: web.Request, node: DistrictNode) -> web.Response:
    agency = agency_of_credential(node.config.agencies, _bearer(request))
    if agency is None:
        return error_response(401, "unauthenticated", "Authorization",
                              "the bearer credential of an agency registered with district"
                              f" {node.config.code} is required")
    if request.content_type not in CAP_MEDIA_TYPES:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send application/cap+xml")
    try:
        answer = await _submit(node, agency, await request.read())
    except Refusal as refusal:
        log.warning("intake refused", extra={"node": node.config.code, "agency": agency.code,
                                             **refusal.as_json()})
        return web.json_response(refusal.as_json(), status=STATUS_BY_KIND[refusal.error.kind])
    log.info("intake accepted", extra={"node": node.config.code, "agency": agency.code,
                                       "alert_identifier": answer["identifier"]})
    return web.json_response(answer, status=201)
