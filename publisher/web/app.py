"""The aiohttp application: the staff REST API, the staff pages, the public pages and the
health probe."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from publisher.celery_app import make_celery
from publisher.config import Settings
from publisher.services.signer import CenterSigner
from publisher.store.db import make_engine, make_session_factory
from publisher.web import (
    agencies,
    api,
    apps,
    audio,
    dashboard_api,
    dashboard_stream,
    devices,
    district_nodes,
    eew,
    feeds,
    intake,
    metrics,
    openapi,
    probes,
    public,
    staff,
    staff_audit,
    staff_dashboard,
    staff_previews,
    subscribers,
    timeline,
    twilio_webhooks,
    wechat_callback,
)
from publisher.web.auth import auth_middleware
from publisher.web.bodies import MAX_BODY_BYTES
from publisher.web.client_address import TRUSTED_PROXIES, read_trusted_proxies
from publisher.web.context import FANOUT, HEALTH, SESSIONS, SETTINGS, SIGNER
from publisher.web.errors import error_middleware
from publisher.web.fanout import FanoutTrigger
from publisher.web.health import HealthProbe
from publisher.web.rate_limit import (
    RATE_LIMITER,
    RateLimiter,
    rate_limit_middleware,
    read_rate_limits,
)
from publisher.web.representations import json_response
from publisher.web.request_logging import log_context_middleware
from publisher.web.staff_auth import staff_middleware

__all__ = ["create_app"]


async def _health(request: web.Request) -> web.Response:
    healthy, report = await request.app[HEALTH].report()
    return json_response(report, status=200 if healthy else 503)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    celery = make_celery(settings)
    app[SESSIONS] = sessions
    app[SIGNER] = CenterSigner.load_or_create(settings)
    app[FANOUT] = FanoutTrigger(sessions, celery.fanout_enqueuer(retry=False),
                                celery.batch_enqueuer(retry=False))
    app[HEALTH] = HealthProbe(settings, sessions, celery)
    yield
    celery.close()
    engine.dispose()


def create_app(settings: Settings) -> web.Application:
    """The web application for ``settings``; the database must be migrated already."""
    app = web.Application(middlewares=[log_context_middleware, error_middleware,
                                       rate_limit_middleware, auth_middleware, staff_middleware],
                          client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[RATE_LIMITER] = RateLimiter(read_rate_limits(settings.rate_limits))
    app[TRUSTED_PROXIES] = read_trusted_proxies(settings.trusted_proxies)
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(metrics.open_metrics)
    app.cleanup_ctx.append(subscribers.load_district_names)
    app.cleanup_ctx.append(audio.open_speech)
    app.cleanup_ctx.append(devices.open_devices)
    app.cleanup_ctx.append(feeds.open_feeds)
    app.cleanup_ctx.append(dashboard_stream.open_dashboard_hub)
    app.on_shutdown.append(dashboard_stream.end_streams)
    app.add_routes(api.routes)
    app.add_routes(openapi.routes)
    app.add_routes(subscribers.routes)
    app.add_routes(public.routes)
    app.add_routes(audio.routes)
    app.add_routes(devices.routes)
    app.add_routes(district_nodes.routes)
    app.add_routes(feeds.routes)
    app.add_routes(timeline.routes)
    app.add_routes(wechat_callback.routes)
    app.add_routes(twilio_webhooks.routes)
    app.add_routes(dashboard_api.routes)
    app.add_routes(staff_dashboard.routes)
    app.add_routes(staff_audit.routes)
    app.add_routes(staff_previews.routes)
    eew.add_eew(app)
    apps.add_apps(app)
    app.add_routes(agencies.routes)
    intake.add_intake(app)
    staff.add_staff_pages(app)
    app.router.add_get("/health", _health)
    app.add_routes(probes.routes)
    app.add_routes(metrics.routes)
    return app
