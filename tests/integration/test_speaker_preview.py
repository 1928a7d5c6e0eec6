"""The composer's speaker preview over the API, and the public audio route speakers fetch."""

from __future__ import annotations

import io
import wave

import pytest

from tests.channels.speech_support import require_speech_tools
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def _speech_tools() -> None:
    require_speech_tools()


def seconds_of(body: bytes) -> float:
    with wave.open(io.BytesIO(body), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


@pytest.mark.parametrize("user", ["author", "approver"])
async def test_the_preview_says_what_speakers_will_play(api: Api, user: str) -> None:
    alert_id = await api.compose(content())

    preview = await api.call("GET", f"/api/alerts/{alert_id}/preview/speaker?lang=en-US",
                             user=user)

    assert preview.status == 200, preview.body
    assert preview.body["language"] == "en-US"
    assert preview.body["script"].startswith("This is an exercise. Attention, please.")
    assert preview.body["repeat"] == 3
    audio = await api.call("GET", preview.body["audio_url"])  # no token: speakers have none
    assert (audio.status, audio.headers["Content-Type"]) == (200, "audio/wav")
    assert "immutable" in audio.headers["Cache-Control"]
    assert seconds_of(audio.body) == pytest.approx(preview.body["seconds"], abs=0.01)
    assert preview.body["seconds"] >= 2.0


async def test_the_wav_preview_is_the_same_audio(api: Api) -> None:
    alert_id = await api.compose(content())
    described = await api.call("GET", f"/api/alerts/{alert_id}/preview/speaker", user="author")

    wav = await api.call("GET", f"/api/alerts/{alert_id}/preview/speaker.wav", user="author")

    assert wav.status == 200
    assert wav.headers["Content-Type"] == "audio/wav"
    assert wav.headers["Content-Language"] == described.body["language"] == "zh-CN"
    assert wav.headers["Content-Location"] == described.body["audio_url"]
    public = await api.call("GET", described.body["audio_url"])
    assert wav.body == public.body


async def test_an_edited_draft_sounds_different(api: Api) -> None:
    alert_id = await api.compose(content())
    before = await api.call("GET", f"/api/alerts/{alert_id}/preview/speaker", user="author")
    edited = await api.call("PUT", f"/api/alerts/{alert_id}", user="author",
                            json_body=content(headline="北京市气象台发布暴雨橙色预警信号"))
    assert edited.status == 200, edited.body

    after = await api.call("GET", f"/api/alerts/{alert_id}/preview/speaker", user="author")

    assert "橙色" in after.body["script"] and "橙色" not in before.body["script"]
    assert after.body["audio_url"] != before.body["audio_url"]


@pytest.mark.parametrize(("path", "user", "status", "field"), [
    ("/api/alerts/{id}/preview/speaker", "viewer", 403, "role"),
    ("/api/alerts/{id}/preview/speaker.wav", None, 401, "Authorization"),
    ("/api/alerts/999999/preview/speaker", "author", 404, "alert_id"),
    ("/api/alerts/{id}/preview/speaker?lang=zh_CN!", "author", 400, "lang"),
    (f"/audio/{'0' * 64}.wav", None, 404, "key"),
])
async def test_refusals_name_the_field(api: Api, path: str, user: str | None, status: int,
                                       field: str) -> None:
    alert_id = await api.compose(content())
    reply = await api.call("GET", path.replace("{id}", str(alert_id)), user=user)
    assert (reply.status, reply.body["field"]) == (status, field)


async def test_only_keys_reach_the_audio_directory(api: Api) -> None:
    reply = await api.call("GET", "/audio/..%2Fpublisher.db.wav")
    assert reply.status == 404
