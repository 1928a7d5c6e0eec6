"""The SMS side of the fault cases: subscribers, an installation on the SMSC simulator, and
the reconciliation of what the SMSC logged against the delivery rows.

The simulator logs every part it accepted before it answers, so its part log
is what reached the handsets; the delivery rows are what the platform
believes. A case reconciles the two per subscriber: how many copies the
SMSC got, whether they are whole, and what the row says.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import DeliveryStatus
from publisher.channels.sms_provider_ids import provider_id
from publisher.channels.sms_receipts import normalise_message_id
from publisher.sim.smsc import SimulatorThread
from publisher.sim.smsc_state import reassemble
from publisher.store.models import Delivery, Receipt, ReceiptOutcome, Target
from tests.faults.installation import FaultInstallation, status_counts
from tests.integration.fanout_support import CHAOYANG, geocoded, publish
from tests.integration.sms_support import add_subscribers, single_route

__all__ = ["SMS_QUEUES", "SmsAlert", "SmsLedger", "sms_alert", "sms_ledger"]

SMS_QUEUES = ("fanout", "channel.sms")
# The route of ``single_route``, and how it reads the simulator's message ids.
ROUTE = "primary"
MESSAGE_ID_BASE = 16


def _subscriber_numbers(count: int) -> list[str]:
    return [f"+86139{index:08d}" for index in range(count)]


@dataclass(frozen=True)
class SmsAlert:
    """An actual alert to ``numbers``, subscribers in Chaoyang, through the SMSC ``smsc``."""

    installation: FaultInstallation
    smsc: SimulatorThread
    numbers: list[str]
    message_id: int

    def ledger(self) -> SmsLedger:
        return sms_ledger(self.installation.session_factory, self.smsc, self.message_id)

    def taken(self) -> int:
        """Subscribers the SMSC has taken a message for."""
        return len(self.ledger().copies)

    def handed_over(self) -> bool:
        """Whether every delivery has left the platform's hands (sent, or final)."""
        return all(row.status.was_handed_over for row in self.ledger().rows.values())

    def settled(self) -> bool:
        """Whether every delivery is final (delivered, or failed with its reason)."""
        return all(row.status.is_final for row in self.ledger().rows.values())

    def state(self) -> dict[DeliveryStatus, int]:
        return status_counts(self.installation.session_factory, self.message_id)

    def await_settled(self, timeout: float) -> None:
        self.installation.wait(self.settled, timeout, "every delivery final", self.state)


def sms_alert(installation: FaultInstallation, smsc: SimulatorThread, subscribers: int, *,
              batch_size: int, rate: float, window: int = 20) -> SmsAlert:
    """The SMS channel alone, through one bind to ``smsc`` sending ``rate`` parts a second,
    and an alert published to ``subscribers`` numbers, waiting in the outbox for a worker."""
    installation.configure(["sms"], {"sms": single_route(smsc.port, window=window, rate=rate)},
                           batch_size=batch_size)
    numbers = _subscriber_numbers(subscribers)
    with installation.session_factory() as session:
        add_subscribers(session, dict.fromkeys(numbers, (CHAOYANG, "zh-CN")))
        message_id = publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG)).id
    return SmsAlert(installation, smsc, numbers, message_id)


@dataclass(frozen=True)
class SmsLedger:
    """One message's deliveries beside what the SMSC logged, by subscriber number."""

    rows: dict[str, Delivery]
    copies: dict[str, int]        # whole messages the SMSC got for the number
    repeated_parts: dict[str, int]  # parts it got more than once within one message
    incomplete: list[str]         # numbers with a message missing parts
    applied: Counter[str]         # receipts that moved a part along, by provider id
    unmatched: int                # receipts recorded as matching no part, or unreadable
    parts: int                    # parts the SMSC took, copies included
    unmatched_ids: set[str]       # the provider ids those receipts name
    taken_ids: dict[str, set[str]]  # the provider ids of the parts the SMSC took, by number

    def received(self, number: str) -> bool:
        return self.copies.get(number, 0) > 0

    @property
    def duplicated(self) -> dict[str, int]:
        """Numbers that got more than one copy or a part twice: the extra copies or parts."""
        extra = {number: count - 1 for number, count in self.copies.items() if count > 1}
        for number, parts in self.repeated_parts.items():
            extra[number] = extra.get(number, 0) + parts
        return extra

    def with_status(self, status: DeliveryStatus) -> list[str]:
        return sorted(number for number, row in self.rows.items() if row.status is status)

    @property
    def unsettled(self) -> list[str]:
        """Numbers whose delivery is still waiting or being handed over: the platform lost track."""
        return sorted(number for number, row in self.rows.items()
                      if not row.status.was_handed_over)


def sms_ledger(factory: sessionmaker[Session], smsc: SimulatorThread,
               message_id: int) -> SmsLedger:
    part_log = smsc.part_log()
    try:
        messages = reassemble(part_log.parts())
    finally:
        part_log.close()
    copies: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    incomplete = []
    taken_ids: dict[str, set[str]] = {}
    for message in messages:
        number = f"+{message.destination_addr}"
        copies[number] += 1
        repeated[number] += len(message.duplicates)
        taken_ids.setdefault(number, set()).update(
            provider_id(ROUTE, normalise_message_id(part.message_id, MESSAGE_ID_BASE))
            for part in message.parts)
        if not message.complete:
            incomplete.append(number)
    with factory() as session:
        rows = {address: delivery for delivery, address in session.execute(
            select(Delivery, Target.address).join(Target, Target.id == Delivery.target_id)
            .where(Delivery.message_id == message_id))}
        outcomes = session.execute(select(Receipt.provider_id, Receipt.outcome)
                                   .where(Receipt.channel == "sms")).all()
    # A receipt the SMSC sends again is recorded again, as a DUPLICATE that moves nothing.
    applied = Counter(str(provider_id) for provider_id, outcome in outcomes
                      if outcome is ReceiptOutcome.APPLIED)
    unmatched_outcomes = (ReceiptOutcome.UNKNOWN, ReceiptOutcome.INVALID)
    unmatched = sum(1 for _, outcome in outcomes if outcome in unmatched_outcomes)
    unmatched_ids = {str(provider_id) for provider_id, outcome in outcomes
                     if outcome in unmatched_outcomes}
    return SmsLedger(rows, dict(copies), {number: count for number, count in repeated.items()
                                          if count}, incomplete, applied, unmatched,
                     sum(len(message.parts) for message in messages), unmatched_ids,
                     taken_ids)
