"""The signature of an app webhook push, and its check on the receiving side.

``X-Publisher-Signature: sha256=<hex>`` is the HMAC-SHA256, under the app's
secret, of ``<timestamp>.<body>``, where the timestamp is
``X-Publisher-Timestamp`` (Unix seconds). Signing the timestamp with the body
means a recorded push cannot be replayed later under a fresh timestamp; a
receiver refuses a push whose timestamp is further than ``TOLERANCE_SECONDS``
from its clock.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "SignatureError",
    "signature",
    "signed_headers",
    "verify_push",
]

SIGNATURE_HEADER = "X-Publisher-Signature"
TIMESTAMP_HEADER = "X-Publisher-Timestamp"
TOLERANCE_SECONDS = 300
_SCHEME = "sha256="


class SignatureError(ValueError):
    """A push that is not the platform's; ``field`` names the header at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                      hashlib.sha256).hexdigest()
    return _SCHEME + digest


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature(secret, timestamp, body),
            TIMESTAMP_HEADER: str(timestamp)}


def verify_push(secret: str, headers: Mapping[str, str], body: bytes, now: float,
                tolerance: float = TOLERANCE_SECONDS) -> None:
    """Raise SignatureError unless ``body`` came signed with ``secret`` within ``tolerance``."""
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not raw_timestamp.isdigit():
        raise SignatureError(TIMESTAMP_HEADER, f"{raw_timestamp!r} is not Unix seconds")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(TIMESTAMP_HEADER, f"{timestamp} is more than {tolerance:g} s"
                                               " from now: a replay, or a clock far off")
    given = headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(given, signature(secret, timestamp, body)):
        raise SignatureError(SIGNATURE_HEADER, "does not match the body and the timestamp")
