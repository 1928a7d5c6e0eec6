"""The alert identifier and delivery ids on every line of a Celery task, Celery's own included.

A task's context is bound when Celery says the task starts (``task_prerun``)
and released when it says it has ended (``task_postrun``). Celery logs the
task's outcome ("succeeded in 0.4 s", a retry, a failure) between the two,
so those lines carry the task's alert as the task's own lines do. The line
a worker logs when it takes a task from the broker comes before the task
is read: the alert comes with the message (``task_received_context``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from celery import Task, signals
from sqlalchemy.orm import Session, sessionmaker

from publisher.observability.log_context import batch_log_context, message_log_context

__all__ = ["bind_task_log_context", "task_log_context"]

Sessions = sessionmaker[Session]
_FANOUT = "publisher.fanout"
_SEND_BATCH = "publisher.send_batch"

_open: dict[str, ExitStack] = {}
_open_lock = threading.Lock()


def _argument(args: Sequence[Any], kwargs: Mapping[str, Any], position: int, name: str) -> Any:
    return args[position] if len(args) > position else kwargs.get(name)


def task_log_context(sessions: Sessions, name: str, args: Sequence[Any],
                     kwargs: Mapping[str, Any]) -> AbstractContextManager[None] | None:
    """What the lines of task ``name`` called with ``args`` carry; None for a task about no
    alert (the scheduler's rounds)."""
    if name == _FANOUT:
        message_id = _argument(args, kwargs, 0, "message_id")
        return message_log_context(sessions, message_id) if isinstance(message_id, int) \
            else None
    if name == _SEND_BATCH:
        channel = _argument(args, kwargs, 0, "channel")
        delivery_ids = _argument(args, kwargs, 1, "delivery_ids")
        if isinstance(channel, str) and isinstance(delivery_ids, list):
            return batch_log_context(sessions, channel, delivery_ids)
    return None


def _task_started(task_id: str, task: Task[Any, Any], args: Sequence[Any] = (),
                  kwargs: Mapping[str, Any] | None = None, **_: Any) -> None:
    sessions = getattr(task.app, "session_factory", None)
    if sessions is None:
        return
    context = task_log_context(sessions, task.name, args, kwargs or {})
    if context is None:
        return
    stack = ExitStack()
    stack.enter_context(context)
    with _open_lock:
        _open[task_id] = stack


def _task_ended(task_id: str, **_: Any) -> None:
    with _open_lock:
        stack = _open.pop(task_id, None)
    if stack is not None:
        stack.close()


def bind_task_log_context() -> None:
    """From now on, bind each task's context for as long as Celery runs it (once per process,
    however often it is called: each task reads its own application's database)."""
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid=_task_started.__name__)
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid=_task_ended.__name__)
