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
while to offer them again (``store_receipt`` gives the stored row).

Receipts recorded together (``store_receipts``) are correlated together, in
a few statements however many they are (``receipt_correlation``), and in
the order given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, ParsedReceipt, ReceiptError
from publisher.services.receipt_correlation import Correlation
from publisher.store.models import Receipt, ReceiptOutcome, utcnow

__all__ = ["record_receipt", "rematch_receipts", "store_receipt", "store_receipts"]

log = logging.getLogger(__name__)

# Provider ids offered again per query: an IN list well within every database's limit.
_REMATCH_CHUNK = 500


def _raw_text(raw: Mapping[str, Any]) -> str:
    return json.dumps(dict(raw), ensure_ascii=False, sort_keys=True, default=str)


def _parsed(channel: Channel[Any], receipt: Receipt, raw: Mapping[str, Any]
            ) -> ParsedReceipt | None:
    try:
        parsed = channel.parse_receipt(raw)
    except ReceiptError as error:
        receipt.outcome = ReceiptOutcome.INVALID
        log.warning("receipt not understood", extra={"channel": channel.name,
                                                     "field": error.field, "reason": error.reason})
        return None
    receipt.provider_id = parsed.provider_id
    receipt.status = parsed.status.value
    return parsed


def store_receipts(session: Session, channel: Channel[Any],
                   raws: Sequence[Mapping[str, Any]]) -> list[Receipt]:
    """Store receipts of ``channel``, move their parts and deliveries along; the stored rows.

    They apply in the order given. The caller commits.
    """
    now = utcnow()
    receipts = [Receipt(channel=channel.name, raw=_raw_text(raw), received_at=now)
                for raw in raws]
    parsed = [_parsed(channel, receipt, raw) for receipt, raw in zip(receipts, raws, strict=True)]
    _correlate(session, channel, list(zip(receipts, parsed, strict=True)))
    session.add_all(receipts)
    return receipts


def _correlate(session: Session, channel: Channel[Any],
               pairs: Sequence[tuple[Receipt, ParsedReceipt | None]]) -> None:
    readable = [(receipt, parsed) for receipt, parsed in pairs if parsed is not None]
    if not readable:
        return
    correlation = Correlation(session, channel.name,
                              [parsed.provider_id for _, parsed in readable])
    for receipt, parsed in readable:
        receipt.delivery_id, receipt.outcome = correlation.apply(parsed)
    correlation.write()


def store_receipt(session: Session, channel: Channel[Any], raw: Mapping[str, Any]) -> Receipt:
    """Store a receipt of ``channel``, move its part and delivery along; the stored row.

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
    the provider ids whose receipts found their delivery; the caller commits.
    """
    offered = list(provider_ids)
    unknown: list[Receipt] = []
    for start in range(0, len(offered), _REMATCH_CHUNK):
        unknown += session.scalars(
            select(Receipt).where(
                Receipt.channel == channel.name,
                Receipt.provider_id.in_(offered[start:start + _REMATCH_CHUNK]),
                Receipt.outcome == ReceiptOutcome.UNKNOWN))
    unknown.sort(key=lambda receipt: receipt.id)
    # They were read once already, so they read again.
    _correlate(session, channel, [(receipt, channel.parse_receipt(json.loads(receipt.raw)))
                                  for receipt in unknown])
    return {receipt.provider_id for receipt in unknown
            if receipt.delivery_id is not None and receipt.provider_id is not None}
