"""Log lines of the running platform: the message, then its structured fields as key=value.

Services log with ``extra={"alert_identifier": ..., ...}``; this formatter
puts those fields on the line, so every line about an alert can be found by
its identifier.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["StructuredFormatter", "configure_logging"]

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


def _quoted(value: object) -> str:
    text = str(value)
    return repr(text) if not text or any(c.isspace() or c in "\"'=" for c in text) else text


class StructuredFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {key: value for key, value in vars(record).items()
                  if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")}
        if not fields:
            return line
        return line + " " + " ".join(f"{key}={_quoted(value)}" for key, value in fields.items())


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
