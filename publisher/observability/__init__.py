"""Observability: metrics read at scrape time, log context, and secrets kept out of logs.

- ``collector.PlatformCollector``: the Prometheus collector the web
  application serves at ``/metrics``; ``database_metrics`` and
  ``broker_queues`` read its parts;
- ``log_context``: binds the alert identifier and delivery ids to the log
  lines of a Celery task or web request;
- ``redaction``: masks secrets on every log line and in the settings' repr.

Only ``redaction`` is imported here: the configuration uses it, and must not
pull in the database and Prometheus with it. docs/operations.md lists the
metrics, the log format and the health probes.
"""

from publisher.observability.redaction import (
    MASK,
    is_secret_name,
    mask_url_passwords,
    redact_event,
    redacted,
)

__all__ = ["MASK", "is_secret_name", "mask_url_passwords", "redact_event", "redacted"]
