"""The use cases of an alert's life, each taking (session, actor, ...), each
auditing its transition and raising ServiceError subclasses.

    compose / compose_from_cap / edit -> submit -> approve (publishes) | reject
    published -> update | cancel | expire_due
"""

from publisher.services.approval import approve, reject, submit
from publisher.services.composition import compose, compose_from_cap, edit
from publisher.services.expiry import expire_due
from publisher.services.queries import AlertPage, get_alert, list_alerts
from publisher.services.revisions import cancel, live_messages, update

__all__ = [
    "AlertPage",
    "approve",
    "cancel",
    "compose",
    "compose_from_cap",
    "edit",
    "expire_due",
    "get_alert",
    "list_alerts",
    "live_messages",
    "reject",
    "submit",
    "update",
]
