"""Every operation of the REST API under ``/api``, as a table: the source of its OpenAPI paths.

A test holds this table and the application's router to each other, so an
operation added to one and not the other fails the suite.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CAP_XML", "OPERATIONS", "Caller", "Operation", "Query"]


class Caller(enum.StrEnum):
    """Who calls an operation, which says how it authenticates and how it may be refused."""

    STAFF = "staff"      # a person's API token, or the staff pages' session and CSRF token
    DEVICE = "device"    # a board's, speaker's or terminal's own token
    NODE = "node"        # a district node's credential
    APP = "app"          # an app backend's credential
    AGENCY = "agency"    # an agency's credential
    SIGNED = "signed"    # an automatic sender: the CAP message's signature is the credential
    PUBLIC = "public"    # anyone


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: str  # "integer", "string" or "boolean"
    description: str


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    caller: Caller
    # The success status and the schema (a components name) or media type of its body.
    status: int = 200
    answer: str = ""
    answer_media: str = "application/json"
    # The request body's schema name, and the media types it may come in.
    body: str = ""
    body_media: tuple[str, ...] = ("application/json",)
    body_required: bool = True
    query: tuple[Query, ...] = ()
    # Other answers that are not refusals: (status, schema, when).
    also: tuple[tuple[int, str, str], ...] = ()


_PAGE = Query("page", "integer", "the page, from 1; 50 items a page")
_LANG = Query("lang", "string", "a language tag such as zh-CN")
_MONTH = Query("month", "string", "the month, YYYY-MM; default the current one")
_AFTER = Query("after", "integer", "the cursor to continue after")
_LIMIT = Query("limit", "integer", "at most this many items")
CAP_XML = ("application/cap+xml", "application/xml", "text/xml")
_STAFF, _DEVICE, _NODE, _APP = Caller.STAFF, Caller.DEVICE, Caller.NODE, Caller.APP
_AGENCY, _SIGNED, _PUBLIC = Caller.AGENCY, Caller.SIGNED, Caller.PUBLIC
_ALERT = "/api/alerts/{alert_id}"
_SUBSCRIBER = "/api/subscribers/{kind}/{value}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/openapi.json", "This description of the API", _PUBLIC,
              answer="OpenApi"),
    # Alerts and their life cycle.
    Operation("POST", "/api/alerts", "Compose a draft, from CAP JSON or imported CAP XML",
              _STAFF, status=201, answer="Alert", body="AlertDraft",
              body_media=("application/json", *CAP_XML)),
    Operation("GET", "/api/alerts", "List the alerts, newest first", _STAFF, answer="AlertList",
              query=(Query("state", "string", "only alerts in this state"), _PAGE)),
    Operation("GET", _ALERT, "One alert, its draft and its messages", _STAFF, answer="Alert"),
    Operation("PUT", _ALERT, "Replace a draft's content", _STAFF, answer="Alert",
              body="AlertDraft"),
    Operation("POST", _ALERT + "/submit", "Submit a draft for approval", _STAFF,
              answer="Alert", body="Approval", body_required=False),
    Operation("POST", _ALERT + "/reject", "Reject a submitted alert, saying why", _STAFF,
              answer="Alert", body="Reason"),
    Operation("POST", _ALERT + "/approve", "Approve, sign and publish a submitted alert",
              _STAFF, answer="Published", body="Approval", body_required=False),
    Operation("POST", _ALERT + "/update", "Publish an Update of a published alert", _STAFF,
              answer="Published", body="UpdateRequest"),
    Operation("POST", _ALERT + "/cancel", "Publish a Cancel of a published alert", _STAFF,
              answer="Published", body="CancelRequest"),
    Operation("GET", _ALERT + "/deliveries", "The delivery summary, or one page of deliveries",
              _STAFF, answer="Deliveries",
              query=(Query("channel", "string", "only this channel"),
                     Query("status", "string", "only deliveries in this status"), _PAGE)),
    Operation("GET", _ALERT + "/dashboard", "The alert's delivery dashboard", _STAFF,
              answer="Dashboard"),
    Operation("GET", _ALERT + "/dashboard/events", "The dashboard's changes as they happen",
              _STAFF, answer_media="text/event-stream"),
    Operation("POST", _ALERT + "/retry-failed", "Send the failed deliveries again", _STAFF,
              answer="Retried", body="RetryRequest", body_required=False),
    Operation("GET", _ALERT + "/previews", "Every channel's rendering of the alert", _STAFF,
              answer="Previews"),
    Operation("GET", _ALERT + "/preview/led/{lang}/{page}.png", "One LED page as an image",
              _STAFF, answer_media="image/png"),
    Operation("GET", _ALERT + "/preview/speaker", "The speakers' script", _STAFF,
              answer="SpeakerScript", query=(_LANG,)),
    Operation("GET", _ALERT + "/preview/speaker.wav", "The speakers' announcement", _STAFF,
              answer_media="audio/wav", query=(_LANG,)),
    Operation("POST", "/api/areas/reach", "Who and what an area reaches", _STAFF,
              answer="Reach", body="ReachRequest"),
    # Subscribers.
    Operation("POST", "/api/subscribers/import", "Import subscribers from CSV", _STAFF,
              answer="ImportReport", body="CsvText", body_media=("text/csv",)),
    Operation("GET", "/api/subscribers/{msisdn}", "A subscriber by phone number", _STAFF,
              answer="Subscriber"),
    Operation("POST", "/api/subscribers", "Add a subscriber", _STAFF, status=201,
              answer="Subscriber", body="SubscriberFields"),
    Operation("GET", _SUBSCRIBER, "A subscriber by any contact point", _STAFF,
              answer="Subscriber"),
    Operation("PATCH", _SUBSCRIBER, "Change a subscriber's districts, language or test flag",
              _STAFF, answer="Subscriber", body="SubscriberFields"),
    Operation("DELETE", _SUBSCRIBER, "Stop reaching a subscriber at this contact point",
              _STAFF, answer="Subscriber"),
    Operation("POST", _SUBSCRIBER + "/contact-points", "Reach a subscriber at one more",
              _STAFF, answer="Subscriber", body="ContactPoint"),
    # Devices.
    Operation("GET", "/api/devices", "The registered boards, speakers and terminals", _STAFF,
              answer="DeviceList",
              query=(Query("kind", "string", "only this kind"),
                     Query("offline", "boolean", "only devices that stopped calling in"),
                     _PAGE)),
    Operation("POST", "/api/devices", "Register a device; its token is shown once", _STAFF,
              status=201, answer="DeviceCreated", body="DeviceFields"),
    Operation("GET", "/api/devices/{device_id}", "One device", _STAFF, answer="Device"),
    Operation("DELETE", "/api/devices/{device_id}", "Remove a device", _STAFF,
              answer="Removed"),
    Operation("POST", "/api/devices/{device_id}/acks", "A device acknowledges a delivery",
              _DEVICE, answer="Recorded", body="DeviceAck"),
    Operation("POST", "/api/devices/{device_id}/heartbeat", "A device says it is alive",
              _DEVICE, answer="HeartbeatAnswer", body="Heartbeat", body_required=False),
    # District nodes.
    Operation("GET", "/api/nodes", "The district nodes", _STAFF, answer="NodeList"),
    Operation("POST", "/api/nodes", "Register a district node; its credential is shown once",
              _STAFF, status=201, answer="NodeCreated", body="NodeFields"),
    Operation("GET", "/api/nodes/{code}", "A node's health, deliveries and local alerts",
              _STAFF, answer="NodeDetail"),
    Operation("DELETE", "/api/nodes/{code}", "Remove a district node", _STAFF,
              answer="Removed"),
    Operation("GET", "/api/nodes/{code}/messages", "The signed messages for a node", _NODE,
              answer="NodeMessages", query=(_AFTER, _LIMIT)),
    Operation("POST", "/api/nodes/{code}/receipts", "A node reports a delivery", _NODE,
              answer="Recorded", body="NodeReceipt"),
    Operation("POST", "/api/nodes/{code}/alerts", "A node reports a district alert it signed",
              _NODE, status=201, answer="NodeAlert", body="CapXml", body_media=CAP_XML),
    # The public timeline and the automatic senders.
    Operation("GET", "/api/timeline", "The public alerts in force, newest first", _PUBLIC,
              answer="Timeline", query=(Query("after", "string", "the cursor to go on after"),
                                        _LIMIT)),
    Operation("POST", "/api/eew", "An earthquake early warning, signed, published at once",
              _SIGNED, status=201, answer="Published", body="CapXml", body_media=CAP_XML,
              also=((202, "PublishedNotStored", "published to the terminals, not stored yet:"
                     " stored from the journal later; do not send it again"),)),
    # Apps.
    Operation("GET", "/api/apps", "The registered app backends", _STAFF, answer="AppList"),
    Operation("POST", "/api/apps", "Register an app backend; its credential is shown once",
              _STAFF, status=201, answer="AppCreated", body="AppFields"),
    Operation("DELETE", "/api/apps/{name}", "Remove an app backend", _STAFF,
              answer="Removed"),
    Operation("GET", "/api/apps/{name}/report", "An app's deliveries in a month", _STAFF,
              answer="Report", query=(_MONTH,)),
    Operation("GET", "/api/stream", "The alerts for an app, as server-sent events", _APP,
              answer_media="text/event-stream", query=(_AFTER,)),
    Operation("POST", "/api/stream/acks", "An app acknowledges events", _APP,
              answer="StreamAcked", body="StreamAcks"),
    # Agencies.
    Operation("GET", "/api/agencies", "The registered agencies", _STAFF, answer="AgencyList"),
    Operation("POST", "/api/agencies", "Register an agency; its credential is shown once",
              _STAFF, status=201, answer="AgencyCreated", body="AgencyFields"),
    Operation("GET", "/api/agencies/{code}", "One agency", _STAFF, answer="Agency"),
    Operation("PATCH", "/api/agencies/{code}", "Change an agency", _STAFF, answer="Agency",
              body="AgencyFields"),
    Operation("DELETE", "/api/agencies/{code}", "Remove an agency", _STAFF,
              answer="Removed"),
    Operation("GET", "/api/agencies/{code}/report", "An agency's submissions in a month",
              _STAFF, answer="Report", query=(_MONTH,)),
    Operation("POST", "/api/intake", "An agency submits a signed CAP message", _AGENCY,
              status=201, answer="Intake", body="CapXml", body_media=CAP_XML),
    Operation("GET", "/api/intake/{id}", "What became of a submission", _AGENCY,
              answer="Intake"),
)
