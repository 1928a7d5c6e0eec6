"""Deliveries: the rows that say who gets which message on which channel, and their sending.

A delivery row exists before anything is sent, one per (message, channel,
target), so a crash, a redelivered task or a broker outage never loses or
doubles a message: tasks carry only ids, and every step is a conditional
update of those rows.

The way of a delivery: QUEUED (planned into a batch) -> SENDING (a worker
claimed it and is handing it over) -> SENT or a final status. A row is
written QUEUED, with its batch known, and committed before the batch's task
is enqueued: a crash in between leaves QUEUED rows with no task, which the
redelivered fan-out (planning yields every waiting row again) or
``resume_unfinished`` at worker start hands on. PENDING is waiting too, and is
treated alike wherever it is found. A claim is one UPDATE of waiting rows, so
two copies of one batch task never hand a delivery over twice.

A channel that declares ``inline_first_batch`` gets its first batch from the
fan-out itself, claimed in the transaction that plans it: one task hop less
between publishing and the first send. A fan-out that comes back after its
worker died retakes that first batch, as a redelivered batch task would.

The one window left is a worker that dies between handing a batch to its
channel and recording the outcome: its rows stay SENDING, and nobody knows
whether the provider got them. When the batch comes back (the broker
redelivers it, or a worker resumes it at start), a channel that is
idempotent by delivery id gets them again, and its provider drops what it
already had: exactly once for the person. Any other channel would risk a
duplicate, so those rows are marked FAILED with the reason and not resent:
at most once, and an operator sees each such row.

A database that restarts or fails over while a batch is in hand does not
open that window: what the channel answered is written again until the
database is back (``store.patience``), and a batch that could not be claimed
is tried again later, as a transient channel error is.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert
from publisher.cap.reader import read_alert
from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TargetRef,
    TransientChannelError,
)
from publisher.observability.log_context import delivery_log_context
from publisher.services.delivery_records import record_moves, record_parts
from publisher.services.delivery_report import delivery_summary, list_deliveries
from publisher.services.errors import NotFound
from publisher.services.fanout_scope import fanout_scope
from publisher.services.outbox import relay_outbox
from publisher.services.receipts import record_receipt, rematch_receipts
from publisher.services.subscribers import retire_targets
from publisher.services.target_districts import with_districts
from publisher.services.targets import (
    AreaSelection,
    eligible_targets,
    reaches_only_test_targets,
    select_located_target_ids,
)
from publisher.store.bulk import among
from publisher.store.models import Delivery, Device, Message, Target, utcnow
from publisher.store.patience import write_patiently

__all__ = [
    "BatchOutcome",
    "abandon_batch",
    "delivery_summary",
    "fan_out",
    "insert_deliveries",
    "list_deliveries",
    "load_outgoing_message",
    "plan_fanout",
    "record_receipt",
    "relay_outbox",
    "resume_unfinished",
    "send_batch",
]

log = logging.getLogger(__name__)

DEFAULT_CHANNELS = ("memory",)
PARSED_MESSAGES_KEPT = 32
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED)
_DELIVERIES = cast(Table, Delivery.__table__)
_INTERRUPTED = ("interrupted while being handed over; not resent, because this channel"
                " cannot tell whether the provider already has it")

_TARGET_INACTIVE = "the target was deactivated (unsubscribed) after planning"
_NOT_A_TEST_TARGET = "not a test target: an Exercise or Test message reaches test targets only"

EnqueueBatch = Callable[[str, list[int]], None]


def _message(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message with id {message_id}", field="message_id")
    return message


@lru_cache(maxsize=PARSED_MESSAGES_KEPT)
def _parsed(xml: bytes) -> Alert | None:
    # Keyed by the signed bytes themselves, not by a row id: a published
    # message never changes, and the same id in another database is another
    # message. Every batch of a fan-out reads the same message.
    return read_alert(xml).alert


def load_outgoing_message(session: Session, message_id: int) -> OutgoingMessage:
    message = _message(session, message_id)
    alert = _parsed(message.xml)
    if alert is None:
        raise ValueError(f"message {message.identifier}: its stored XML holds no readable alert")
    return OutgoingMessage(message.id, alert, message.xml, message.msg_type, message.status)


def _insert_ignoring_existing(session: Session) -> Any:
    # On the table, not the mapped class: the returned ids are plain values,
    # with no ORM identity to build for each of them.
    return (postgresql_insert if session.get_bind().dialect.name == "postgresql"
            else sqlite_insert)(cast(Table, Delivery.__table__))


def insert_deliveries(session: Session, message_id: int, channel: str,
                      target_ids: Select[Any] | list[int],
                      offered: int) -> list[int]:
    """Insert the deliveries of ``target_ids`` not yet planned, QUEUED; their ids.

    ``offered`` is how many targets ``target_ids`` holds: when fewer rows were
    new, the fan-out runs again (its task redelivered), and it hands on
    those of the earlier rows that still wait for a batch; what was claimed
    or sent stays with its batch.
    """
    now = utcnow()
    statement = _insert_ignoring_existing(session)
    if isinstance(target_ids, list):
        statement = statement.values([
            {"message_id": message_id, "channel": channel, "target_id": target_id,
             "status": DeliveryStatus.QUEUED, "attempts": 0, "created_at": now,
             "queued_at": now}
            for target_id in target_ids])
    else:
        statement = statement.from_select(
            ["message_id", "channel", "target_id", "status", "attempts", "created_at",
             "queued_at"],
            target_ids.with_only_columns(
                literal(message_id, Delivery.message_id.type),
                literal(channel, Delivery.channel.type), Target.id,
                literal(DeliveryStatus.QUEUED, Delivery.status.type),
                literal(0), literal(now, Delivery.created_at.type),
                literal(now, Delivery.queued_at.type)))
    inserted = list(session.scalars(
        statement.on_conflict_do_nothing(index_elements=["message_id", "channel", "target_id"])
        .returning(Delivery.__table__.c.id)))
    if len(inserted) < offered:
        inserted = list(session.scalars(
            select(Delivery.id).where(
                Delivery.message_id == message_id, Delivery.channel == channel,
                Delivery.target_id.in_(target_ids), Delivery.status.in_(_WAITING))))
    return sorted(inserted)


def _plan_by_code(session: Session, message_id: int, channel: str, selection: AreaSelection,
                  *, test_only: bool, page_size: int) -> Iterator[list[int]]:
    """The deliveries of the targets a district code reaches, written set-based, by pages.

    Each page is bounded by target ids (keyset pagination), and its rows go
    from the targets table to the deliveries table in one statement, never
    through Python.
    """
    if not selection.code_prefixes:
        return
    reached = and_(*eligible_targets(channel, test_only=test_only), selection.code_condition())
    last_id = 0
    while True:
        page = (select(Target.id).where(reached, Target.id > last_id)
                .order_by(Target.id).limit(page_size).subquery())
        offered, upper = session.execute(select(func.count(), func.max(page.c.id))).one()
        if not offered:
            return
        targets = select(Target.id).where(reached, Target.id > last_id, Target.id <= upper)
        last_id = upper
        yield insert_deliveries(session, message_id, channel, targets, offered)


def plan_fanout(session: Session, message_id: int, batch_size: int, *,
                channels: Sequence[str] = DEFAULT_CHANNELS,
                districts: DistrictTable | None = None) -> Iterator[tuple[str, list[int]]]:
    """Write the delivery rows of a message and yield them as (channel, delivery ids) batches.

    Idempotent: running it again inserts nothing twice and yields only the
    deliveries that still wait for a batch.
    """
    outgoing = load_outgoing_message(session, message_id)
    test_only = reaches_only_test_targets(outgoing.status)
    # Each channel its own area: an agency's alert is planned only on the
    # channels it may use, and drawn areas reach the followers of districts.
    for channel, selection in fanout_scope(session, message_id, outgoing.alert, channels,
                                           districts):
        by_location = (
            insert_deliveries(session, message_id, channel, target_ids, len(target_ids))
            for target_ids in select_located_target_ids(session, channel, selection,
                                                        test_only=test_only,
                                                        page_size=batch_size))
        pending: list[int] = []
        for delivery_ids in itertools.chain(
                _plan_by_code(session, message_id, channel, selection,
                              test_only=test_only, page_size=batch_size), by_location):
            pending += delivery_ids
            while len(pending) >= batch_size:
                yield channel, pending[:batch_size]
                pending = pending[batch_size:]
        if pending:
            yield channel, pending


def fan_out(session_factory: sessionmaker[Session], message_id: int, batch_size: int,
            enqueue_batch: EnqueueBatch, *, channels: Sequence[str] = DEFAULT_CHANNELS,
            districts: DistrictTable | None = None,
            inline: Mapping[str, Channel[Any]] | None = None,
            redelivered: bool = False) -> int:
    """Plan a message's deliveries and enqueue one batch task per batch; returns the batches.

    Each batch's rows are committed QUEUED before its task is enqueued. The
    first batch of a channel in ``inline`` is handed over here instead (see
    the module docstring); when that channel asks for a retry, the batch
    goes to its queue like the others. ``redelivered`` says this fan-out
    comes back after its worker died, perhaps in the middle of such a
    hand-over.
    """
    first_batch: dict[str, Channel[Any]] = dict(inline or {})
    batches = 0
    with session_factory() as session:
        identifier = _message(session, message_id).identifier
        if redelivered:
            for channel in first_batch.values():
                _retake_first_batch(session, channel, message_id, batch_size, enqueue_batch)
        for channel_name, delivery_ids in plan_fanout(session, message_id, batch_size,
                                                      channels=channels, districts=districts):
            if channel_name in first_batch:
                _hand_over_here(session, first_batch.pop(channel_name), delivery_ids,
                                enqueue_batch)
            else:
                session.commit()
                enqueue_batch(channel_name, delivery_ids)
            batches += 1
        # What planning recorded besides deliveries (an audited channel limit)
        # is kept even when no batch followed to commit it.
        session.commit()
    log.info("fan-out planned", extra={"alert_identifier": identifier, "message_id": message_id,
                                       "batches": batches})
    return batches


def _hand_over_here(session: Session, channel: Channel[Any], delivery_ids: list[int],
                    enqueue_batch: EnqueueBatch, *, retake_sending: bool = False) -> None:
    """Send a batch in this process; a batch the channel wants retried goes to its queue."""
    try:
        with delivery_log_context(channel.name, delivery_ids):
            _send(session, channel, delivery_ids, retake_sending=retake_sending)
    except TransientChannelError:
        session.commit()
        enqueue_batch(channel.name, delivery_ids)


def _retake_first_batch(session: Session, channel: Channel[Any], message_id: int,
                        batch_size: int, enqueue_batch: EnqueueBatch) -> None:
    # The inline batch of a first run is the lowest ids of the message on
    # that channel: rows are numbered as they are planned, and every other
    # batch goes to the broker only after it. Only idempotent channels hand
    # over inline, so a batch task that holds some of them meanwhile (after
    # a transient error) costs at most a repeat that the provider drops.
    first = (select(Delivery.id).where(Delivery.message_id == message_id,
                                       Delivery.channel == channel.name)
             .order_by(Delivery.id).limit(batch_size).subquery())
    interrupted = list(session.scalars(
        select(Delivery.id).where(Delivery.id.in_(select(first.c.id)),
                                  Delivery.status == DeliveryStatus.SENDING)
        .order_by(Delivery.id)))
    if interrupted:
        _hand_over_here(session, channel, interrupted, enqueue_batch, retake_sending=True)
    session.commit()


@dataclass(slots=True)
class BatchOutcome:
    """What one run of a batch did, by status, and what it left for a retry."""

    counts: dict[str, int] = field(default_factory=dict)
    retry: list[int] = field(default_factory=list)

    def add(self, status: DeliveryStatus, number: int = 1) -> None:
        if number:
            self.counts[status.value] = self.counts.get(status.value, 0) + number


def _claim(session: Session, delivery_ids: Sequence[int],
           statuses: Sequence[DeliveryStatus]) -> list[int]:
    claimed: list[int] = []
    for chosen in among(session, Delivery.id, delivery_ids):
        claimed += session.scalars(
            update(_DELIVERIES)
            .where(chosen, Delivery.status.in_(statuses))
            .values(status=DeliveryStatus.SENDING, attempts=Delivery.attempts + 1)
            .returning(Delivery.id))
    return sorted(claimed)


def _record(session: Session, delivery_id: int, status: DeliveryStatus, *,
            error: str | None = None) -> bool:
    """Move a SENDING delivery to ``status``; False when somebody else moved it meanwhile."""
    return bool(record_moves(session, status, {delivery_id: None}, error=error))


def _claim_batch(session: Session, channel: Channel[Any], delivery_ids: Sequence[int],
                 retake_sending: bool, outcome: BatchOutcome) -> list[int]:
    claimed = _claim(session, delivery_ids, _WAITING)
    if retake_sending:
        taken = set(claimed)
        interrupted = [
            delivery_id for delivery_id in session.scalars(
                select(Delivery.id).where(Delivery.id.in_(delivery_ids),
                                          Delivery.status == DeliveryStatus.SENDING))
            if delivery_id not in taken
        ]
        if channel.idempotent_by_delivery_id:
            claimed = sorted(claimed + interrupted)
        else:
            for delivery_id in interrupted:
                _record(session, delivery_id, DeliveryStatus.FAILED, error=_INTERRUPTED)
            outcome.add(DeliveryStatus.FAILED, len(interrupted))
    return claimed


def _target_refs(session: Session, claimed: list[int], test_only: bool,
                 outcome: BatchOutcome) -> list[TargetRef]:
    # Devices (boards, speakers) add their id and capabilities; other targets have no row there.
    rows = [row for chosen in among(session, Delivery.id, claimed) for row in session.execute(
        select(Delivery.id, Target.id, Target.address, Target.language, Target.is_test,
               Target.active, Device.device_id, Device.capabilities)
        .join(Target, Target.id == Delivery.target_id)
        .outerjoin(Device, Device.target_id == Target.id)
        .where(chosen).order_by(Delivery.id))]
    refs = []
    for (delivery_id, target_id, address, language, is_test, active, device_id,
         capabilities) in rows:
        if not active:
            # Unsubscribed (or retired) after the fan-out planned this row:
            # a number that said TD never gets another message.
            _record(session, delivery_id, DeliveryStatus.SKIPPED, error=_TARGET_INACTIVE)
            outcome.add(DeliveryStatus.SKIPPED)
            continue
        if test_only and not is_test:
            # Planning already keeps them out; this guards rows written by
            # anything else, so that no exercise ever reaches the public.
            _record(session, delivery_id, DeliveryStatus.SKIPPED,
                    error=_NOT_A_TEST_TARGET)
            outcome.add(DeliveryStatus.SKIPPED)
            continue
        refs.append(TargetRef(delivery_id, target_id, address, language, is_test,
                              device_id, capabilities or {}))
    return refs


def _hand_over(channel: Channel[Any], message: OutgoingMessage,
               targets: list[TargetRef]) -> list[SendResult]:
    if message.msg_type == "Cancel":
        return channel.cancel(message, targets)
    return channel.send(message, targets)


def _record_results(session: Session, channel: Channel[Any], targets: list[TargetRef],
                    results: list[SendResult], outcome: BatchOutcome) -> None:
    by_delivery = {result.delivery_id: result for result in results}
    moves: dict[tuple[DeliveryStatus, str | None, int | None], dict[int, SendResult]] = {}
    for target in targets:
        result = by_delivery.get(target.delivery_id)
        if result is None:
            result = SendResult(target.delivery_id, None, DeliveryStatus.FAILED,
                                "the channel reported nothing for this delivery")
        if result.status in _WAITING:
            _return_to_queue(session, [target.delivery_id], result.error or "deferred")
            outcome.retry.append(target.delivery_id)
            continue
        if result.status is DeliveryStatus.SENDING:
            result = replace(result, status=DeliveryStatus.SENT)
        moves.setdefault((result.status, result.error, result.num_segments),
                         {})[target.delivery_id] = result
    recorded: list[SendResult] = []
    for (status, error, num_segments), moving in moves.items():
        moved = record_moves(session, status, {delivery_id: result.provider_id
                                               for delivery_id, result in moving.items()},
                             error=error, num_segments=num_segments)
        outcome.add(status, len(moved))
        recorded += (moving[delivery_id] for delivery_id in sorted(moved))
    record_parts(session, recorded)
    # A receipt can come before the hand-over is recorded (a node that caught
    # up on its own, an SMSC that answers fast): it waits as unknown, and
    # finds its delivery here, in the same transaction as the provider ids.
    handed = [provider_id for result in recorded
              for provider_id in (result.parts or (result.provider_id,)) if provider_id]
    if handed:
        rematch_receipts(session, channel, handed)
    gone = {result.delivery_id for result in recorded if result.retire_target}
    if gone:
        retire_targets(session, [target.target_id for target in targets
                                 if target.delivery_id in gone])


def _return_to_queue(session: Session, delivery_ids: Sequence[int], reason: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.QUEUED, last_error=reason)
    )


def _fail_all(session: Session, delivery_ids: Sequence[int], reason: str) -> int:
    return len(record_moves(session, DeliveryStatus.FAILED, dict.fromkeys(delivery_ids),
                            error=reason))


def send_batch(session_factory: sessionmaker[Session], channel: Channel[Any],
               delivery_ids: Sequence[int], *, retake_sending: bool = False) -> BatchOutcome:
    """Hand one batch of deliveries to its channel and record what became of each.

    Deliveries already handed over are skipped. ``retake_sending`` is for a
    batch that comes back after its worker died (see the module docstring).
    Raises TransientChannelError, after putting the deliveries back in the
    queue, when the batch or part of it should be tried again later.
    """
    with session_factory() as session:
        return _send(session, channel, delivery_ids, retake_sending=retake_sending)


def _send(session: Session, channel: Channel[Any], delivery_ids: Sequence[int], *,
          retake_sending: bool) -> BatchOutcome:
    """``send_batch`` in an open session; the claim joins what the session has not committed."""
    outcome = BatchOutcome()
    claimed = _claim_batch(session, channel, delivery_ids, retake_sending, outcome)
    if not claimed:
        session.commit()
        return outcome
    message_id = session.scalar(select(Delivery.message_id).where(Delivery.id == claimed[0]))
    assert message_id is not None
    message = load_outgoing_message(session, message_id)
    targets = _target_refs(session, claimed, reaches_only_test_targets(message.status), outcome)
    if channel.reads_target_districts:
        targets = with_districts(session, targets)
    # SENDING is durable before the channel sees anything: a worker that
    # starts after a crash knows which hand-overs may have happened.
    session.commit()
    if not targets:
        return outcome
    handed = [target.delivery_id for target in targets]
    what = f"batch of {len(handed)} {channel.name} deliveries of {message.identifier}"
    try:
        results = _hand_over(channel, message, targets)
    except TransientChannelError as error:
        deferred = error.reason
        write_patiently(session, lambda each: _return_to_queue(each, handed, deferred),
                        what=what)
        raise
    except PermanentChannelError as error:
        refused = error.reason
        failed = write_patiently(session, lambda each: _fail_all(each, handed, refused),
                                 what=what)
        outcome.add(DeliveryStatus.FAILED, failed)
        _log_batch(message, channel, outcome)
        return outcome

    def record(each: Session) -> BatchOutcome:
        recorded = BatchOutcome(dict(outcome.counts), list(outcome.retry))
        _record_results(each, channel, targets, results, recorded)
        return recorded

    outcome = write_patiently(session, record, what=what)
    _log_batch(message, channel, outcome)
    if outcome.retry:
        raise TransientChannelError(f"{len(outcome.retry)} deliveries deferred by the channel")
    return outcome


def _log_batch(message: OutgoingMessage, channel: Channel[Any], outcome: BatchOutcome) -> None:
    log.info("batch handed over", extra={"alert_identifier": message.identifier,
                                         "channel": channel.name, "counts": outcome.counts})


def abandon_batch(session_factory: sessionmaker[Session], delivery_ids: Sequence[int],
                  reason: str) -> int:
    """Mark what of a batch still waits as FAILED, when its retries are exhausted."""
    with session_factory() as session:
        return write_patiently(
            session, lambda each: _fail_all(each, _claim(each, delivery_ids, _WAITING),
                                            f"gave up: {reason}"),
            what=f"abandoned batch of {len(delivery_ids)} deliveries")


def resume_unfinished(session: Session,
                      enqueue_batch: Callable[[str, list[int], bool, int], None],
                      batch_size: int, *, include_sending: bool) -> int:
    """Enqueue again every batch of deliveries that has not been handed over; returns batches.

    Run when a worker starts. Waiting deliveries are always safe to enqueue
    again (claims are atomic). SENDING ones belong to a worker that died
    only when no other worker runs: ``include_sending`` is for a broker that
    does not redeliver an unacknowledged task by itself (the embedded ones),
    where one worker serves the installation. Each batch holds deliveries of
    one message, as the fan-out plans them, and ``enqueue_batch`` is told
    which (``channel, ids, include_sending, message_id``).
    """
    statuses = [*_WAITING, DeliveryStatus.SENDING] if include_sending else list(_WAITING)
    unfinished = session.execute(
        select(Delivery.message_id, Delivery.channel).where(Delivery.status.in_(statuses))
        .distinct().order_by(Delivery.message_id, Delivery.channel)).all()
    batches = 0
    for message_id, channel in unfinished:
        last = 0
        while True:
            ids = list(session.scalars(
                select(Delivery.id)
                .where(Delivery.message_id == message_id, Delivery.channel == channel,
                       Delivery.status.in_(statuses), Delivery.id > last)
                .order_by(Delivery.id).limit(batch_size)))
            if not ids:
                break
            enqueue_batch(channel, ids, include_sending, message_id)
            batches += 1
            last = ids[-1]
    return batches
