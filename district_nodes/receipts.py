"""The aggregated receipt the node owes the center for a message the center sent.

A receipt is the message's key and its local counts per channel. It goes
to the outbox in the same transaction as the change that moved the counts,
replacing the one not yet posted, so the center is posted the newest
counts once rather than every step on the way (``center_link``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy.orm import Session

from district_nodes.center_link import queue_for_center
from district_nodes.messages import MessageKey
from district_nodes.store import StoredMessage
from district_nodes.tallies import delivery_counts

__all__ = ["owe_receipt", "receipt_key"]


def receipt_key(key: MessageKey) -> str:
    return f"{key.sender},{key.identifier},{key.sent}"


def _receipt_body(key: MessageKey, counts: Mapping[str, Mapping[str, int]]) -> bytes:
    return json.dumps({"sender": key.sender, "identifier": key.identifier, "sent": key.sent,
                       "counts": counts}, sort_keys=True).encode("utf-8")


def owe_receipt(session: Session, message_id: int) -> bool:
    """Owe the center the message's newest counts; False for a message it did not send."""
    stored = session.get(StoredMessage, message_id)
    if stored is None or stored.origin != "center":
        return False
    key = MessageKey(stored.sender, stored.identifier, stored.sent)
    queue_for_center(session, "receipt", receipt_key(key),
                     _receipt_body(key, delivery_counts(session, message_id)))
    return True
