"""The node's use cases: take a message, apply a run of them, fill a gap, answer a heartbeat.

Messages are applied one run at a time under one lock, so a push and a
catch-up never interleave. A run is applied in cursor order, and each
message is judged against the rest of the run before it is relayed: one
that a later message of the run cancels or replaces is stored as such and
never put on air, one that expired meanwhile is stored as expired. A message
already held, by (sender, identifier, sent), is a duplicate and is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from district_nodes.acks import AckWriter
from district_nodes.center_link import (
    CenterLink,
    CenterRefused,
    CenterUnreachable,
    queue_for_center,
)
from district_nodes.config import NodeConfig
from district_nodes.intake import intake_channels
from district_nodes.local_alerts import describe
from district_nodes.messages import MessageKey, RefusedMessage, SignedMessage, canonical_sent
from district_nodes.messages import read_signed as read_signed_message
from district_nodes.receipts import owe_receipt, receipt_key
from district_nodes.relay import LocalRelay
from district_nodes.store import (
    LocalAlert,
    MessageState,
    StoredMessage,
    end_referenced,
    find_message,
    read_cursor,
    write_cursor,
)
from publisher.store.db import session_scope

__all__ = ["Applied", "DistrictNode", "HeartbeatError"]

log = logging.getLogger(__name__)

_FIRST_PAUSE = 1.0
_LONGEST_PAUSE = 30.0
SMS_RECEIPT_SECONDS = 0.5


class HeartbeatError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Applied:
    key: MessageKey
    duplicate: bool


def _fates(run: Sequence[SignedMessage]) -> list[MessageState | None]:
    """What later messages of the run make of each: cancelled, superseded, or nothing."""
    fates: list[MessageState | None] = [None] * len(run)
    ended: dict[str, MessageState] = {}
    for position in range(len(run) - 1, -1, -1):
        message = run[position]
        fates[position] = ended.get(message.alert.identifier)
        ending = MessageState.CANCELLED if message.is_cancel else MessageState.SUPERSEDED
        for identifier in message.references:
            ended.setdefault(identifier, ending)
    return fates


class DistrictNode:
    def __init__(self, config: NodeConfig, sessions: sessionmaker[Session], relay: LocalRelay,
                 link: CenterLink) -> None:
        self.config = config
        self.relay = relay
        self.link = link
        self.sessions = sessions
        self._apply_lock = asyncio.Lock()
        self._catching_up: asyncio.Task[bool] | None = None
        self._again = False
        self.last_heard = time.monotonic()
        self.acks = AckWriter(sessions, link.wake)

    def read_signed(self, xml: bytes) -> SignedMessage:
        try:
            return read_signed_message(xml, self.config.center_certificates)
        except RefusedMessage as refused:
            log.warning("message refused", extra={"node": self.config.code,
                                                  "field": refused.field,
                                                  "reason": refused.reason})
            raise

    async def take_pushed(self, xml: bytes) -> Applied:
        """A message the center pushed: verified (raises RefusedMessage), stored, relayed."""
        message = self.read_signed(xml)
        self.last_heard = time.monotonic()
        [applied] = await self.apply([(None, message)])
        return applied

    async def apply(self, run: Sequence[tuple[int | None, SignedMessage]]) -> list[Applied]:
        async with self._apply_lock:
            messages = [message for _, message in run]
            fates = _fates(messages)
            outcomes = []
            for (cursor, message), fate in zip(run, fates, strict=True):
                outcomes.append(await self._apply_one(cursor, message, fate))
            return outcomes

    async def _apply_one(self, cursor: int | None, message: SignedMessage,
                         fate: MessageState | None) -> Applied:
        key = message.key
        with session_scope(self.sessions) as session:
            held = find_message(session, key.sender, key.identifier, key.sent)
            if held is not None:
                if cursor is not None:
                    held.cursor = held.cursor or cursor
                    write_cursor(session, cursor)
                log.info("duplicate dropped", extra={"alert_identifier": key.identifier,
                                                     "cursor": cursor})
                return Applied(key, duplicate=True)
            state = fate or (MessageState.EXPIRED if not message.is_cancel
                             and message.expired() else MessageState.RELAYED)
            stored = StoredMessage(sender=key.sender, identifier=key.identifier, sent=key.sent,
                                   msg_type=message.alert.msg_type.value, origin="center",
                                   cursor=cursor, xml=message.xml, state=state.value,
                                   expires=message.expires)
            session.add(stored)
            end_referenced(session, message.references, message.is_cancel)
            if cursor is not None:
                write_cursor(session, cursor)
            session.flush()
            stored_id = stored.id
        log.info("message taken", extra={"alert_identifier": key.identifier, "cursor": cursor,
                                         "state": state.value})
        if state is MessageState.RELAYED:
            await self.relay.relay(stored_id, message)
        # Owed whatever became of it, shown or not (cancelled, superseded or
        # expired on arrival): the receipt is how the center learns the node
        # holds a message it caught up, whose push never got through.
        self.queue_receipt(stored_id)
        return Applied(key, duplicate=False)

    def queue_receipt(self, message_id: int) -> None:
        """Owe the center the newest local counts of a message it sent."""
        with session_scope(self.sessions) as session:
            owed = owe_receipt(session, message_id)
        if owed:
            self.link.wake()

    async def publish_local(
            self, approval: Callable[[Session], tuple[LocalAlert, StoredMessage, SignedMessage]]
    ) -> dict[str, Any]:
        """Store a district alert as ``approval`` signs it, relay it, and owe it to the center."""
        async with self._apply_lock:
            with session_scope(self.sessions) as session:
                local, stored, message = approval(session)
                channels = intake_channels(session, local.id, self.config)
                queue_for_center(session, "alert", receipt_key(message.key), message.xml)
                answer = describe(local, stored)
                stored_id = stored.id
            log.info("district alert published", extra={"alert_identifier": message.key.identifier,
                                                        "node": self.config.code})
            await self.relay.relay(stored_id, message, channels)
        self.link.wake()
        return answer

    async def stop(self) -> None:
        await self.acks.stop()
        if self._catching_up is not None:
            self._catching_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catching_up

    def heartbeat(self, body: Any) -> dict[str, Any]:
        """Note what the center says it sent; start a catch-up when something is missing."""
        center_cursor, recent = _read_heartbeat(body)
        self.last_heard = time.monotonic()
        missing = 0
        with session_scope(self.sessions) as session:
            for cursor, key in recent:
                held = find_message(session, key.sender, key.identifier, key.sent)
                if held is None:
                    missing += 1
                elif held.cursor is None:
                    held.cursor = cursor
            cursor = read_cursor(session)
            window_reaches_us = bool(recent) and min(c for c, _ in recent) <= cursor
            if not missing and center_cursor > cursor and window_reaches_us:
                write_cursor(session, center_cursor)
                cursor = center_cursor
        if missing or center_cursor > cursor:
            self.start_catch_up(center_cursor)
        return {"node": self.config.code, "cursor": cursor, "missing": missing}

    def start_catch_up(self, center_cursor: int = 0) -> None:
        if self._catching_up is not None and not self._catching_up.done():
            self._again = True
            return
        self._catching_up = asyncio.get_running_loop().create_task(
            self.catch_up(center_cursor))

    def start_catch_up_when_reachable(self) -> None:
        """At start-up: catch up as soon as the center answers (it may start after us)."""
        self._catching_up = asyncio.get_running_loop().create_task(
            self._catch_up_when_reachable())

    async def _catch_up_when_reachable(self) -> bool:
        pause, told = _FIRST_PAUSE, False
        while True:
            try:
                await self._catch_up_runs(0)
                return True
            except CenterUnreachable as error:
                if not told:
                    log.info("center not reachable yet; the start-up catch-up waits for it",
                             extra={"node": self.config.code, "reason": str(error)})
                    told = True
                log.debug("center still unreachable", extra={"node": self.config.code,
                                                             "reason": str(error)})
            except CenterRefused as error:
                log.warning("catch-up failed; tried again later",
                            extra={"node": self.config.code, "reason": str(error)})
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def catch_up(self, center_cursor: int = 0) -> bool:
        """Fetch and apply what came after the cursor; False when the center could not say."""
        try:
            await self._catch_up_runs(center_cursor)
        except (CenterUnreachable, CenterRefused) as error:
            log.warning("catch-up failed; tried again later",
                        extra={"node": self.config.code, "reason": str(error)})
            return False
        return True

    async def _catch_up_runs(self, center_cursor: int) -> None:
        """Catch up, again while a heartbeat asked for it meanwhile; raises when the center
        cannot say."""
        while True:
            self._again = False
            with session_scope(self.sessions) as session:
                cursor = read_cursor(session)
            run = await self._fetch_after(cursor)
            await self.apply(run)
            with session_scope(self.sessions) as session:
                # Everything up to the heartbeat's cursor has been fetched, even
                # where the center's cursors skip this district's messages.
                write_cursor(session, center_cursor)
            log.info("caught up", extra={"node": self.config.code, "after": cursor,
                                         "fetched": len(run)})
            if not self._again:
                return

    async def _fetch_after(self, cursor: int) -> list[tuple[int, SignedMessage]]:
        run: list[tuple[int, SignedMessage]] = []
        after: int | None = cursor
        while after is not None:
            page = await self.link.messages_after(after)
            for position, xml in page.messages:
                try:
                    run.append((position, self.read_signed(xml)))
                except RefusedMessage:
                    continue
            following = page.next
            after = following if following is not None and page.messages else None
        run.sort(key=lambda entry: entry[0])
        return run

    async def watch_for_gaps(self) -> None:
        """Catch up whenever the center has been silent for two heartbeat intervals."""
        interval = self.config.heartbeat_interval
        while True:
            await asyncio.sleep(interval / 2)
            if time.monotonic() - self.last_heard > 2 * interval:
                log.info("no heartbeat from the center; catching up",
                         extra={"node": self.config.code})
                if await self.catch_up():
                    self.last_heard = time.monotonic()
            await self.relay.retry_queued()


async def pump_sms_receipts(node: DistrictNode) -> None:
    """Apply the SMSC's delivery reports as they come, and owe the center the new counts."""
    while True:
        await asyncio.sleep(SMS_RECEIPT_SECONDS)
        for message_id in node.relay.take_sms_receipts():
            node.queue_receipt(message_id)


def _read_heartbeat(body: Any) -> tuple[int, list[tuple[int, MessageKey]]]:
    if not isinstance(body, dict):
        raise HeartbeatError("body", "a JSON object is required")
    cursor = body.get("cursor")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise HeartbeatError("cursor", f"{cursor!r} is not a cursor")
    recent = body.get("recent", [])
    if not isinstance(recent, list):
        raise HeartbeatError("recent", "a list of messages is required")
    entries: list[tuple[int, MessageKey]] = []
    for index, entry in enumerate(recent):
        where = f"recent[{index}]"
        if not isinstance(entry, dict):
            raise HeartbeatError(where, "an object is required")
        try:
            entries.append((int(entry["cursor"]), MessageKey(
                str(entry["sender"]), str(entry["identifier"]),
                canonical_sent(str(entry["sent"])))))
        except (KeyError, TypeError, ValueError) as error:
            raise HeartbeatError(where, f"cursor, sender, identifier and sent are required"
                                        f" ({error})") from None
    return cursor, entries
