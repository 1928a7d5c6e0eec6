"""The center's heartbeat to each node, by the node's own interval: the last identifiers it
was sent, and the cursor.

As NAAD does: a node compares the identifiers with what it holds, and one
that misses any (or whose cursor is behind) fetches the gap from its
catch-up stream. The beat task runs every ``HEARTBEAT_TICK_SECONDS`` and
sends a heartbeat only to the nodes whose ``heartbeat_due_at`` has come,
moving it one of the node's intervals on before sending, so that beats
running side by side never send one twice (PostgreSQL skips the rows
another beat holds). All due nodes are sent to at once, within the
channel's concurrency. A node that answers is noted as heard from; one
that does not is logged, and shows offline once silent for longer than its
interval (``district_nodes.is_offline``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import TransientChannelError
from publisher.channels.district import DistrictChannel
from publisher.services.district_nodes import touch_node
from publisher.services.district_stream import latest_cursor, recent_messages
from publisher.store.models import DistrictNode, Message, utcnow

__all__ = ["HEARTBEAT_TICK_SECONDS", "RECENT_IDENTIFIERS", "heartbeat_body", "heartbeat_nodes"]

log = logging.getLogger(__name__)

RECENT_IDENTIFIERS = 10
HEARTBEAT_TICK_SECONDS = 5.0
"""How often the beat task looks for nodes whose heartbeat is due."""


def _entry(message: Message) -> dict[str, Any]:
    return {"cursor": message.id, "sender": message.sender, "identifier": message.identifier,
            "sent": message.sent.isoformat()}


def heartbeat_body(session: Session, node: DistrictNode, *, recent: int = RECENT_IDENTIFIERS,
                   now: datetime | None = None) -> dict[str, Any]:
    """What the heartbeat to ``node`` says: now, the latest cursor, the last ``recent`` messages."""
    return {"sent": (now or datetime.now(UTC)).isoformat(),
            "cursor": latest_cursor(session, node),
            "recent": [_entry(message) for message in recent_messages(session, node, recent)]}


def _claim_due(sessions: sessionmaker[Session], now: datetime, recent: int
               ) -> dict[str, tuple[str, dict[str, Any]]]:
    """The due nodes' beats, by district code; each node's next beat moved one interval on."""
    with sessions() as session:
        due = session.scalars(
            select(DistrictNode)
            .where(or_(DistrictNode.heartbeat_due_at.is_(None),
                       DistrictNode.heartbeat_due_at <= now))
            .order_by(DistrictNode.code)
            .with_for_update(skip_locked=True)).all()
        beats = {}
        for node in due:
            node.heartbeat_due_at = now + timedelta(seconds=node.heartbeat_interval)
            beats[node.code] = (node.target.address,
                                heartbeat_body(session, node, recent=recent, now=now))
        session.commit()
    return beats


def heartbeat_nodes(sessions: sessionmaker[Session], channel: DistrictChannel, *,
                    recent: int = RECENT_IDENTIFIERS, now: datetime | None = None
                    ) -> dict[str, bool]:
    """Send every node whose heartbeat is due its heartbeat; per district code, whether it
    answered."""
    beats = _claim_due(sessions, now or utcnow(), recent)
    answers = channel.heartbeats(beats)
    answered: dict[str, bool] = {}
    for code, answer in answers.items():
        answered[code] = not isinstance(answer, TransientChannelError)
        if isinstance(answer, TransientChannelError):
            log.warning("district node missed its heartbeat",
                        extra={"district": code, "reason": answer.reason})
            continue
        log.info("district node heartbeat", extra={"district": code,
                                                   "cursor": beats[code][1]["cursor"],
                                                   "node_cursor": answer.get("cursor"),
                                                   "missing": answer.get("missing")})
    heard = [code for code, ok in answered.items() if ok]
    if heard:
        with sessions() as session:
            for node in session.scalars(select(DistrictNode).where(DistrictNode.code.in_(heard))):
                touch_node(node)
            session.commit()
    return answered
