"""The alert identifier on the line a worker logs when it takes a task off the broker.

Celery logs "Task ... received" before the task is read, so the task's own
context (``task_log_context``) is not bound yet. The alert therefore travels
with the task: a task sent while an alert's identifier is bound (a fan-out's
batches, the outbox relay's fan-outs, the early-warning lane's batches, a
batch's retries) carries it in a message header (``carry_alert``), and the
worker binds that header while it takes the message (``strategy``, the
tasks' Celery strategy). A task sent with no alert bound carries none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from celery import signals
from celery.worker.strategy import default
from structlog.contextvars import bound_contextvars, get_contextvars

__all__ = ["ALERT_HEADER", "STRATEGY", "carry_alert", "strategy"]

ALERT_HEADER = "alert_identifier"
STRATEGY = f"{__name__}:strategy"
"""What the tasks name as their ``Strategy``."""


def _put_alert_in_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    identifier = get_contextvars().get(ALERT_HEADER)
    if identifier and headers is not None:
        headers.setdefault(ALERT_HEADER, identifier)


def carry_alert() -> None:
    """From now on, a task sent while an alert is bound carries its identifier (once per
    process, however often it is called)."""
    signals.before_task_publish.connect(_put_alert_in_headers, weak=False,
                                        dispatch_uid=_put_alert_in_headers.__name__)


def strategy(task: Any, app: Any, consumer: Any, **options: Any) -> Callable[..., Any]:
    """Celery's own strategy, with the message's alert bound while it takes the message."""
    handle: Callable[..., Any] = default(task, app, consumer, **options)

    def handle_with_alert(message: Any, *arguments: Any, **keywords: Any) -> Any:
        headers: Mapping[str, Any] = getattr(message, "headers", None) or {}
        identifier = headers.get(ALERT_HEADER)
        if not isinstance(identifier, str):
            return handle(message, *arguments, **keywords)
        with bound_contextvars(**{ALERT_HEADER: identifier}):
            return handle(message, *arguments, **keywords)

    return handle_with_alert
