"""The JSON forms of the platform's rows, as the REST API returns them."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from aiohttp import web

from publisher.cap.districts import GB_T_2260
from publisher.services.district_names import DistrictNames
from publisher.services.subscribers import followed_codes
from publisher.store.models import Agency, Alert, Message, Subscriber

__all__ = ["alert_json", "alert_summary_json", "cap_path", "json_response", "message_json",
           "subscriber_json"]

# Chinese text stays readable in responses and in curl's output.
_dumps = partial(json.dumps, ensure_ascii=False)


def json_response(data: Any, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def cap_path(alert_id: int) -> str:
    return f"/alerts/{alert_id}.cap"


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "identifier": message.identifier,
        "sender": message.sender,
        "sent": _time(message.sent),
        "msg_type": message.msg_type,
        "status": message.status,
        "references": message.references,
        "expires_at": _time(message.expires_at),
        "sha256": message.sha256,
    }


def _agency_json(agency: Agency | None) -> dict[str, str] | None:
    return {"code": agency.code, "name": agency.name} if agency is not None else None


def alert_summary_json(alert: Alert) -> dict[str, Any]:
    latest = alert.latest_message
    return {
        "id": alert.id,
        "state": str(alert.state),
        "status": alert.status,
        "event": alert.event,
        "headline": alert.headline,
        "severity": alert.severity,
        "author_id": alert.author_id,
        "approver_id": alert.approver_id,
        "agency": _agency_json(alert.agency),
        "expires_at": _time(alert.expires_at),
        "created_at": _time(alert.created_at),
        "updated_at": _time(alert.updated_at),
        "latest_identifier": latest.identifier if latest is not None else None,
        "links": {
            "self": f"/api/alerts/{alert.id}",
            "deliveries": f"/api/alerts/{alert.id}/deliveries",
            "cap": cap_path(alert.id) if latest is not None else None,
        },
    }


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        **alert_summary_json(alert),
        "rejection_reason": alert.rejection_reason,
        "draft": alert.draft,
        "messages": [message_json(message) for message in alert.messages],
    }


def subscriber_json(subscriber: Subscriber, districts: DistrictNames) -> dict[str, Any]:
    def district_json(code: str) -> dict[str, str | None]:
        district = districts.table.resolve_geocode(GB_T_2260, code)
        return {"code": code, "name_zh": district.name_zh if district else None,
                "name_en": district.name_en if district else None}

    return {
        "contact_points": [{"kind": str(point.kind), "value": point.value}
                           for point in subscriber.contact_points],
        "districts": [district_json(code) for code in followed_codes(subscriber)],
        "language": subscriber.language,
        "active": subscriber.active,
        "is_test": subscriber.is_test,
        "subscribed_at": _time(subscriber.subscribed_at),
        "unsubscribed_at": _time(subscriber.unsubscribed_at),
    }
