"""What the WeChat platform pushes to the callback URL: signed XML events.

Every push carries ``signature``, ``timestamp`` and ``nonce`` in its query
string; the signature is the SHA-1 (hex) of the callback token, the
timestamp and the nonce, sorted and joined (``signature``). The URL check
the platform makes when the callback URL is configured is a GET with an
``echostr`` to echo back under the same signature.

Events are XML (plaintext mode): ``<xml><ToUserName/><FromUserName/>
<CreateTime/><MsgType>event</MsgType><Event/>...</xml>``. ``read_event``
parses one with the safe parser of ``publisher.cap.xmlsafe`` (no DOCTYPE,
no entities, a size limit) into its fields by element name;
``event_xml`` writes one (for the simulator).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from lxml import etree

from publisher.cap.problems import CapError
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml
from publisher.channels.base import ReceiptError

__all__ = [
    "EVENT_MAX_BYTES",
    "SEND_JOB_FINISHED",
    "UNSUBSCRIBE",
    "event_xml",
    "read_event",
    "signature",
    "signature_holds",
]

EVENT_MAX_BYTES = 64 * 1024
SEND_JOB_FINISHED = "TEMPLATESENDJOBFINISH"
UNSUBSCRIBE = "unsubscribe"
_LIMITS = XmlLimits(max_bytes=EVENT_MAX_BYTES, max_depth=4)


def signature(token: str, timestamp: str, nonce: str) -> str:
    """The WeChat signature of a push: SHA-1 of the token, timestamp and nonce, sorted."""
    # SHA-1 is the platform's choice, not ours: the scheme is fixed by the protocol.
    joined = "".join(sorted((token, timestamp, nonce))).encode()
    return hashlib.sha1(joined).hexdigest()  # noqa: S324


def signature_holds(token: str, query: Mapping[str, str]) -> bool:
    """Whether ``query`` carries a valid ``signature`` of its ``timestamp`` and ``nonce``."""
    given = query.get("signature", "")
    expected = signature(token, query.get("timestamp", ""), query.get("nonce", ""))
    return hmac.compare_digest(given.lower().encode(), expected.encode())


def read_event(data: bytes) -> dict[str, str]:
    """The fields of one pushed event by element name; raises ReceiptError naming what is wrong."""
    try:
        root = parse_untrusted_xml(data, _LIMITS)
    except CapError as error:
        raise ReceiptError("body", str(error)) from None
    if root.tag != "xml":
        raise ReceiptError("body", f"the root element is <{root.tag}>, not <xml>")
    return {child.tag: (child.text or "").strip() for child in root
            if isinstance(child.tag, str)}


def event_xml(fields: Mapping[str, str | int]) -> bytes:
    """An event as the platform pushes it: text fields in CDATA, numbers as they are."""
    root = etree.Element("xml")
    for name, value in fields.items():
        element = etree.SubElement(root, name)
        element.text = str(value) if isinstance(value, int) else etree.CDATA(value)
    return etree.tostring(root, encoding="utf-8")
