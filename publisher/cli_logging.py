"""Log lines of the running platform, through structlog: JSON lines, or a line for a person.

Every process of the platform (web, workers, simulators, district nodes)
calls ``configure_logging`` once at start-up. ``PUBLISHER_LOG_FORMAT`` picks
the rendering:

- ``console`` (the default, what ``publisher demo`` shows): the time, level,
  logger and message, then the structured fields as ``key=value``;
- ``json``: one JSON object per line with ``timestamp`` (UTC, ISO 8601),
  ``level``, ``logger``, ``event`` and the fields, for a log shipper.

The fields are what a service passed with ``extra={...}``, what structlog's
own loggers were given, and what is bound to the context
(``publisher.observability.log_context``): the alert identifier and the
delivery ids of a Celery task, the route of a web request. Secrets are
masked on every line, whichever the format (``publisher.observability.redaction``).
"""

from __future__ import annotations

import enum
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

from publisher.config import ConfigError
from publisher.observability.redaction import redact_event

__all__ = ["LOG_FORMAT_VARIABLE", "LogFormat", "configure_logging", "log_format"]

LOG_FORMAT_VARIABLE = "PUBLISHER_LOG_FORMAT"


class LogFormat(enum.StrEnum):
    CONSOLE = "console"
    JSON = "json"


def log_format(environ: Mapping[str, str] = os.environ) -> LogFormat:
    value = environ.get(LOG_FORMAT_VARIABLE, LogFormat.CONSOLE.value).strip().lower()
    try:
        return LogFormat(value)
    except ValueError:
        raise ConfigError(f"{LOG_FORMAT_VARIABLE}: {value!r} is not a log format (known: "
                          f"{', '.join(item.value for item in LogFormat)})") from None


def _quoted(value: object) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() or c in "\"'=" for c in text) else text


_HEAD_FIELDS = ("timestamp", "level", "logger", "event")


def _console_line(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    """``time LEVEL logger message key=value ...``, the exception's traceback below it."""
    timestamp, level, logger, message = (event.pop(name, "") for name in _HEAD_FIELDS)
    exception = event.pop("exception", None)
    line = f"{timestamp} {str(level).upper()} {logger} {message}"
    if event:
        line += " " + " ".join(f"{key}={_quoted(value)}" for key, value in event.items())
    return line if exception is None else f"{line}\n{exception}"


def _shared_processors() -> list[Processor]:
    """What every line gets, whether it came from the standard library or from structlog."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(chosen: LogFormat) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor = (structlog.processors.JSONRenderer(ensure_ascii=False)
                           if chosen is LogFormat.JSON else _console_line)
    return structlog.stdlib.ProcessorFormatter(
        # A standard-library record's ``extra={...}`` fields become the line's fields.
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared_processors()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    redact_event,
                    renderer])


def configure_logging(level: int = logging.INFO,
                      environ: Mapping[str, str] = os.environ) -> LogFormat:
    """Route the standard library's and structlog's logging to stderr in the chosen format."""
    chosen = log_format(environ)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(chosen))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_shared_processors(),
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)
    return chosen
