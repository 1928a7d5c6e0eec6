"""The center's heartbeat to every node: the last identifiers it was sent, and the cursor.

As NAAD does: a node compares the identifiers with what it holds, and one
that misses any (or whose cursor is behind) fetches the gap from its
catch-up stream. A node that answers is noted as heard from; one that does
not is logged, and shows offline once silent for two of its intervals.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import TransientChannelError
from publisher.channels.district import DistrictChannel
from publisher.services.district_nodes import touch_node
from publisher.services.district_stream import latest_cursor, recent_messages
from publisher.store.models import DistrictNode, Message

__all__ = ["RECENT_IDENTIFIERS", "heartbeat_body", "heartbeat_nodes"]

log = logging.getLogger(__name__)

RECENT_IDENTIFIERS = 10


def _entry(message: Message) -> dict[str, Any]:
    return {"cursor": message.id, "sender": message.sender, "identifier": message.identifier,
            "sent": message.sent.isoformat()}


def heartbeat_body(session: Session, node: DistrictNode, *, recent: int = RECENT_IDENTIFIERS,
                   now: datetime | None = None) -> dict[str, Any]:
    """What the heartbeat to ``node`` says: now, the latest cursor, the last ``recent`` messages."""
    return {"sent": (now or datetime.now(UTC)).isoformat(),
            "cursor": latest_cursor(session, node),
            "recent": [_entry(message) for message in recent_messages(session, node, recent)]}


def heartbeat_nodes(sessions: sessionmaker[Session], channel: DistrictChannel, *,
                    recent: int = RECENT_IDENTIFIERS) -> dict[str, bool]:
    """Send every registered node its heartbeat; per district code, whether it answered."""
    with sessions() as session:
        beats = [(node.code, node.target.address, heartbeat_body(session, node, recent=recent))
                 for node in session.scalars(select(DistrictNode).order_by(DistrictNode.code))]
    answered: dict[str, bool] = {}
    for code, url, body in beats:
        try:
            answer = channel.heartbeat(url, body)
        except TransientChannelError as error:
            log.warning("district node missed its heartbeat",
                        extra={"district": code, "reason": error.reason})
            answered[code] = False
            continue
        answered[code] = True
        log.info("district node heartbeat", extra={"district": code, "cursor": body["cursor"],
                                                   "node_cursor": answer.get("cursor"),
                                                   "missing": answer.get("missing")})
    heard = [code for code, ok in answered.items() if ok]
    if heard:
        with sessions() as session:
            for node in session.scalars(select(DistrictNode).where(DistrictNode.code.in_(heard))):
                touch_node(node)
            session.commit()
    return answered
