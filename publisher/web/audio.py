"""Announcement audio over HTTP: the cached WAVs speakers fetch, and the composer's preview.

``GET /audio/{key}.wav`` is public: speakers fetch what the speaker channel
told them to play, without an account. A key is a SHA-256 of the content it
was made from, so it cannot be guessed; what it serves is meant to be heard
in the street anyway.

``GET /api/alerts/{id}/preview/speaker?lang=zh-CN`` (author or approver)
renders the alert's draft as the speakers would play it and answers with
the script, its duration and the URL of its audio, which a browser's audio
element can play without a token; ``.../preview/speaker.wav`` answers with
the audio itself. A preview is cached like a message's audio.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.channels.base import ChannelError
from publisher.channels.speaker import AUDIO_MEDIA_TYPE, SpeakerSettings
from publisher.channels.speaker_script import render_script
from publisher.channels.speech import AnnouncementAudio, SpeechAudio, SpeechScript
from publisher.channels.speech_cache import audio_path
from publisher.services.errors import InvalidInput, NotFound
from publisher.services.previews import preview_alert
from publisher.web.auth import current_actor
from publisher.web.context import SETTINGS, SIGNER, in_transaction
from publisher.web.errors import error_response
from publisher.web.path_ids import path_id
from publisher.web.representations import json_response

__all__ = ["SPEAKER", "SPEECH", "open_speech", "routes"]

SPEAKER = web.AppKey("speaker", SpeakerSettings)
SPEECH = web.AppKey("speech", SpeechAudio)
DEFAULT_PREVIEW_LANGUAGE = "zh-CN"
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")

routes = web.RouteTableDef()


async def open_speech(app: web.Application) -> AsyncIterator[None]:
    """The speaker channel's settings, read once: previews sound as the speakers will."""
    settings = SpeakerSettings.read(app[SETTINGS].channel_options.get("speaker", {}))
    app[SPEAKER] = settings
    app[SPEECH] = settings.speech_audio()
    yield


def _wav(path: Path, headers: dict[str, str]) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Type": AUDIO_MEDIA_TYPE, **headers})


@routes.get(r"/audio/{key:[0-9a-f]{64}}.wav")
async def cached_audio(request: web.Request) -> web.StreamResponse:
    path = request.app[SPEECH].cache.find(request.match_info["key"])
    if path is None:
        raise NotFound("no audio was made under this key here", field="key")
    # A key names one content for ever: a speaker or browser may keep it.
    return _wav(path, {"Cache-Control": "public, max-age=86400, immutable"})


def _language(request: web.Request) -> str:
    language = request.query.get("lang", DEFAULT_PREVIEW_LANGUAGE)
    if _LANGUAGE_TAG.fullmatch(language) is None:
        raise InvalidInput(f"{language!r} is not a language tag such as zh-CN", field="lang")
    return language


async def _preview(request: web.Request) -> tuple[SpeechScript, AnnouncementAudio]:
    actor, alert_id = current_actor(request), path_id(request)
    language, profile = _language(request), request.app[SIGNER].issuer.profile
    preview = await in_transaction(
        request, lambda session: preview_alert(session, actor, alert_id, profile))
    script = render_script(preview.alert, language)
    audio = await asyncio.to_thread(request.app[SPEECH].announcement, script,
                                    request.app[SPEAKER].repeat, preview.source)
    return script, audio


def _speech(view: Handler) -> Handler:
    """Answer 503 naming speech when no audio can be made (espeak-ng or a voice missing)."""
    @functools.wraps(view)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await view(request)
        except ChannelError as error:
            return error_response(503, "unavailable", "speech", error.reason)
    return answer


@routes.get(r"/api/alerts/{alert_id:\d+}/preview/speaker")
@_speech
async def speaker_preview(request: web.Request) -> web.StreamResponse:
    script, audio = await _preview(request)
    return json_response({"language": script.language, "script": script.text,
                          "repeat": request.app[SPEAKER].repeat,
                          "seconds": round(audio.seconds, 2), "audio_url": audio_path(audio.key)})


@routes.get(r"/api/alerts/{alert_id:\d+}/preview/speaker.wav")
@_speech
async def speaker_preview_audio(request: web.Request) -> web.StreamResponse:
    script, audio = await _preview(request)
    return _wav(audio.path, {"Content-Language": script.language,
                             "Content-Location": audio_path(audio.key)})
