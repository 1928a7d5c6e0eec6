"""The speaker preview when no audio can be made: 503, naming speech and the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from publisher.config import Settings
from tests.channels.speech_support import require_speech_tools
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content
from tests.services import fresh_installation

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _speech_tools() -> None:
    require_speech_tools()


@pytest.fixture
def api_settings(tmp_path: Path, _migrated_sqlite_template: Path) -> Settings:
    """The installation of ``api``, with a Chinese voice espeak-ng does not have."""
    settings = fresh_installation(tmp_path, _migrated_sqlite_template)
    speaker = {**settings.channel_options["speaker"], "voices": {"zh-CN": "xx/no-such-voice"}}
    return replace(settings, channel_options={**settings.channel_options, "speaker": speaker})


@pytest.mark.parametrize("path", ["/api/alerts/{id}/preview/speaker",
                                  "/api/alerts/{id}/preview/speaker.wav"])
async def test_a_missing_voice_is_503_naming_it(api: Api, path: str) -> None:
    alert_id = await api.compose(content())
    reply = await api.call("GET", path.format(id=alert_id), user="author")
    assert reply.status == 503
    assert (reply.body["error"], reply.body["field"]) == ("unavailable", "speech")
    assert reply.body["reason"] == "voice: 'xx/no-such-voice' is not an installed espeak-ng voice"
