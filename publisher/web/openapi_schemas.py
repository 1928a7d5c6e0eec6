"""The JSON Schemas of the REST API's bodies: the ``components.schemas`` of its OpenAPI description.

Objects the server answers with name every key it always sends, so that a
client generated from the description can rely on them; objects a client
sends name the keys the server reads and accept no others where the server
refuses unknown keys.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS", "ref"]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], *, required: tuple[str, ...] | None = None,
            closed: bool = False) -> Schema:
    """An object with ``properties``, all of them required unless ``required`` names some."""
    return {"type": "object", "properties": properties,
            "required": list(properties if required is None else required),
            "additionalProperties": not closed}


def _listing(key: str, item: Schema, *, paged: bool = False) -> Schema:
    properties: dict[str, Schema] = {key: {"type": "array", "items": item}}
    if paged:
        properties |= {"page": _WHOLE, "per_page": _WHOLE, "total": _WHOLE}
    return _object(properties)


_TEXT: Schema = {"type": "string"}
_WHOLE: Schema = {"type": "integer", "minimum": 0}
_TIME: Schema = {"type": "string", "format": "date-time"}
_FLAG: Schema = {"type": "boolean"}
_TEXTS: Schema = {"type": "array", "items": _TEXT}
_NAMED_VALUE = _object({"valueName": _TEXT, "value": _TEXT})

_ERROR = _object(
    {"error": {"type": "string", "description": "the kind of refusal: invalid, "
               "unauthenticated, forbidden, not_found, conflict, too_large, rate_limited, "
               "method_not_allowed, unsupported_media_type, unavailable, internal"},
     "field": {"type": ["string", "null"],
               "description": "the field, header or CAP path at fault; null when none is"},
     "reason": {"type": "string", "description": "why, for a person to read"},
     "rule": {"type": "string", "description": "the rule of the agency intake that refused"}},
    required=("error", "field", "reason"))

_AREA = _object({
    "areaDesc": _TEXT, "polygon": _TEXTS, "circle": _TEXTS,
    "geocode": {"type": "array", "items": _NAMED_VALUE},
    "altitude": {"type": "number"}, "ceiling": {"type": "number"},
}, required=("areaDesc",))

_INFO = _object({
    "language": _TEXT, "category": _TEXTS, "event": _TEXT, "responseType": _TEXTS,
    "urgency": _TEXT, "severity": _TEXT, "certainty": _TEXT, "audience": _TEXT,
    "eventCode": {"type": "array", "items": _NAMED_VALUE},
    "effective": _TIME, "onset": _TIME, "expires": _TIME, "senderName": _TEXT,
    "headline": _TEXT, "description": _TEXT, "instruction": _TEXT, "web": _TEXT,
    "contact": _TEXT, "parameter": {"type": "array", "items": _NAMED_VALUE},
    "resource": {"type": "array", "items": {"type": "object"}},
    "area": {"type": "array", "items": _AREA},
}, required=("category", "event", "urgency", "severity", "certainty"))

# The alert in the JSON form of `publisher cap convert --to json`, without
# what the center sets when it issues it (identifier, sender, sent).
_DRAFT = _object({
    "status": {"enum": ["Actual", "Exercise", "System", "Test", "Draft"]},
    "msgType": {"enum": ["Alert", "Update", "Cancel", "Ack", "Error"]},
    "scope": {"enum": ["Public", "Restricted", "Private"]},
    "source": _TEXT, "restriction": _TEXT, "addresses": _TEXT, "code": _TEXTS, "note": _TEXT,
    "references": _TEXTS, "incidents": _TEXTS,
    "info": {"type": "array", "items": _INFO},
}, required=("status", "scope", "info"))

_MESSAGE = _object({
    "id": _WHOLE, "identifier": _TEXT, "sender": _TEXT, "sent": _TIME, "msg_type": _TEXT,
    "status": _TEXT, "references": _nullable(_TEXT), "expires_at": _nullable(_TIME),
    "sha256": _TEXT,
})

_ALERT_SUMMARY = _object({
    "id": _WHOLE,
    "state": {"enum": ["draft", "submitted", "rejected", "published", "cancelled", "expired"]},
    "status": _TEXT, "event": _nullable(_TEXT), "headline": _nullable(_TEXT),
    "severity": _nullable(_TEXT), "author_id": _nullable(_WHOLE),
    "approver_id": _nullable(_WHOLE),
    "agency": _nullable(_object({"code": _TEXT, "name": _TEXT})),
    "expires_at": _nullable(_TIME), "created_at": _TIME, "updated_at": _TIME,
    "latest_identifier": _nullable(_TEXT),
    "links": _object({"self": _TEXT, "deliveries": _TEXT, "cap": _nullable(_TEXT)}),
})

_ALERT = {"allOf": [ref("AlertSummary"), _object({
    "rejection_reason": _nullable(_TEXT), "draft": _nullable({"type": "object"}),
    "messages": {"type": "array", "items": ref("Message")},
})]}

_CONTACT_POINT = _object({"kind": {"enum": ["msisdn", "wechat_openid"]}, "value": _TEXT},
                         closed=True)

_DEVICE = _object({
    "device_id": _TEXT, "kind": _TEXT, "name": _nullable(_TEXT),
    "endpoint": _nullable(_TEXT), "sector": _nullable(_TEXT), "district_code": _TEXT,
    "lon": _nullable({"type": "number"}), "lat": _nullable({"type": "number"}),
    "language": _TEXT, "is_test": _FLAG, "capabilities": {"type": "object"},
    "heartbeat_interval": _WHOLE, "health": _TEXT, "offline": _FLAG,
    "last_seen_at": _nullable(_TIME), "created_at": _TIME,
})

_NODE = _object({
    "code": _TEXT, "name": _nullable(_TEXT), "url": _TEXT, "heartbeat_interval": _WHOLE,
    "offline": _FLAG, "last_heard_at": _nullable(_TIME), "created_at": _TIME,
})

_APP = _object({"name": _TEXT, "mode": _TEXT, "webhook_url": _nullable(_TEXT),
                "created_at": _TIME}, required=("name", "mode", "created_at"))

_AGENCY = _object({
    "code": _TEXT, "name": _TEXT, "sender": _TEXT, "contact": _nullable(_TEXT),
    "certificates": _WHOLE, "members": _TEXTS, "permissions": {},
    "direct_publish": _FLAG, "webhook_url": _nullable(_TEXT), "created_at": _TIME,
})

_INTAKE = _object({
    "id": _WHOLE, "identifier": _TEXT, "sender": _TEXT, "sent": _TIME, "received_at": _TIME,
    "alert": _nullable({"type": "object"}), "events": {"type": "array"},
}, required=("id", "identifier", "sender", "sent", "received_at", "alert"))

_REMOVED = {"type": "object", "required": ["removed"],
            "properties": {"removed": {"const": True}}}

SCHEMAS: dict[str, Schema] = {
    "Error": _ERROR,
    "AlertDraft": _DRAFT,
    "Message": _MESSAGE,
    "AlertSummary": _ALERT_SUMMARY,
    "Alert": _ALERT,
    "AlertList": _listing("alerts", ref("AlertSummary"), paged=True),
    "Published": _object({"alert": ref("Alert"), "message": ref("Message"),
                          "fanout": {"enum": ["enqueued", "deferred", "lane"]}},
                         required=("alert", "message", "fanout")),
    "PublishedNotStored": _object({"identifier": _TEXT, "stored": {"const": False},
                                   "reason": _TEXT}),
    "Reason": _object({"reason": {"type": "string", "minLength": 1}}),
    "Approval": _object({"confirm_actual": _FLAG}, required=()),
    "CancelRequest": _object({"reason": {"type": "string", "minLength": 1},
                              "references": _TEXTS}, required=("reason",)),
    "UpdateRequest": {"allOf": [ref("AlertDraft"),
                                _object({"confirm_actual": _FLAG}, required=())]},
    "RetryRequest": _object({"channel": _TEXT}, required=()),
    "Deliveries": {"type": "object"},
    "ContactPoint": _CONTACT_POINT,
    "SubscriberFields": _object({
        "contact_points": {"type": "array", "items": ref("ContactPoint")},
        "districts": _TEXTS, "language": _TEXT, "is_test": _FLAG,
    }, required=(), closed=True),
    "Subscriber": _object({
        "contact_points": {"type": "array", "items": ref("ContactPoint")},
        "districts": {"type": "array", "items": {"type": "object"}},
        "language": _TEXT, "active": _FLAG, "is_test": _FLAG,
        "subscribed_at": _nullable(_TIME), "unsubscribed_at": _nullable(_TIME),
    }),
    "ImportReport": _object({
        "created": _WHOLE, "updated": _WHOLE, "unchanged": _WHOLE, "merged": _WHOLE,
        "refused": _WHOLE, "errors": {"type": "array", "items": _object(
            {"row": _WHOLE, "column": _nullable(_TEXT), "reason": _TEXT})},
    }),
    "DeviceFields": _object({
        "device_id": _TEXT, "kind": {"enum": ["led", "speaker", "terminal"]},
        "endpoint": _TEXT, "sector": _TEXT, "district_code": _TEXT,
        "lon": {"type": "number"}, "lat": {"type": "number"}, "language": _TEXT,
        "capabilities": {"type": "object"}, "heartbeat_interval": _WHOLE, "is_test": _FLAG,
        "name": _TEXT,
    }, required=("device_id", "kind"), closed=True),
    "Device": _DEVICE,
    "DeviceList": _listing("devices", ref("Device"), paged=True),
    "DeviceCreated": _object({"device": ref("Device"), "token": _TEXT}),
    "DeviceAck": {"type": "object", "description": "the receipt of the device's channel"},
    "Heartbeat": _object({"showing": _TEXTS}, required=()),
    "NodeFields": _object({
        "code": _TEXT, "url": _TEXT, "certificate_pem": _TEXT, "heartbeat_interval": _WHOLE,
        "name": _TEXT}, required=("code", "url"), closed=True),
    "Node": _NODE,
    "NodeList": _listing("nodes", ref("Node")),
    "NodeCreated": _object({"node": ref("Node"), "credential": _TEXT}),
    "NodeDetail": {"allOf": [ref("Node"), _object({
        "count_names": _TEXTS, "deliveries": {"type": "array"},
        "local_alerts": {"type": "array"}})]},
    "NodeMessages": _object({
        "messages": {"type": "array", "items": _object({"cursor": _WHOLE, "xml": _TEXT})},
        "next": _WHOLE}),
    "NodeReceipt": {"type": "object", "description": "the district channel's receipt"},
    "AppFields": _object({
        "name": _TEXT, "mode": {"enum": ["stream", "webhook"]}, "webhook_url": _TEXT,
        "districts": _TEXTS, "languages": _TEXTS, "severities": _TEXTS, "statuses": _TEXTS,
    }, required=("name",)),
    "App": _APP,
    "AppList": _listing("apps", ref("App")),
    "AppCreated": _object({"app": ref("App"), "credential": _TEXT,
                           "webhook_secret": _nullable(_TEXT)}),
    "StreamAcks": _object({"events": {"type": "array", "minItems": 1,
                                      "items": {"type": "integer", "minimum": 1}}}),
    "AgencyFields": _object({
        "code": _TEXT, "name": _TEXT, "sender": _TEXT, "contact": _TEXT,
        "certificates": _TEXTS, "permissions": {"type": "object"}, "webhook_url": _TEXT,
        "direct_publish": _FLAG, "members": _TEXTS,
    }, required=()),
    "Agency": _AGENCY,
    "AgencyList": _listing("agencies", ref("Agency")),
    "AgencyCreated": _object({"agency": ref("Agency"), "credential": _TEXT,
                              "webhook_secret": _nullable(_TEXT)}),
    "Intake": _INTAKE,
    "ReachRequest": _object({
        "districts": _TEXTS, "polygons": _TEXTS, "circles": _TEXTS, "status": _TEXT,
    }, required=(), closed=True),
    "Report": {"type": "object", "description": "counts for the month"},
    "Previews": {"type": "object", "description": "every channel's rendering of the alert"},
    "SpeakerScript": _object({"language": _TEXT, "script": _TEXT}, required=("language",
                                                                           "script")),
    "Reach": {"type": "object", "description": "who and what an area reaches"},
    "Dashboard": {"type": "object", "description": "the alert's delivery dashboard"},
    "Timeline": {"type": "object", "description": "the alerts in force, newest first"},
    "Removed": _REMOVED,
    "Recorded": _object({"outcome": _TEXT}),
    "HeartbeatAnswer": _object({"device_id": _TEXT, "heartbeat_interval": _WHOLE,
                                "last_seen_at": _nullable(_TIME)}),
    "NodeAlert": _object({"alert_id": _WHOLE}),
    "StreamAcked": _object({"acks": {}}),
    "Retried": {"type": "object", "description": "how many deliveries went again, by channel"},
    "CsvText": {"type": "string", "description": "a header row, then one subscriber a row"},
    "CapXml": {"type": "string", "description": "a CAP 1.2 alert message, at most 1 MiB"},
    "OpenApi": {"type": "object", "required": ["openapi", "paths"]},
}
