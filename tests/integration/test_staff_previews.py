"""Every channel's preview, held against what that channel really sends for the same draft."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from publisher.cap.document import check_document
from publisher.cap.model import Alert, MsgType, Status
from publisher.cap.reader import read_alert
from publisher.channels.base import OutgoingMessage
from publisher.channels.feed import FeedChannel
from publisher.channels.led import LedChannel
from publisher.channels.led_preview import page_size
from publisher.channels.led_text import Board
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_encoding import encode_sms
from publisher.channels.wechat import WechatChannel
from publisher.config import Settings
from publisher.services.actors import Actor
from publisher.services.drafts import check_draft
from publisher.services.errors import Forbidden
from publisher.services.feeds import FeedOptions, FeedRebuilder
from publisher.services.issuer import municipal_profile
from publisher.store.db import session_scope
from publisher.store.models import User
from publisher.web.staff_previews import channel_previewer, render_previews_html
from tests.channels.speech_support import require_speech_tools
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content

pytestmark = pytest.mark.asyncio

# The 16-bit concatenation header every part of a long SMS starts with.
UDH_OCTETS = 7
SMS_OPTIONS = {"host": "127.0.0.1", "port": 2775, "system_id": "preview", "password": "x"}
WECHAT_OPTIONS = {"appid": "wx-preview", "secret": "s", "template_id": "T"}
LANGUAGES = ("zh-CN", "en-US")


@pytest.fixture(autouse=True)
def _speech_tools() -> None:
    require_speech_tools()


@pytest.fixture
def sms_channel() -> Iterator[SmsChannel]:
    channel = SmsChannel(SMS_OPTIONS)  # never started: its binds stay closed
    yield channel
    channel.close()


def draft_alert(settings: Settings, payload: dict[str, Any]) -> Alert:
    """The draft read back as its next message will be: what the channels are handed."""
    profile = municipal_profile(settings.paths.districts_file)
    return check_draft(payload, profile, MsgType.ALERT).alert


def outgoing(alert: Alert) -> OutgoingMessage:
    return OutgoingMessage(0, alert, b"", alert.msg_type.value, alert.status.value)


def with_texts(payload: dict[str, Any], language: str, **texts: str) -> dict[str, Any]:
    infos = [dict(info, **texts) if info["language"] == language else info
             for info in payload["info"]]
    return {**payload, "info": infos}


async def previews(api: Api, alert_id: int, user: str = "author") -> dict[str, Any]:
    reply = await api.call("GET", f"/api/alerts/{alert_id}/previews", user=user)
    assert reply.status == 200, reply.body
    return reply.body


def in_language(body: dict[str, Any], language: str) -> dict[str, Any]:
    return next(item for item in body["languages"] if item["language"] == language)


def text_units(encoding: str, parts: tuple[bytes, ...]) -> int:
    """The text's units in the octets the SMSC is handed, headers taken off."""
    octets = sum(len(part) - (UDH_OCTETS if len(parts) > 1 else 0) for part in parts)
    return octets if encoding == "gsm7" else octets // 2


async def sized_draft(api: Api, language: str, prefix: str, filler: str,
                      characters: int) -> tuple[int, dict[str, Any]]:
    """A draft whose ``language`` SMS is ``characters`` long: its headline is sized to fit."""
    payload = content()
    alert_id = await api.compose(with_texts(payload, language, headline=prefix + filler))
    overhead = in_language(await previews(api, alert_id), language)["sms"]["characters"] \
        - len(prefix) - 1
    sized = with_texts(payload, language,
                       headline=prefix + filler * (characters - overhead - len(prefix)))
    edited = await api.call("PUT", f"/api/alerts/{alert_id}", user="author", json_body=sized)
    assert edited.status == 200, edited.body
    return alert_id, sized


@pytest.mark.parametrize(("language", "prefix", "filler", "characters", "encoding", "units",
                          "segments"), [
    ("zh-CN", "", "雨", 70, "ucs2", 70, 1),
    ("zh-CN", "", "雨", 71, "ucs2", 71, 2),
    ("zh-CN", "", "雨", 132, "ucs2", 132, 2),
    ("zh-CN", "", "雨", 133, "ucs2", 133, 3),
    ("en-US", "", "a", 160, "gsm7", 160, 1),
    # Every "{" is an escape pair in GSM 7-bit: it counts twice.
    ("en-US", "{", "a", 159, "gsm7", 160, 1),
    ("en-US", "{{", "a", 159, "gsm7", 161, 2),
])
async def test_the_sms_is_measured_as_the_channel_sends_it(
        api: Api, api_settings: Settings, sms_channel: SmsChannel, language: str, prefix: str,
        filler: str, characters: int, encoding: str, units: int, segments: int) -> None:
    alert_id, sized = await sized_draft(api, language, prefix, filler, characters)

    sms = in_language(await previews(api, alert_id), language)["sms"]

    sent_text = sms_channel.render(outgoing(draft_alert(api_settings, sized)), language)
    encoded = encode_sms(sent_text, 1)
    assert sms["text"] == sent_text
    assert (sms["characters"], sms["encoding"], sms["units"], sms["segments"]) == \
        (characters, encoding, units, segments)
    assert (sms["encoding"], sms["units"], sms["segments"]) == \
        (encoded.encoding, text_units(encoded.encoding, encoded.parts), encoded.segment_count)


async def test_the_board_pages_are_the_channels_and_each_is_a_png_of_the_board(
        api: Api, api_settings: Settings) -> None:
    payload = content()
    alert_id = await api.compose(payload)
    body = await previews(api, alert_id)
    channel = LedChannel({"callback_url": "http://127.0.0.1:9"})
    try:
        for language in LANGUAGES:
            led = in_language(body, language)["led"]
            shown = channel.render(outgoing(draft_alert(api_settings, payload)), language)
            assert led["pages"] == [list(page.rows) for page in shown.pages]
            assert led["colour"] == shown.colour == "red"
            assert len(led["images"]) == len(shown.pages)
            for path in led["images"]:
                image = await api.call("GET", path, user="approver")
                assert (image.status, image.headers["Content-Type"]) == (200, "image/png")
                picture = Image.open(io.BytesIO(image.body))
                assert (picture.format, picture.size) == ("PNG", page_size(Board()))
    finally:
        channel.close()


async def test_the_speech_plays_from_the_speaker_preview(api: Api) -> None:
    alert_id = await api.compose(content())
    body = await previews(api, alert_id)
    for language in LANGUAGES:
        speech = in_language(body, language)["speech"]
        described = await api.call(
            "GET", f"/api/alerts/{alert_id}/preview/speaker?lang={language}", user="author")
        assert speech["script"] == described.body["script"]
        audio = await api.call("GET", speech["wav_url"], user="author")
        assert (audio.status, audio.headers["Content-Type"]) == (200, "audio/wav")
        with wave.open(io.BytesIO(audio.body), "rb") as wav:
            assert wav.getnframes() / wav.getframerate() == pytest.approx(speech["seconds"],
                                                                          abs=0.01)


async def test_the_wechat_card_is_what_the_channel_sends(api: Api,
                                                         api_settings: Settings) -> None:
    payload = content()
    alert_id = await api.compose(payload)
    body = await previews(api, alert_id)
    channel = WechatChannel(WECHAT_OPTIONS)
    try:
        for language in LANGUAGES:
            card = channel.render(outgoing(draft_alert(api_settings, payload)), language)
            wechat = in_language(body, language)["wechat"]
            assert wechat["language"] == card.language
            assert {field["name"]: {"value": field["value"], "color": field["color"]}
                    for field in wechat["fields"]} == \
                {name: {"value": value["value"], "color": value.get("color")}
                 for name, value in card.data.items()}
            assert wechat["fields"][0]["name"] == "first"
    finally:
        channel.close()


@pytest.mark.parametrize("status", [Status.EXERCISE, Status.ACTUAL])
async def test_the_feed_entry_is_written_by_the_feed(api: Api, api_settings: Settings,
                                                     status: Status) -> None:
    payload = content(status)
    alert_id = await api.compose(payload)
    body = await previews(api, alert_id)
    options = FeedOptions.read(api_settings)
    if status is Status.EXERCISE and not options.test_target:
        for language in LANGUAGES:
            assert "test targets only" in in_language(body, language)["feed"]["unavailable"]
        return
    channel = FeedChannel({"republisher": FeedRebuilder(api.sessions, options.site)})
    for language in LANGUAGES:
        feed = in_language(body, language)["feed"]
        written = channel.render(outgoing(draft_alert(api_settings, payload)), language)
        assert feed["title"] == written.title
        assert feed["summary"].startswith(written.summary)
        assert feed["link"] == f"{options.site.public_url}/alerts/{alert_id}.cap"
        assert feed["page"] == f"{options.site.public_url}/alerts/{alert_id}"


async def test_the_cap_xml_is_the_draft_as_it_will_be_issued(api: Api,
                                                            api_settings: Settings) -> None:
    payload = content()
    alert_id = await api.compose(payload)
    xml = (await previews(api, alert_id))["cap_xml"]

    issued = read_alert(xml.encode()).alert
    draft = draft_alert(api_settings, payload)
    assert issued is not None
    assert issued.sender == api_settings.center_sender
    assert issued.infos == draft.infos
    assert (issued.status, issued.msg_type) == (draft.status, draft.msg_type)
    assert check_document(xml.encode(), profile=municipal_profile(
        api_settings.paths.districts_file)).ok


def actor_named(api: Api, name: str) -> Actor:
    with session_scope(api.sessions) as session:
        return Actor.of_user(session.scalars(select(User).where(User.username == name)).one())


@pytest.mark.parametrize(("language", "labels"), [
    ("zh-CN", ("各渠道预览", "短信", "条短信")),
    ("en-US", ("Channel previews", "SMS", "Speaker announcement")),
])
async def test_the_fragment_shows_every_preview(api: Api, language: str,
                                                labels: tuple[str, ...]) -> None:
    alert_id = await api.compose(content())
    body = await previews(api, alert_id)
    actor = actor_named(api, "approver")
    with session_scope(api.sessions) as session:
        html = str(render_previews_html(session, actor, alert_id, language,
                                        channel_previewer(api.client.app)))

    for label in labels:
        assert label in html
    for item in body["languages"]:
        assert item["sms"]["text"] in html
        assert f'data-segments="{item["sms"]["segments"]}"' in html
        for image in item["led"]["images"]:
            assert f'<img src="{image}"' in html
        assert f'<audio controls preload="none" src="{item["speech"]["wav_url"]}">' in html
        assert item["wechat"]["fields"][0]["value"] in html
    assert '<pre class="cap-xml">&lt;?xml' in html
    assert 'class="unavailable"' in html  # the Exercise is not on this installation's feed


async def test_the_fragment_refuses_who_may_not_preview(api: Api) -> None:
    alert_id = await api.compose(content())
    with session_scope(api.sessions) as session, pytest.raises(Forbidden) as refused:
        render_previews_html(session, actor_named(api, "viewer"), alert_id, "zh-CN",
                             channel_previewer(api.client.app))
    assert refused.value.field == "role"


@pytest.mark.parametrize(("path", "user", "status", "field"), [
    ("/api/alerts/{id}/previews", "viewer", 403, "role"),
    ("/api/alerts/{id}/previews", None, 401, "Authorization"),
    ("/api/alerts/999999/previews", "author", 404, "alert_id"),
    ("/api/alerts/{id}/preview/led/zh-CN/1.png", "viewer", 403, "role"),
    ("/api/alerts/{id}/preview/led/zh-CN/99.png", "author", 404, "page"),
    ("/api/alerts/{id}/preview/led/fr-FR/1.png", "author", 400, "lang"),
])
async def test_refusals_name_the_field(api: Api, path: str, user: str | None, status: int,
                                       field: str) -> None:
    alert_id = await api.compose(content())
    reply = await api.call("GET", path.replace("{id}", str(alert_id)), user=user)
    assert (reply.status, reply.body["field"]) == (status, field)
