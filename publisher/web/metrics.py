"""``GET /metrics``: the platform's metrics in Prometheus' text format, read at scrape time.

The registry is the web application's own: the platform's collector (the
database's metrics and the broker's queues, ``publisher.observability``),
the early-warning journal's entries, and this process's CPU, memory and file
descriptors. Like ``/health`` it
asks for no token; expose it to the monitoring network only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from publisher.observability.broker_queues import queue_depths
from publisher.observability.collector import PlatformCollector
from publisher.observability.database_metrics import DatabaseMetrics
from publisher.observability.eew_journal_metrics import EewJournalCollector
from publisher.services.eew_journal import JOURNAL_DIRECTORY, EewJournal
from publisher.web.context import HEALTH, SESSIONS, SETTINGS
from publisher.web.health import configured_sms_routes

__all__ = ["METRICS_REGISTRY", "open_metrics", "routes"]

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)

routes = web.RouteTableDef()


async def open_metrics(app: web.Application) -> AsyncIterator[None]:
    """The registry, built once the database and broker resources exist."""
    settings, celery = app[SETTINGS], app[HEALTH].celery
    queues = sorted(queue.name for queue in celery.conf.task_queues or ())
    database = DatabaseMetrics(channels=settings.channels,
                               sms_routes=configured_sms_routes(settings, celery))
    registry = CollectorRegistry()
    registry.register(PlatformCollector(app[SESSIONS], database,
                                        partial(queue_depths, celery.connection_for_read, queues)))
    registry.register(EewJournalCollector(
        EewJournal(settings.paths.data_dir / JOURNAL_DIRECTORY)))
    ProcessCollector(registry=registry)
    app[METRICS_REGISTRY] = registry
    yield


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    # The collector queries the database and the broker: off the event loop.
    body = await asyncio.to_thread(generate_latest, request.app[METRICS_REGISTRY])
    # The 0.0.4 text format: what every Prometheus 2 and 3 reads; the metric names
    # need none of the newer format's escaping.
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
