"""Signed CAP from the center, as the node takes it: proven, read, and named by its key.

Nothing is relayed that does not carry a signature which holds and whose
certificate is the center's (or issued by it) and valid now. The message's
key is (sender, identifier, sent), with ``sent`` written the one CAP way so
that the same message compares equal however it was spelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from publisher.cap.model import Alert, MsgType
from publisher.cap.problems import CapError, errors_of, format_problem
from publisher.cap.reader import read_alert
from publisher.cap.signature_verify import verify_alert_xml
from publisher.cap.writer import format_datetime
from publisher.channels.device_push import referenced_identifiers

__all__ = ["MessageKey", "RefusedMessage", "SignedMessage", "canonical_sent", "read_signed"]


class RefusedMessage(ValueError):
    """A message the node will not hold; ``field`` names the part at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MessageKey:
    sender: str
    identifier: str
    sent: str


def canonical_sent(value: str | datetime) -> str:
    """``sent`` as CAP writes it; raises ValueError for text that is no time with an offset."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_datetime(moment)


@dataclass(frozen=True, slots=True)
class SignedMessage:
    alert: Alert
    xml: bytes

    @property
    def key(self) -> MessageKey:
        return MessageKey(self.alert.sender, self.alert.identifier,
                          canonical_sent(self.alert.sent))

    @property
    def is_cancel(self) -> bool:
        return self.alert.msg_type is MsgType.CANCEL

    @property
    def references(self) -> list[str]:
        """The identifiers an Update replaces or a Cancel withdraws."""
        return referenced_identifiers(self.alert)

    @property
    def expires(self) -> datetime | None:
        """When the last of its info blocks expires; None when one never does."""
        moments = [info.expires for info in self.alert.infos]
        if not moments or any(moment is None for moment in moments):
            return None
        return max(moment for moment in moments if moment is not None)

    def expired(self, now: datetime | None = None) -> bool:
        expires = self.expires
        return expires is not None and expires <= (now or datetime.now(UTC))


def read_signed(xml: bytes, trusted: Sequence[x509.Certificate]) -> SignedMessage:
    """The alert in ``xml`` once its signature is proven to be the center's.

    Raises RefusedMessage naming ``signature`` or ``alert`` and the reason.
    """
    try:
        verification = verify_alert_xml(xml, trusted)
        if not verification.valid:
            raise RefusedMessage("signature", f"{verification.outcome.value}:"
                                              f" {verification.reason}")
        result = read_alert(xml)
    except CapError as error:
        raise RefusedMessage("alert", str(error)) from None
    errors = errors_of(result.problems)
    if result.alert is None or errors:
        reason = format_problem(errors[0]) if errors else "no alert could be read"
        raise RefusedMessage("alert", reason)
    return SignedMessage(result.alert, xml)
