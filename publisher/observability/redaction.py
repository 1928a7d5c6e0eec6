"""Masking secrets in log lines: fields named like a secret, and passwords inside URLs.

A field whose name says it holds a secret (``password``, ``smpp_password``,
``auth_token``, ``webhook_secret``, ``credential``, ``apiKey``...) keeps its name and
loses its value, at any depth of dicts and lists. Any text, the message
itself included, has the password of a URL (``amqp://user:pw@host``)
masked, since connection URLs end up in error messages.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["MASK", "is_secret_name", "mask_url_passwords", "redact_event", "redacted"]

MASK = "***"

# Whole words of a field's name (``smpp_password``, ``authToken``), so that ``tokens_sent``
# or ``passive`` keep their values.
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "secret", "token", "credential",
                           "credentials", "authorization", "apikey"})
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key")})
_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")
_WORD_BREAK = re.compile(r"[^a-z0-9]+")
# scheme://user:password@ — the password ends at the last "@" before the host.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s/]*(?=@)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    words = _WORD_BREAK.split(_CAMEL_HUMP.sub(r"\1_\2", name).lower())
    return any(word in _SECRET_WORDS for word in words) \
        or any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


def mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(lambda found: found["head"] + MASK, text)


def redacted(value: Any) -> Any:
    """``value`` with its secret-named fields masked and URL passwords masked in its texts."""
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, Mapping):
        return {key: MASK if isinstance(key, str) and is_secret_name(key) and _is_set(item)
                else redacted(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(redacted(item) for item in value)
    if isinstance(value, list | set | frozenset):
        return [redacted(item) for item in value]
    return value


def _is_set(value: Any) -> bool:
    # An empty or absent secret says nothing, and saying it is empty helps a reader.
    return value not in (None, "")


def redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
    """The structlog processor: every field of the line goes through ``redacted``."""
    for key, value in event.items():
        if key.startswith("_"):
            continue  # structlog's own bookkeeping (the log record), never rendered
        event[key] = MASK if is_secret_name(key) and _is_set(value) else redacted(value)
    return event
