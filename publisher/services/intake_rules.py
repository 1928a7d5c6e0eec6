"""The rules a signed CAP message from an agency must pass, with no database in sight.

The center's intake (``publisher.services.intake``) and a district node's
(``district_nodes.intake``) apply the same rules in the same order: the
message is read; its signature must hold and come from one of the agency's
certificates, valid now; its ``<sender>`` must be the agency's; it must be
an Alert (Update and Cancel are issued by whoever published it); and it must
lie inside the agency's permission matrix (``sender_permissions``). Between
the identity and the permissions each side checks, in its own store, that
the message is not a repeat. A broken rule is raised as a ``Refusal``
naming the field, the rule and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert, MsgType
from publisher.cap.problems import CapError
from publisher.cap.reader import read_alert
from publisher.cap.signature_verify import verify_alert_xml
from publisher.services.errors import Forbidden, InvalidInput, ServiceError
from publisher.services.sender_permissions import SenderPermissions, permission_refusal

__all__ = ["Refusal", "Submitter", "check_permissions", "check_submitter", "read_submission"]


class Refusal(Exception):
    """A submission refused: the error (its kind gives the status) and the rule it broke."""

    def __init__(self, error: ServiceError, rule: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.rule = rule

    def as_json(self) -> dict[str, Any]:
        return {"error": self.error.kind, "field": self.error.field, "rule": self.rule,
                "reason": self.error.reason}


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who an agency is, as its submissions must prove, and what it may publish."""

    code: str
    sender: str
    certificates: Sequence[x509.Certificate]
    permissions: SenderPermissions


def read_submission(xml: bytes) -> Alert:
    try:
        result = read_alert(xml)
    except CapError as error:
        raise Refusal(InvalidInput(str(error), field="alert"), "cap") from None
    if result.alert is None:
        reason = result.problems[0].reason if result.problems else "no CAP alert"
        raise Refusal(InvalidInput(reason, field="alert"), "cap")
    return result.alert


def check_submitter(xml: bytes, alert: Alert, submitter: Submitter, now: datetime) -> None:
    verification = verify_alert_xml(xml, list(submitter.certificates), at=now)
    if not verification.valid:
        raise Refusal(Forbidden(f"{verification.outcome}: {verification.reason}",
                                field="signature"), "signature")
    if alert.sender != submitter.sender:
        raise Refusal(Forbidden(f"{alert.sender!r} is not the agency's sender"
                                f" ({submitter.sender})", field="sender"), "sender")
    if alert.msg_type is not MsgType.ALERT:
        raise Refusal(InvalidInput(f"an agency submits Alerts; a {alert.msg_type} is issued by"
                                   " the publisher on the published alert", field="msgType"),
                      "msg_type")


def check_permissions(alert: Alert, permissions: SenderPermissions,
                      districts: DistrictTable | None) -> None:
    refusal = permission_refusal(alert, permissions, districts)
    if refusal is not None:
        raise Refusal(Forbidden(refusal.reason, field=refusal.field), refusal.rule)
