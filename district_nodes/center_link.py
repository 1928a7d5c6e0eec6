"""The node's side of the link to the center: the catch-up stream and the outbox.

Every request carries the node's own credential. What the node owes the
center (aggregated receipts, local alerts) is written to the outbox first
and posted from there, again and again with growing pauses while the
center cannot be reached, so that nothing is lost while the link is down.
A receipt whose counts change before it was posted is posted once, with
the newest counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from district_nodes.config import NodeConfig
from district_nodes.store import OutboxItem
from publisher.store.db import session_scope

__all__ = ["CAP_MEDIA_TYPE", "CenterLink", "CenterRefused", "CenterUnreachable", "queue_for_center"]

log = logging.getLogger(__name__)

CAP_MEDIA_TYPE = "application/cap+xml"
_OUTBOX_PATHS = {"receipt": "receipts", "alert": "alerts"}
_MEDIA_TYPES = {"receipt": "application/json", "alert": CAP_MEDIA_TYPE}
_FIRST_PAUSE = 1.0
_LONGEST_PAUSE = 30.0
_GATHER_SECONDS = 0.2  # acks of one push arrive together: post their counts once
_RETRY_LATER = frozenset({408, 425, 429})


class CenterUnreachable(Exception):
    """The center did not answer, or answered that it cannot take this now."""


class CenterRefused(Exception):
    """The center answered that it will never take this (a 4xx)."""


@dataclass(frozen=True, slots=True)
class CaughtUp:
    messages: list[tuple[int, bytes]]
    next: int | None


def queue_for_center(session: Session, kind: str, key: str, body: bytes) -> None:
    """Owe the center ``body``; a newer body for the same key replaces one not yet posted."""
    item = session.scalars(select(OutboxItem).where(
        OutboxItem.kind == kind, OutboxItem.key == key)).one_or_none()
    if item is None:
        session.add(OutboxItem(kind=kind, key=key, body=body, version=1, posted_version=0))
    elif item.body != body:
        item.body, item.version = body, item.version + 1


class CenterLink:
    def __init__(self, config: NodeConfig, sessions: sessionmaker[Session]) -> None:
        self._config = config
        self._sessions = sessions
        self._base = f"{config.center_url}/api/nodes/{config.code}"
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            headers={"Authorization": f"Bearer {self._config.credential}",
                     "User-Agent": f"publisher-district-node/{self._config.code}"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """Something was queued: post it now rather than at the next pause's end."""
        self._wake.set()

    async def messages_after(self, cursor: int) -> CaughtUp:
        """One page of the catch-up stream; raises CenterUnreachable."""
        answer = await self._request("GET", f"{self._base}/messages",
                                     params={"after": str(cursor),
                                             "limit": str(self._config.catch_up_page)})
        try:
            messages = [(int(entry["cursor"]), str(entry["xml"]).encode("utf-8"))
                        for entry in answer["messages"]]
            following = answer.get("next")
            return CaughtUp(messages, None if following is None else int(following))
        except (KeyError, TypeError, ValueError) as error:
            raise CenterUnreachable(f"the catch-up answer is not the expected shape:"
                                    f" {error!r}") from None

    async def post_outbox(self) -> None:
        """Post everything owed until the task is cancelled; pause longer while it fails."""
        pause = _FIRST_PAUSE
        while True:
            delivered_all = await self._post_due()
            pause = _FIRST_PAUSE if delivered_all else min(pause * 2, _LONGEST_PAUSE)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=pause)
                await asyncio.sleep(_GATHER_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _post_due(self) -> bool:
        with session_scope(self._sessions) as session:
            due = [(item.id, item.kind, item.key, item.body, item.version) for item in
                   session.scalars(select(OutboxItem).where(
                       OutboxItem.posted_version < OutboxItem.version).order_by(OutboxItem.id))]
        for item_id, kind, key, body, version in due:
            try:
                await self._request("POST", f"{self._base}/{_OUTBOX_PATHS[kind]}", data=body,
                                    headers={"Content-Type": _MEDIA_TYPES[kind]})
                error = ""
            except CenterUnreachable as unreachable:
                self._note_attempt(item_id, None, str(unreachable))
                log.info("center unreachable; kept in the outbox",
                         extra={"kind": kind, "key": key, "reason": str(unreachable)})
                return False
            except CenterRefused as refused:
                error = str(refused)
                log.warning("center refused an outbox item",
                            extra={"kind": kind, "key": key, "reason": error})
            self._note_attempt(item_id, version, error)
        return True

    def _note_attempt(self, item_id: int, posted_version: int | None, error: str) -> None:
        with session_scope(self._sessions) as session:
            item = session.get(OutboxItem, item_id)
            if item is None:
                return
            item.attempts += 1
            item.last_error = error
            if posted_version is not None:
                item.posted_version = max(item.posted_version, posted_version)

    async def _request(self, method: str, url: str, **options: Any) -> Mapping[str, Any]:
        assert self._session is not None, "open() the link first"
        try:
            async with self._session.request(method, url, allow_redirects=False,
                                             **options) as response:
                text = await response.text(errors="replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise CenterUnreachable(f"{url}: {error.__class__.__name__}: {error}") from None
        if status >= 500 or status in _RETRY_LATER:
            raise CenterUnreachable(f"{url} answered HTTP {status}")
        if not 200 <= status < 300:
            raise CenterRefused(f"{url} answered HTTP {status}: {text[:300]}")
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {}
