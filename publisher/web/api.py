"""The staff REST API under ``/api``: thin views over the lifecycle and delivery services.

Each view checks the shape of its input, runs one use case in one
transaction and returns the JSON form of the result. Authentication is the
middleware's job; roles and the two-person rule are the services'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.cap import Profile
from publisher.services import delivery_report, lifecycle
from publisher.services.agency_channels import channel_limits
from publisher.services.errors import InvalidInput
from publisher.store.models import Message
from publisher.web.auth import current_actor
from publisher.web.bodies import CAP_MEDIA_TYPES, JSON_MEDIA_TYPE, read_json_object
from publisher.web.context import FANOUT, SIGNER, in_transaction
from publisher.web.errors import error_response
from publisher.web.path_ids import path_id
from publisher.web.representations import (
    alert_json,
    alert_summary_json,
    json_response,
    message_json,
)

__all__ = ["PER_PAGE", "page_number", "routes"]

PER_PAGE = 50

routes = web.RouteTableDef()


def _alert_id(request: web.Request) -> int:
    return path_id(request)


def _profile(request: web.Request) -> Profile:
    """The installation's municipal profile, loaded once with the center's signer."""
    return request.app[SIGNER].issuer.profile


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"must be a whole number from 1, not {raw!r}", field="page")
    return int(raw)


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("required: a non-empty string", field=name)
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput("must be true or false", field=name)
    return value


def _references(body: dict[str, Any]) -> list[str] | None:
    value = body.get("references")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("must be a list of message references "
                           "(sender,identifier,sent)", field="references")
    return value


async def _published(request: web.Request,
                     work: Callable[[Session], Message]) -> web.Response:
    """Run a use case that issues a message; once it is committed, start its fan-out."""
    def publish(session: Session) -> dict[str, Any]:
        message = work(session)
        return {"alert": alert_json(message.alert), "message": message_json(message)}

    result = await in_transaction(request, publish)
    result["fanout"] = await request.app[FANOUT].trigger(result["message"]["id"])
    return json_response(result)


@routes.post("/api/alerts")
async def create_alert(request: web.Request) -> web.Response:
    actor, profile = current_actor(request), _profile(request)
    if request.content_type == JSON_MEDIA_TYPE:
        payload = await read_json_object(request)
        alert = await in_transaction(request, lambda session: alert_json(
            lifecycle.compose(session, actor, payload, profile=profile)))
    elif request.content_type in CAP_MEDIA_TYPES:
        data = await request.read()
        alert = await in_transaction(request, lambda session: alert_json(
            lifecycle.compose_from_cap(session, actor, data, profile=profile)))
    else:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send {JSON_MEDIA_TYPE} "
                              "or application/cap+xml")
    return json_response(alert, status=201, headers={"Location": alert["links"]["self"]})


@routes.get("/api/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    state, page = request.query.get("state") or None, page_number(request)

    def listing(session: Session) -> dict[str, Any]:
        found = lifecycle.list_alerts(session, state, page, PER_PAGE)
        return {"alerts": [alert_summary_json(alert) for alert in found.items],
                "page": found.page, "per_page": found.per_page, "total": found.total}

    return json_response(await in_transaction(request, listing))


@routes.get(r"/api/alerts/{alert_id:\d+}")
async def get_alert(request: web.Request) -> web.Response:
    alert_id = _alert_id(request)
    return json_response(await in_transaction(
        request, lambda session: {**alert_json(lifecycle.get_alert(session, alert_id)),
                                  "channel_limits": channel_limits(session, alert_id)}))


@routes.put(r"/api/alerts/{alert_id:\d+}")
async def edit_alert(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    payload, profile = await read_json_object(request), _profile(request)
    return json_response(await in_transaction(request, lambda session: alert_json(
        lifecycle.edit(session, actor, alert_id, payload, profile=profile))))


@routes.post(r"/api/alerts/{alert_id:\d+}/submit")
async def submit_alert(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    await read_json_object(request, empty_ok=True)
    return json_response(await in_transaction(
        request, lambda session: alert_json(lifecycle.submit(session, actor, alert_id))))


@routes.post(r"/api/alerts/{alert_id:\d+}/reject")
async def reject_alert(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    reason = _text(await read_json_object(request), "reason")
    return json_response(await in_transaction(
        request, lambda session: alert_json(lifecycle.reject(session, actor, alert_id, reason))))


@routes.post(r"/api/alerts/{alert_id:\d+}/approve")
async def approve_alert(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    confirm_actual = _flag(await read_json_object(request, empty_ok=True), "confirm_actual")
    signer = request.app[SIGNER]
    return await _published(request, lambda session: lifecycle.approve(
        session, actor, alert_id, signer, confirm_actual=confirm_actual))


@routes.post(r"/api/alerts/{alert_id:\d+}/update")
async def update_alert(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    payload = await read_json_object(request)
    # Not CAP content: the approver's confirmation that an Actual update may go out.
    confirm_actual = _flag(payload, "confirm_actual")
    payload.pop("confirm_actual", None)
    signer = request.app[SIGNER]
    return await _published(request, lambda session: lifecycle.update(
        session, actor, alert_id, payload, signer, confirm_actual=confirm_actual,
        profile=signer.issuer.profile))


@routes.post(r"/api/alerts/{alert_id:\d+}/cancel")
async def cancel_alert(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    body = await read_json_object(request)
    reason, references = _text(body, "reason"), _references(body)
    signer = request.app[SIGNER]
    return await _published(request, lambda session: lifecycle.cancel(
        session, actor, alert_id, signer, references=references, reason=reason))


@routes.get(r"/api/alerts/{alert_id:\d+}/deliveries")
async def alert_deliveries(request: web.Request) -> web.Response:
    """The summary, or with any of channel, status or page, one page of the rows."""
    alert_id = _alert_id(request)
    if not {"channel", "status", "page"} & set(request.query):
        return json_response(await in_transaction(
            request, lambda session: delivery_report.delivery_summary(session, alert_id)))
    channel, status = request.query.get("channel"), request.query.get("status")
    page = page_number(request)
    return json_response(await in_transaction(
        request, lambda session: delivery_report.list_deliveries(
            session, alert_id, channel, status, page, PER_PAGE)))
