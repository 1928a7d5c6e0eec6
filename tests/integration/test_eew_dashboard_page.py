"""An automatic sender's warning on the staff dashboard page, with its timings."""

from __future__ import annotations

import pytest

from publisher.cap.eew import Quake
from publisher.config import Settings
from publisher.sim.eew_sender import build_eew_alert, sender_identity
from tests.integration.staff_support import StaffClient, staff

__all__ = ["staff"]

pytestmark = pytest.mark.asyncio


async def test_the_dashboard_shows_the_warnings_timings(staff: StaffClient,
                                                        api_settings: Settings) -> None:
    signed = sender_identity(api_settings.paths.data_dir).sign(
        build_eew_alert(Quake(40.3, 116.2, 6.1), districts=("110105",)))
    async with staff.client.post("/api/eew", data=signed,
                                 headers={"Content-Type": "application/cap+xml"}) as posted:
        assert posted.status == 201, await posted.text()
        alert_id = (await posted.json())["alert"]["id"]
    await staff.as_user("viewer")
    page = await staff.get(f"/staff/alerts/{alert_id}/dashboard")
    assert page.status == 200, page.text
    assert 'aria-labelledby="eew-title"' in page.text
    assert "<code>eew:eew@dzj.beijing.gov.cn</code> · M6.1" in page.text
