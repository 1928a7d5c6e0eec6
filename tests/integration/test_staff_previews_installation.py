"""Previews on an installation whose speech cannot be made and whose feed is a test target."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from publisher.config import Settings
from publisher.store.db import session_scope
from publisher.web.staff_previews import channel_previewer, render_previews_html
from tests.channels.speech_support import require_speech_tools
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content
from tests.integration.test_staff_previews import actor_named, in_language, previews
from tests.services import fresh_installation

pytestmark = pytest.mark.asyncio

MISSING_VOICE = "xx/no-such-voice"
PUBLIC_URL = "https://alerts.example.org"


@pytest.fixture(autouse=True)
def _speech_tools() -> None:
    require_speech_tools()


@pytest.fixture
def api_settings(tmp_path: Path, _migrated_sqlite_template: Path) -> Settings:
    """The installation of ``api``: no Chinese voice, and a feed that carries Exercises."""
    settings = fresh_installation(tmp_path, _migrated_sqlite_template)
    options = settings.channel_options
    return replace(settings, channel_options={
        **options, "speaker": {**options["speaker"], "voices": {"zh-CN": MISSING_VOICE}},
        "feed": {"public_url": PUBLIC_URL, "test_target": True}})


async def test_a_channel_that_cannot_render_says_why_and_the_others_stand(api: Api) -> None:
    alert_id = await api.compose(content())
    body = await previews(api, alert_id)

    chinese, english = in_language(body, "zh-CN"), in_language(body, "en-US")
    reason = f"voice: {MISSING_VOICE!r} is not an installed espeak-ng voice"
    assert chinese["speech"] == {"unavailable": reason}
    assert english["speech"]["language"] == "en-US"
    assert chinese["sms"]["segments"] >= 1 and chinese["led"]["images"]
    with session_scope(api.sessions) as session:
        html = str(render_previews_html(session, actor_named(api, "author"), alert_id,
                                        "en-US", channel_previewer(api.client.app)))
    assert "No preview:</strong> voice: &#39;xx/no-such-voice&#39;" in html
    assert html.count("<audio ") == 1


async def test_an_exercise_is_on_a_feed_that_is_a_test_target(api: Api) -> None:
    alert_id = await api.compose(content())
    feed = in_language(await previews(api, alert_id), "en-US")["feed"]
    assert feed["title"] == "Beijing Meteorological Observatory issues a red rainstorm warning"
    assert feed["summary"] == ("More than 100 mm of rain is expected in Chaoyang within 3 hours."
                               " Stop gatherings, classes and business; keep away from low"
                               " ground and basements.")
    assert (feed["link"], feed["page"]) == (f"{PUBLIC_URL}/alerts/{alert_id}.cap",
                                            f"{PUBLIC_URL}/alerts/{alert_id}")
