"""A CAP upload over the size limit is refused with 413 in the error shape, on every route
that takes CAP XML, before any of it is parsed."""

from __future__ import annotations

import pytest

from publisher.cap.xmlsafe import DEFAULT_MAX_BYTES
from publisher.web.bodies import MAX_BODY_BYTES
from tests.integration.api_client import Api

XML_ROUTES = ("/api/alerts", "/api/intake", "/api/eew", "/api/nodes/110105/alerts")


def oversized_alert() -> bytes:
    head = b'<?xml version="1.0"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>'
    tail = b"</note></alert>"
    return head + b"x" * (MAX_BODY_BYTES + 1 - len(head) - len(tail)) + tail


def test_the_body_limit_is_the_cap_document_limit() -> None:
    assert MAX_BODY_BYTES == DEFAULT_MAX_BYTES


@pytest.mark.asyncio
@pytest.mark.parametrize("path", XML_ROUTES)
async def test_an_oversized_cap_upload_is_413(api: Api, path: str) -> None:
    document = oversized_alert()
    assert len(document) == MAX_BODY_BYTES + 1
    # The author's token passes the staff route's authentication; the others read the
    # body before they judge their credential or signature.
    reply = await api.call("POST", path, user="author", data=document,
                           content_type="application/cap+xml")
    assert reply.status == 413, reply.body
    assert reply.body == {"error": "too_large", "field": reply.body["field"],
                          "reason": reply.body["reason"]}
    assert reply.body["field"] in ("body", "document")
    assert str(MAX_BODY_BYTES) in reply.body["reason"]
    assert api.stored()["alerts"] == 0


@pytest.mark.asyncio
async def test_an_upload_at_the_limit_is_read(api: Api) -> None:
    document = oversized_alert()[1:]
    reply = await api.call("POST", "/api/alerts", user="author", data=document,
                           content_type="application/cap+xml")
    assert reply.status == 400, reply.body
