"""Apps in tests: register one over the API, hand it messages, read its stream."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable
from publisher.cap.model import Area
from publisher.channels.app_push import AppChannel
from publisher.services.app_events import AppHandOver
from publisher.services.delivery import fan_out, send_batch
from publisher.services.users import create_token, create_user
from publisher.store.db import session_scope
from publisher.store.models import Role
from tests.integration.api_client import Api
from tests.integration.fanout_support import publish

__all__ = ["SseEvent", "admin_api", "deliver_to_apps", "read_events", "register",
           "stream_headers"]


@pytest.fixture
def admin_api(api: Api) -> Api:
    """The API client with an administrator, who registers apps."""
    with session_scope(api.sessions) as session:
        create_user(session, "admin", "a long passphrase", [Role.ADMIN])
        api.tokens["admin"] = create_token(session, "admin", "tests")
    return api


@dataclass(frozen=True)
class SseEvent:
    event_id: int
    data: dict[str, Any]


async def register(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "statuses": ["Actual", "Exercise"], **fields}
    reply = await api.call("POST", "/api/apps", user="admin", json_body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def stream_headers(credential: str, last_event_id: int | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {credential}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return headers


def deliver_to_apps(sessions: sessionmaker[Session], *, areas: tuple[Area, ...] | None = None,
                    channel: AppChannel | None = None,
                    districts: DistrictTable | None = None) -> int:
    """Publish an Exercise and hand it to every app it reaches; its message id."""
    with sessions() as session:
        message_id = publish(session, areas=areas).id
    channel = channel or AppChannel({"hand_over": AppHandOver(sessions)})
    batches: list[list[int]] = []
    fan_out(sessions, message_id, 100, lambda _channel, ids: batches.append(ids),
            channels=("app",), districts=districts)
    for delivery_ids in batches:
        send_batch(sessions, channel, delivery_ids)
    return message_id


async def read_events(response: ClientResponse, count: int, *,
                      timeout: float = 60.0) -> list[SseEvent]:
    """The next ``count`` events of an SSE response (comments skipped)."""
    events: list[SseEvent] = []
    fields: dict[str, str] = {}

    async def reading() -> None:
        while len(events) < count:
            raw = await response.content.readline()
            if not raw:
                raise EOFError(f"the stream ended after {len(events)} of {count} events")
            line = raw.decode("utf-8").rstrip("\n")
            if line == "":
                if "data" in fields:
                    events.append(SseEvent(int(fields["id"]), json.loads(fields["data"])))
                fields.clear()
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    await asyncio.wait_for(reading(), timeout)
    return events
