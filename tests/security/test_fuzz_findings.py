"""What fuzzing the API found, kept: each input once answered 500."""

from __future__ import annotations

import pytest

from tests.integration import app_stream_support
from tests.integration.api_client import Api

pytestmark = pytest.mark.asyncio

admin_api = app_stream_support.admin_api
BEYOND_ANY_ID = "9528543191280162690322789302272"


@pytest.mark.parametrize(("path", "field"), [
    (f"/api/alerts/{BEYOND_ANY_ID}", "alert_id"),
    (f"/api/alerts/{BEYOND_ANY_ID}/dashboard", "alert_id"),
    (f"/api/alerts/{BEYOND_ANY_ID}/deliveries", "alert_id"),
    (f"/alerts/{BEYOND_ANY_ID}", "alert_id"),
    (f"/alerts/{BEYOND_ANY_ID}.cap", "alert_id"),
])
async def test_a_path_id_beyond_any_row_is_not_found(api: Api, path: str, field: str) -> None:
    reply = await api.call("GET", path, user="viewer")
    assert (reply.status, reply.body["error"], reply.body["field"]) == \
        (404, "not_found", field), reply.body


async def test_a_carriage_return_ends_a_csv_row(admin_api: Api) -> None:
    reply = await admin_api.call("POST", "/api/subscribers/import", user="admin",
                                 data=b"\x1aO\r\xc3\x9b{\n", content_type="text/csv")
    assert reply.status == 200, reply.body
    assert reply.body["created"] == 0 and reply.body["errors"], reply.body


async def test_a_csv_the_csv_module_cannot_read_is_invalid_input(admin_api: Api) -> None:
    oversized_field = b"msisdn,district\n" + b"1" * 200_000 + b",110105\n"
    reply = await admin_api.call("POST", "/api/subscribers/import", user="admin",
                                 data=oversized_field, content_type="text/csv")
    assert (reply.status, reply.body["field"]) == (400, "body"), reply.body
    assert reply.body["reason"].startswith("malformed CSV: field larger than")
