"""The node's local SMS group: villagers' numbers, sent every alert the node relays.

The group is a JSON list of ``{"msisdn": "+8613...", "language": "zh-CN"}``
(``channels.sms.group_file``); it is reached through the platform's SMS
channel, over the SMSC settings the center's own ``sms`` channel uses. Each
member of the group is a delivery of its own, named by its number. An SMS
goes out in parts; the SMSC's delivery report of each part is matched by
its provider id, and a delivery becomes delivered once every part is,
failed once one part failed.
"""

from __future__ import annotations

import json
import queue
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from district_nodes.store import Delivery, SmsPart
from district_nodes.tallies import move_status
from publisher.channels.base import DeliveryStatus, ParsedReceipt, ReceiptError, SendResult
from publisher.channels.smpp_bind import Acknowledgement
from publisher.channels.sms import SmsChannel
from publisher.services.sms_inbound import receipt_fields

__all__ = ["SMS", "SmsGroupError", "SmsRecipient", "drain_receipts", "read_group",
           "record_parts", "settle_parts"]

SMS = "sms"
_MSISDN = re.compile(r"\+?[0-9]{6,15}")
_FAILED = frozenset({DeliveryStatus.FAILED, DeliveryStatus.EXPIRED})


class SmsGroupError(ValueError):
    """The group file cannot be used; the message names the entry and the reason."""


@dataclass(frozen=True, slots=True)
class SmsRecipient:
    msisdn: str
    language: str

    def __repr__(self) -> str:
        # A number is personal data: its last digits are enough to tell members apart.
        return f"SmsRecipient(msisdn='…{self.msisdn[-4:]}', language={self.language!r})"


def read_group(path: Path, where: str) -> tuple[SmsRecipient, ...]:
    """The group in ``path``; raises SmsGroupError naming ``where`` and the entry at fault."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SmsGroupError(f"{where}: {path}: {error}") from None
    if not isinstance(entries, list):
        raise SmsGroupError(f"{where}: {path} is not a JSON array of group members")
    members: dict[str, SmsRecipient] = {}
    for index, entry in enumerate(entries):
        msisdn = entry.get("msisdn") if isinstance(entry, dict) else None
        if not isinstance(msisdn, str) or not _MSISDN.fullmatch(msisdn.strip()):
            raise SmsGroupError(f"{where}[{index}].msisdn: an international number is required")
        language = entry.get("language", "zh-CN")
        if not isinstance(language, str) or not language.strip():
            raise SmsGroupError(f"{where}[{index}].language: a language tag is required")
        members.setdefault(msisdn.strip(), SmsRecipient(msisdn.strip(), language.strip()))
    return tuple(members.values())


def record_parts(session: Session, results: Iterable[SendResult]) -> None:
    """Keep the provider id of every part the SMSC took, to match its delivery report."""
    for result in results:
        for part in result.parts:
            if session.get(SmsPart, part) is None:
                session.add(SmsPart(provider_id=part, delivery_id=result.delivery_id,
                                    status=DeliveryStatus.SENT.value))


def drain_receipts(channel: SmsChannel) -> tuple[list[ParsedReceipt], list[Acknowledgement]]:
    """The delivery reports the binds received since the last drain, and what answers them.

    The answers go to ``SmsChannel.acknowledge`` once the reports are committed.
    """
    parsed: list[ParsedReceipt] = []
    acknowledgements: list[Acknowledgement] = []
    while True:
        try:
            message = channel.receipts.get_nowait()
        except queue.Empty:
            return parsed, acknowledgements
        acknowledgements.append(message.acknowledgement)
        try:
            parsed.append(channel.parse_receipt(receipt_fields(message)))
        except ReceiptError:
            continue


def _delivery_status(parts: Sequence[DeliveryStatus]) -> DeliveryStatus:
    if any(status in _FAILED for status in parts):
        return DeliveryStatus.FAILED
    if all(status is DeliveryStatus.DELIVERED for status in parts):
        return DeliveryStatus.DELIVERED
    return DeliveryStatus.SENT


def settle_parts(session: Session, receipts: Sequence[ParsedReceipt]) -> set[int]:
    """Apply delivery reports to their parts and deliveries; the messages whose counts moved."""
    touched: set[int] = set()
    for receipt in receipts:
        part = session.get(SmsPart, receipt.provider_id)
        if part is None:
            continue
        part.status = receipt.status.value
        touched.add(part.delivery_id)
    session.flush()
    moved: set[int] = set()
    for delivery_id in touched:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None, "a part belongs to a delivery"
        statuses = [DeliveryStatus(status) for status in session.scalars(
            select(SmsPart.status).where(SmsPart.delivery_id == delivery_id))]
        if move_status(session, delivery, _delivery_status(statuses)):
            moved.add(delivery.message_id)
    return moved
