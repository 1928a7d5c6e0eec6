"""Judge a signed CAP message from an automatic sender: who signed it, and is it in policy.

The signature is the credential: the message must be signed by a certificate
of a registered sender (``eew_policy``), and its ``<sender>`` must be that
sender's. Then what is the lane's own: the message type (an automatic sender
issues Alerts; Update and Cancel are for people), the scope, and a GB/T 2260
geocode on every area; then the sender's permission matrix
(``sender_permissions``: the status, every info's event code, every area
inside the allowed districts or polygon), and the quake's parameters
(``publisher.cap.eew``). The first thing outside the policy is the refusal,
naming its field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from publisher.cap.districts import DistrictTable, is_gb_t_2260
from publisher.cap.eew import EewError, Quake, quake_of
from publisher.cap.model import Alert, MsgType, Scope
from publisher.cap.problems import CapError
from publisher.cap.reader import read_alert
from publisher.cap.signature_verify import SignatureOutcome, verify_alert_xml
from publisher.services.eew_policy import EewRegister, EewSender
from publisher.services.errors import Forbidden, InvalidInput, ServiceError, Unauthenticated
from publisher.services.sender_permissions import SenderPermissions, permission_refusal

__all__ = ["AcceptedEew", "EewRefusal", "judge_eew"]

_INTEGRITY_FAILURES = frozenset({SignatureOutcome.NO_SIGNATURE, SignatureOutcome.MALFORMED,
                                 SignatureOutcome.DIGEST_MISMATCH,
                                 SignatureOutcome.BAD_SIGNATURE})


class EewRefusal(Exception):
    """Why a message was refused, and by whom it claims to be, when that is known."""

    def __init__(self, error: ServiceError, sender: EewSender | None = None,
                 claimed_sender: str | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.sender = sender
        self.claimed_sender = claimed_sender


@dataclass(frozen=True, slots=True)
class AcceptedEew:
    sender: EewSender
    alert: Alert
    quake: Quake
    verify_seconds: float


def _verified_sender(xml: bytes, register: EewRegister, claimed: str) -> EewSender:
    verification = verify_alert_xml(xml, register.certificates())
    if verification.outcome in _INTEGRITY_FAILURES:
        raise EewRefusal(Unauthenticated(f"{verification.outcome}: {verification.reason}",
                                         field="signature"), claimed_sender=claimed)
    if not verification.valid or verification.certificate is None:
        raise EewRefusal(Forbidden(f"{verification.outcome}: {verification.reason}; no"
                                   " registered automatic sender signs with it",
                                   field="signature"), claimed_sender=claimed)
    sender = register.holding(verification.certificate)
    if sender is None:
        raise EewRefusal(Forbidden("the signing certificate is trusted but registered to no"
                                   " automatic sender", field="signature"),
                         claimed_sender=claimed)
    return sender


def _undistricted_area(alert: Alert) -> str | None:
    """The first area naming no GB/T 2260 district, which the shared matrix lets pass."""
    for info_index, info in enumerate(alert.infos):
        for area_index, area in enumerate(info.areas):
            if not any(is_gb_t_2260(geocode.value_name) for geocode in area.geocodes):
                return f"info[{info_index}].area[{area_index}]"
    return None


def _policy_refusal(alert: Alert, permissions: SenderPermissions,
                    districts: DistrictTable | None) -> ServiceError | None:
    if alert.msg_type is not MsgType.ALERT:
        return Forbidden(f"an automatic sender issues Alerts; a {alert.msg_type} is issued by"
                         " a person on the published alert", field="msgType")
    if alert.scope is not Scope.PUBLIC:
        return Forbidden(f"the center publishes Public alerts, not {alert.scope}", field="scope")
    if not alert.infos:
        return InvalidInput("an early warning needs an info block", field="info")
    undistricted = _undistricted_area(alert)
    if undistricted is not None:
        return Forbidden("names no GB/T 2260 district: an automatic sender's areas are"
                         " districts", field=undistricted)
    refusal = permission_refusal(alert, permissions, districts)
    if refusal is not None:
        return Forbidden(refusal.reason, field=refusal.field)
    return None


def _quake(alert: Alert) -> Quake:
    quakes = []
    for index, info in enumerate(alert.infos):
        try:
            quakes.append(quake_of(info, f"info[{index}]"))
        except EewError as error:
            raise InvalidInput(error.reason, field=error.field) from None
    if len(set(quakes)) != 1:
        raise InvalidInput("every info block must name the same epicentre and magnitude",
                           field="info[1].parameter")
    return quakes[0]


def judge_eew(xml: bytes, register: EewRegister,
              districts: DistrictTable | None) -> AcceptedEew:
    """The accepted message, or EewRefusal naming the field and the reason."""
    try:
        result = read_alert(xml)
    except CapError as error:
        raise EewRefusal(InvalidInput(str(error), field="alert")) from None
    if result.alert is None:
        reason = result.problems[0].reason if result.problems else "no CAP alert"
        raise EewRefusal(InvalidInput(reason, field="alert"))
    alert = result.alert
    started = time.perf_counter()
    sender = _verified_sender(xml, register, alert.sender)
    verify_seconds = time.perf_counter() - started
    if alert.sender != sender.sender:
        raise EewRefusal(Forbidden(f"{alert.sender!r} is not the sender its certificate is"
                                   f" registered to ({sender.sender})", field="sender"), sender)
    refusal = _policy_refusal(alert, sender.policy.permissions, districts)
    if refusal is not None:
        raise EewRefusal(refusal, sender)
    try:
        quake = _quake(alert)
    except InvalidInput as error:
        raise EewRefusal(error, sender) from None
    return AcceptedEew(sender, alert, quake, verify_seconds)
