"""A client for the REST API in tests: requests as a user, answers parsed, rows counted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.store.db import session_scope
from publisher.store.models import Alert, AuditEntry, Message, OutboxEntry

__all__ = ["Api", "Reply"]


@dataclass
class Reply:
    status: int
    body: Any
    headers: CIMultiDict[str]


@dataclass
class Api:
    client: TestClient[Any, Any]
    tokens: dict[str, str]
    sessions: sessionmaker[Session]

    async def call(self, method: str, path: str, *, user: str | None = None,
                   json_body: Any = None, data: bytes | str | None = None,
                   content_type: str | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if user is not None:
            sent["Authorization"] = f"Bearer {self.tokens[user]}"
        if json_body is not None:
            data, content_type = json.dumps(json_body), "application/json"
        if content_type is not None:
            sent["Content-Type"] = content_type
        async with self.client.request(method, path, data=data, headers=sent) as response:
            raw = await response.read()
            is_json = response.content_type == "application/json"
            return Reply(response.status, json.loads(raw) if is_json else raw,
                         CIMultiDict(response.headers))

    async def compose(self, payload: dict[str, Any], user: str = "author") -> int:
        reply = await self.call("POST", "/api/alerts", user=user, json_body=payload)
        assert reply.status == 201, reply.body
        return int(reply.body["id"])

    async def submitted(self, payload: dict[str, Any], user: str = "author") -> int:
        alert_id = await self.compose(payload, user)
        reply = await self.call("POST", f"/api/alerts/{alert_id}/submit", user=user)
        assert reply.status == 200, reply.body
        return alert_id

    async def published(self, payload: dict[str, Any], **approval: Any) -> int:
        alert_id = await self.submitted(payload)
        reply = await self.call("POST", f"/api/alerts/{alert_id}/approve", user="approver",
                                json_body=approval or None)
        assert reply.status == 200, reply.body
        return alert_id

    def stored(self) -> dict[str, int]:
        """Rows of the tables a refused request must leave alone."""
        with session_scope(self.sessions) as session:
            return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                    or 0 for model in (Alert, Message, OutboxEntry, AuditEntry)}
