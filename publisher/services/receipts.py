"""Receipts: one service for every kind (SMS delivery reports, device acks, node acks, webhooks).

Every receipt is stored as it arrived, with what it did. It moves its
delivery forward, never back: a receipt for a delivery that is already final
in another state is late, one that repeats the state is a duplicate, one
whose provider id matches nothing is unknown, one that cannot be parsed is
invalid. None of them is an error for the sender of the receipt.

A delivery handed over in parts (a concatenated SMS) has a row per part with
the part's provider id; a receipt then moves its part, by the same rules,
and the delivery follows its parts: FAILED as soon as a part failed, EXPIRED
as soon as one expired (and none failed), DELIVERED once every part was
delivered, else it stays where it is. A receipt whose provider id names no
part is matched against the deliveries' own provider ids, as for channels
that hand a message over whole. A receipt that came before the provider ids
it names were committed is unknown until ``rematch_receipts`` finds them;
whoever records receipts keeps the provider ids of the unknown ones for a
while to offer them again (``store_receipt`` says what became of each).

Receipts recorded together (``store_receipts``) are correlated together, in
a few statements however many they are (``receipt_correlation``), and in
the order given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, ParsedReceipt, ReceiptError
from publisher.services.receipt_correlation import Correlation
from publisher.store.bulk import among, insert_rows, update_rows
from publisher.store.models import Receipt, ReceiptOutcome, utcnow

__all__ = ["StoredReceipt", "record_receipt", "rematch_receipts", "store_receipt",
           "store_receipts"]

log = logging.getLogger(__name__)

_RECEIPTS = cast(Table, Receipt.__table__)


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    """A receipt as stored: what it named, the delivery it found, and what it did."""

    provider_id: str | None
    delivery_id: int | None
    outcome: ReceiptOutcome


def _raw_text(raw: Mapping[str, Any]) -> str:
    return json.dumps(dict(raw), ensure_ascii=False, sort_keys=True, default=str)


def _parsed(channel: Channel[Any], raw: Mapping[str, Any]) -> ParsedReceipt | None:
    try:
        return channel.parse_receipt(raw)
    except ReceiptError as error:
        log.warning("receipt not understood", extra={"channel": channel.name,
                                                     "field": error.field, "reason": error.reason})
        return None


def _correlated(session: Session, channel: Channel[Any],
                parsed: Sequence[ParsedReceipt | None]) -> list[StoredReceipt]:
    """What each receipt (None: not understood) did, applied in order; the caller writes them."""
    readable = [each.provider_id for each in parsed if each is not None]
    correlation = Correlation(session, channel.name, readable) if readable else None
    stored = []
    for each in parsed:
        if each is None or correlation is None:
            stored.append(StoredReceipt(None, None, ReceiptOutcome.INVALID))
            continue
        delivery_id, outcome = correlation.apply(each)
        stored.append(StoredReceipt(each.provider_id, delivery_id, outcome))
    if correlation is not None:
        correlation.write()
    return stored


def store_receipts(session: Session, channel: Channel[Any],
                   raws: Sequence[Mapping[str, Any]]) -> list[StoredReceipt]:
    """Store receipts of ``channel``, move their parts and deliveries along; what each did.

    They apply in the order given. The caller commits.
    """
    parsed = [_parsed(channel, raw) for raw in raws]
    stored = _correlated(session, channel, parsed)
    now = utcnow()
    insert_rows(session, _RECEIPTS, [
        {"channel": channel.name, "raw": _raw_text(raw), "received_at": now,
         "provider_id": receipt.provider_id, "delivery_id": receipt.delivery_id,
         "status": None if each is None else each.status.value, "outcome": receipt.outcome}
        for raw, each, receipt in zip(raws, parsed, stored, strict=True)])
    return stored


def store_receipt(session: Session, channel: Channel[Any], raw: Mapping[str, Any]
                  ) -> StoredReceipt:
    """Store a receipt of ``channel``, move its part and delivery along; what it did.

    The caller commits.
    """
    return store_receipts(session, channel, [raw])[0]


def record_receipt(session: Session, channel: Channel[Any],
                   raw: Mapping[str, Any]) -> ReceiptOutcome:
    """Store a receipt of ``channel`` and move its part and delivery along; the caller commits."""
    return store_receipt(session, channel, raw).outcome


def rematch_receipts(session: Session, channel: Channel[Any],
                     provider_ids: Collection[str]) -> set[str]:
    """Correlate again the receipts with these provider ids that matched nothing when they came.

    A receipt can overtake the hand-over it reports on: an SMSC sends a
    part's receipt while the other parts of the batch still wait for their
    answers, before the batch's provider ids are committed. Whoever recorded
    such a receipt offers its provider id here again a little later. Returns
    the provider ids that wait no more: those whose receipts found their
    delivery now, and those with no receipt left unmatched (the hand-over's
    own rematch found it first); the caller commits.
    """
    unknown: list[tuple[int, str]] = []
    waiting: set[str] = set()
    for chosen in among(session, Receipt.provider_id, list(provider_ids)):
        for receipt_id, raw, provider_id in session.execute(
                select(Receipt.id, Receipt.raw, Receipt.provider_id).where(
                    Receipt.channel == channel.name, chosen,
                    Receipt.outcome == ReceiptOutcome.UNKNOWN)):
            unknown.append((receipt_id, raw))
            waiting.add(provider_id)
    unknown.sort()
    # They were read once already, so they read again.
    stored = _correlated(session, channel, [channel.parse_receipt(json.loads(raw))
                                            for _, raw in unknown])
    update_rows(session, _RECEIPTS, [
        {"id": receipt_id, "delivery_id": receipt.delivery_id, "outcome": receipt.outcome}
        for (receipt_id, _), receipt in zip(unknown, stored, strict=True)
        if receipt.delivery_id is not None])
    still = {receipt.provider_id for receipt in stored if receipt.delivery_id is None}
    return set(provider_ids) - (waiting & still)
