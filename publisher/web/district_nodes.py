"""District sub-center nodes in the API: the registry, and what the nodes call.

- ``GET /api/nodes``, ``POST /api/nodes``, ``DELETE /api/nodes/{code}``: the
  registry, for an administrator; ``GET /api/nodes/{code}``: a node's
  health, its latest deliveries with their local counts, and its local
  alerts, for any staff role.
- ``GET /api/nodes/{code}/messages``, ``POST .../receipts`` and
  ``POST .../alerts``: a node calling in with its own credential (the
  staff authentication leaves these paths alone); another node's
  credential is refused with 403.

A receipt is parsed by the district channel of this process (the device
routes' ``DeviceChannels``; 503 while the channel options make no channel).
A local alert's feed deliveries are enqueued after its transaction commits.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.channels.base import ChannelError
from publisher.services.district_local_alerts import local_alerts_of, receive_local_alert
from publisher.services.district_nodes import (
    DISTRICT_CHANNEL,
    NodeView,
    add_node_as_staff,
    authenticate_node,
    find_node,
    list_nodes,
    node_view,
    remove_node_as_staff,
    require_staff,
)
from publisher.services.district_stream import (
    COUNT_NAMES,
    DEFAULT_PAGE,
    node_deliveries,
    record_node_receipt,
    stream_page,
)
from publisher.services.errors import InvalidInput, NotFound, TooLarge
from publisher.services.public_alerts import FEED_CHANNEL
from publisher.web.auth import bearer_token, current_actor
from publisher.web.bodies import MAX_BODY_BYTES, read_json_object
from publisher.web.context import FANOUT, SETTINGS, SIGNER, in_transaction
from publisher.web.devices import DEVICE_CHANNELS
from publisher.web.errors import error_response
from publisher.web.representations import json_response
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["SHOWN_DELIVERIES", "node_json", "routes"]

SHOWN_DELIVERIES = 20

routes = web.RouteTableDef()


def node_json(view: NodeView) -> dict[str, Any]:
    node = view.node
    return {"code": node.code, "name": node.name, "url": node.target.address,
            "heartbeat_interval": node.heartbeat_interval, "offline": view.offline,
            "last_heard_at": node.last_heard_at.isoformat() if node.last_heard_at else None,
            "created_at": node.created_at.isoformat()}


def _whole(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit():
        raise InvalidInput(f"must be a whole number, not {raw!r}", field=name)
    return int(raw)


@routes.get("/api/nodes")
async def list_district_nodes(request: web.Request) -> web.Response:
    actor = current_actor(request)

    def listing(session: Session) -> dict[str, Any]:
        require_staff(actor, "listing district nodes")
        return {"nodes": [node_json(view) for view in list_nodes(session)]}

    return json_response(await in_transaction(request, listing))


@routes.post("/api/nodes")
async def add_district_node(request: web.Request) -> web.Response:
    actor, districts = current_actor(request), request.app[DISTRICT_NAMES]
    fields = await read_json_object(request)

    def adding(session: Session) -> dict[str, Any]:
        added = add_node_as_staff(session, actor, fields, districts)
        return {"node": node_json(node_view(added.node)), "credential": added.credential}

    body = await in_transaction(request, adding)
    return json_response(body, status=201,
                         headers={"Location": f"/api/nodes/{body['node']['code']}"})


@routes.get("/api/nodes/{code}")
async def get_district_node(request: web.Request) -> web.Response:
    actor, code = current_actor(request), request.match_info["code"]

    def reading(session: Session) -> dict[str, Any]:
        require_staff(actor, "reading a district node")
        node = find_node(session, code)
        if node is None:
            raise NotFound(f"no node for district {code!r}", field="code")
        deliveries = [{"cursor": each.cursor, "identifier": each.identifier,
                       "sent": each.sent.isoformat(), "msg_type": each.msg_type,
                       "status": each.status, "counts": each.counts}
                      for each in node_deliveries(session, node, SHOWN_DELIVERIES)]
        local = [{"identifier": each.identifier, "sender": each.sender,
                  "sent": each.sent.isoformat(), "message_id": each.message_id,
                  "received_at": each.received_at.isoformat()}
                 for each in local_alerts_of(session, node, SHOWN_DELIVERIES)]
        return {**node_json(node_view(node)), "count_names": list(COUNT_NAMES),
                "deliveries": deliveries, "local_alerts": local}

    return json_response(await in_transaction(request, reading))


@routes.delete("/api/nodes/{code}")
async def remove_district_node(request: web.Request) -> web.Response:
    actor, code = current_actor(request), request.match_info["code"]
    await in_transaction(request, lambda session: remove_node_as_staff(session, actor, code))
    return json_response({"code": code, "removed": True})


@routes.get("/api/nodes/{code}/messages")
async def node_messages(request: web.Request) -> web.Response:
    code, credential = request.match_info["code"], bearer_token(request)
    after, limit = _whole(request, "after", 0), _whole(request, "limit", DEFAULT_PAGE)

    def reading(session: Session) -> dict[str, Any]:
        page = stream_page(session, authenticate_node(session, code, credential), after, limit)
        return {"messages": [{"cursor": cursor, "xml": xml.decode("utf-8")}
                             for cursor, xml in page.messages],
                "next": page.next_cursor}

    return json_response(await in_transaction(request, reading))


@routes.post("/api/nodes/{code}/receipts")
async def node_receipt(request: web.Request) -> web.Response:
    code, credential = request.match_info["code"], bearer_token(request)
    body = await read_json_object(request)
    channels = request.app[DEVICE_CHANNELS]

    def recording(session: Session) -> dict[str, Any]:
        node = authenticate_node(session, code, credential)
        stored = record_node_receipt(session, node, channels.get(DISTRICT_CHANNEL), body)
        return {"node": code, "outcome": stored.outcome.value}

    try:
        return json_response(await in_transaction(request, recording))
    except ChannelError as error:
        # This process's configuration is at fault, not the node: it sends the receipt again.
        return error_response(503, "unavailable", "channel", error.reason)


@routes.post("/api/nodes/{code}/alerts")
async def node_alert(request: web.Request) -> web.Response:
    code, credential = request.match_info["code"], bearer_token(request)
    xml = await request.read()
    if len(xml) > MAX_BODY_BYTES:
        raise TooLarge(f"the document is over {MAX_BODY_BYTES} bytes", field="document")
    app = request.app
    districts, signer = app[DISTRICT_NAMES].table, app[SIGNER]
    batch_size = app[SETTINGS].batch_size

    def receiving(session: Session) -> tuple[int, list[list[int]]]:
        node = authenticate_node(session, code, credential)
        reported = receive_local_alert(session, node, xml, districts=districts, signer=signer,
                                       batch_size=batch_size)
        return reported.alert.id, reported.feed_batches

    alert_id, batches = await in_transaction(request, receiving)
    for delivery_ids in batches:
        await app[FANOUT].resend(FEED_CHANNEL, delivery_ids)
    return json_response({"alert_id": alert_id}, status=201,
                         headers={"Location": f"/api/alerts/{alert_id}"})
