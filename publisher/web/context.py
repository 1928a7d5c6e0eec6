"""What a request can reach: the typed application and request keys, and a unit of work.

Views never hold a database session across an ``await``: the whole unit of
work runs in a worker thread inside one transaction, so a slow SQLite lock or
a slow PostgreSQL query never stalls the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from publisher.config import Settings
from publisher.services.actors import Actor
from publisher.services.signer import CenterSigner
from publisher.store.db import session_scope
from publisher.web.fanout import FanoutTrigger
from publisher.web.health import HealthProbe

__all__ = [
    "ACTOR",
    "FANOUT",
    "HEALTH",
    "SESSIONS",
    "SETTINGS",
    "SIGNER",
    "in_transaction",
]

T = TypeVar("T")

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", sessionmaker[Session])
SIGNER = web.AppKey("signer", CenterSigner)
FANOUT = web.AppKey("fanout", FanoutTrigger)
HEALTH = web.AppKey("health", HealthProbe)
ACTOR = web.RequestKey("actor", Actor)


async def in_transaction(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction, in a worker thread; commit when it returns."""
    factory = request.app[SESSIONS]

    def run() -> T:
        with session_scope(factory) as session:
            return work(session)

    return await asyncio.to_thread(run)
