"""What every log line of a piece of work carries: the alert identifier and the delivery ids.

A Celery task binds them for as long as it runs (``message_log_context``,
``batch_log_context``), a web request binds its route and the alert or
delivery it names (``request_log_context``); structlog's context variables
put them on every line logged meanwhile, from any logger, and each task or
request has its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.contextvars import bound_contextvars

from publisher.store.models import Delivery, Message

__all__ = ["batch_log_context", "delivery_log_context", "message_log_context",
           "request_log_context"]

# The path parameters that name what a request is about, as they appear on its lines.
_NAMED_BY_PATH = {"alert_id": "alert_id", "delivery_id": "delivery_id",
                  "message_id": "message_id", "identifier": "alert_identifier"}


def _identifier(session: Session, message_id: int | None) -> str | None:
    if message_id is None:
        return None
    return session.scalar(select(Message.identifier).where(Message.id == message_id))


@contextmanager
def message_log_context(sessions: sessionmaker[Session], message_id: int) -> Iterator[None]:
    """Lines about one CAP message (its fan-out) name it by its identifier."""
    with sessions() as session:
        identifier = _identifier(session, message_id)
    with bound_contextvars(alert_identifier=identifier, message_id=message_id):
        yield


@contextmanager
def batch_log_context(sessions: sessionmaker[Session], channel: str,
                      delivery_ids: Sequence[int]) -> Iterator[None]:
    """Lines about one batch name its alert, its channel and its deliveries.

    A batch holds deliveries of one message (the fan-out plans them so), so
    the first delivery's message is the batch's.
    """
    with sessions() as session:
        message_id = session.scalar(select(Delivery.message_id)
                                    .where(Delivery.id == delivery_ids[0])) \
            if delivery_ids else None
        identifier = _identifier(session, message_id)
    with bound_contextvars(alert_identifier=identifier), \
            delivery_log_context(channel, delivery_ids):
        yield


@contextmanager
def delivery_log_context(channel: str, delivery_ids: Sequence[int]) -> Iterator[None]:
    """Lines about deliveries being handed over, where the alert is already bound."""
    with bound_contextvars(channel=channel, delivery_ids=list(delivery_ids)):
        yield


@contextmanager
def request_log_context(method: str, path: str, match_info: Mapping[str, Any]
                        ) -> Iterator[None]:
    """Lines of one web request name it, and the alert or delivery its path names."""
    named = {field: match_info[parameter] for parameter, field in _NAMED_BY_PATH.items()
             if parameter in match_info}
    with bound_contextvars(method=method, path=path, **named):
        yield
