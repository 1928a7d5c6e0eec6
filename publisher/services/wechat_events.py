"""What the WeChat platform tells us, into the services: send-job receipts and unfollows.

- A ``TEMPLATESENDJOBFINISH`` event is the receipt of the template message
  its ``MsgID`` names, recorded through ``store_receipt`` with the event's
  ``MsgID``, ``Status``, ``CreateTime`` and ``Event`` only: the reader's
  openid stays out of the stored receipt.
- An ``unsubscribe`` event (the user unfollowed the official account)
  removes that openid from its subscriber, who is unsubscribed when it was
  their only contact point: no message is sent to it again, as after a
  43004 answer.

The caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from publisher.channels.base import Channel
from publisher.channels.wechat import RECEIPT_FIELDS
from publisher.services.receipts import StoredReceipt, store_receipt
from publisher.services.subscribers import find_subscriber, remove_contact_point
from publisher.store.models import ContactKind

__all__ = ["record_send_job_event", "record_unfollow"]

log = logging.getLogger(__name__)


def record_send_job_event(session: Session, channel: Channel[Any],
                          fields: Mapping[str, str]) -> StoredReceipt:
    """Store a send-job event as the receipt of its message and move its delivery along."""
    return store_receipt(session, channel, {name: fields[name] for name in RECEIPT_FIELDS
                                            if name in fields})


def record_unfollow(session: Session, openid: str) -> bool:
    """Stop reaching ``openid``; False when no subscriber had it."""
    subscriber = find_subscriber(session, ContactKind.WECHAT_OPENID, openid)
    if subscriber is None:
        return False
    return remove_contact_point(session, subscriber, ContactKind.WECHAT_OPENID, openid)
