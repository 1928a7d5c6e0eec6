"""The ``X-Twilio-Signature`` of a request: how the provider proves a webhook comes from it.

The base64 of an HMAC-SHA1, keyed with the account's AuthToken, over the
full URL the provider called (scheme, host, path and query, as configured
on its side) followed by every POST parameter sorted by name, each name
then its value. Shared by the webhooks, which verify it, and the simulator,
which signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["SIGNATURE_HEADER", "signature_holds", "twilio_signature"]

SIGNATURE_HEADER = "X-Twilio-Signature"


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_holds(auth_token: str, url: str, params: Iterable[tuple[str, str]],
                    given: str) -> bool:
    return hmac.compare_digest(twilio_signature(auth_token, url, params), given)
