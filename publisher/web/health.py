"""``GET /health``: is the database answering, is the broker reachable, is each channel loadable.

It also lists the devices (boards, speakers) that are offline, per kind:
how many, and the first ``OFFLINE_LISTED`` of them by id. An offline device
is the field's trouble, not the platform's, so it does not fail the probe.

``sms_binds`` says, per SMPP route, how many of its binds are bound among
the SMS workers' reports of the last 30 s (``sms_bind_states``), or that it
is unknown (no fresh report). It informs and never fails the probe: a
carrier that is down must not take the web application out of a load
balancer.

Each check runs in a worker thread under a deadline, so a hung dependency
makes the report say so instead of making the probe hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from publisher.celery_app import PublisherCelery
from publisher.channels.registry import create_channel
from publisher.channels.sms_routes import RouteSettings, read_routes
from publisher.config import Settings
from publisher.services.device_health import health_by_kind
from publisher.services.sms_bind_states import binds_by_route
from publisher.store.db import session_scope

__all__ = ["CHECK_TIMEOUT_SECONDS", "HealthProbe", "configured_sms_routes"]

CHECK_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class HealthProbe:
    settings: Settings
    sessions: sessionmaker[Session]
    celery: PublisherCelery

    def _database(self) -> str:
        with session_scope(self.sessions) as session:
            session.execute(text("SELECT 1"))
            return session.get_bind().dialect.name

    def _broker(self) -> str:
        with self.celery.connection_for_read(connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0,
                                         timeout=CHECK_TIMEOUT_SECONDS)
            # as_uri() leaves the password out.
            return str(connection.as_uri())

    def _devices(self) -> dict[str, Any]:
        with session_scope(self.sessions) as session:
            by_kind = health_by_kind(session)
        offline = sum(health.offline for health in by_kind.values())
        total = sum(health.total for health in by_kind.values())
        return {"detail": f"{offline} of {total} devices offline", **{
            kind.value: {"total": health.total, "offline": health.offline,
                         "offline_ids": health.offline_ids}
            for kind, health in by_kind.items()}}

    def _sms_binds(self) -> dict[str, Any]:
        with session_scope(self.sessions) as session:
            by_route = binds_by_route(session, configured_sms_routes(self.settings, self.celery))
        bound = sum(binds.bound for binds in by_route.values() if binds)
        total = sum(binds.total for binds in by_route.values() if binds)
        unknown = [route for route, binds in by_route.items() if binds is None]
        detail = f"{bound} of {total} SMPP binds bound" + (
            f"; no recent report from {', '.join(unknown)}" if unknown else "")
        return {"detail": detail,
                "routes": {route: {"bound": binds.bound if binds else None,
                                   "total": binds.total if binds else None}
                           for route, binds in by_route.items()}}

    def _channel(self, name: str) -> Callable[[], str]:
        def check() -> str:
            channel = create_channel(name, self.celery.channel_options(name))
            channel.close()
            return type(channel).__qualname__
        return check

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the report): can this web application serve, its database and broker answering.

        What a load balancer asks; the channels, binds and devices are left to ``report``.
        """
        database, broker = await asyncio.gather(_run(self._database), _run(self._broker))
        ready = database["ok"] and broker["ok"]
        return ready, {"status": "ok" if ready else "failing", "database": database,
                       "broker": broker}

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(all ok, the report): each part ``{"ok": bool, "detail": str}``."""
        checks: dict[str, Callable[[], str | dict[str, Any]]] = {
            "database": self._database, "broker": self._broker, "devices": self._devices}
        channels = {name: self._channel(name) for name in self.settings.channels}
        *results, sms_binds = await asyncio.gather(
            *(_run(check) for check in [*checks.values(), *channels.values()]),
            _run(self._sms_binds))
        parts = dict(zip([*checks, *channels], results, strict=True))
        report: dict[str, Any] = {name: parts[name] for name in checks}
        report["channels"] = {name: parts[name] for name in channels}
        healthy = all(part["ok"] for part in parts.values())
        return healthy, {"status": "ok" if healthy else "failing", **report,
                         "sms_binds": sms_binds}


def configured_sms_routes(settings: Settings, celery: PublisherCelery) -> list[str]:
    """The SMPP routes of the installation's SMS channel, by name (none without the channel)."""
    if "sms" not in settings.channels:
        return []
    return [route.name for route in read_routes(celery.channel_options("sms"))
            if isinstance(route, RouteSettings)]


async def _run(check: Callable[[], str | dict[str, Any]]) -> dict[str, Any]:
    try:
        detail = await asyncio.wait_for(asyncio.to_thread(check), CHECK_TIMEOUT_SECONDS * 2)
    except TimeoutError:
        return {"ok": False, "detail": f"no answer within {CHECK_TIMEOUT_SECONDS * 2:g} s"}
    except Exception as error:  # a health report names every failure instead of raising
        return {"ok": False, "detail": f"{type(error).__name__}: {error}"}
    return {"ok": True, **detail} if isinstance(detail, dict) else {"ok": True, "detail": detail}
