"""Every channel's preview for the staff: an HTML fragment for the pages, JSON for the API.

``render_previews_html`` is the fragment the compose and approval pages
include; ``GET /api/alerts/{id}/previews`` answers the same previews as
JSON; ``GET /api/alerts/{id}/preview/led/{lang}/{page}.png`` draws one board
page; ``POST /api/areas/reach`` says which districts, devices, subscribers
and district nodes an area reaches; ``/static/district_map.js`` is the
area picker's script. Roles (author or approver) are the services' to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup
from sqlalchemy.orm import Session

from publisher.channels.led_layout import LayoutError
from publisher.channels.led_preview import FontNotFoundError
from publisher.channels.wechat_template import COLOURED_FIELD, TemplateMessage
from publisher.services.actors import Actor
from publisher.services.area_reach import Reach, area_reach, read_area
from publisher.services.channel_previews import (
    ChannelPreviewer,
    ChannelPreviews,
    LanguagePreviews,
    LedPreview,
    SmsPreview,
    SpeechPreview,
    Unavailable,
)
from publisher.services.errors import InvalidInput, NotFound
from publisher.services.feed_preview import FeedEntryPreview
from publisher.services.languages import LANGUAGES
from publisher.web.audio import SPEAKER, SPEECH
from publisher.web.auth import current_actor
from publisher.web.bodies import read_json_object
from publisher.web.context import SETTINGS, SIGNER, in_transaction
from publisher.web.district_map import MAP_SCRIPT_PATH
from publisher.web.errors import error_response
from publisher.web.fragments import render_fragment
from publisher.web.path_ids import path_id
from publisher.web.representations import json_response
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["channel_previewer", "led_image_path", "previews_json", "reach_json",
           "render_previews_html", "routes", "wav_path"]

PNG_MEDIA_TYPE = "image/png"
_SCRIPT = Path(__file__).resolve().parent / "static" / "district_map.js"

routes = web.RouteTableDef()


def channel_previewer(app: web.Application) -> ChannelPreviewer:
    """The previewer of the installation ``app`` serves, with the speakers' own speech."""
    return ChannelPreviewer.from_settings(app[SETTINGS], app[SIGNER].issuer, app[SPEECH],
                                          app[SPEAKER].repeat)


def led_image_path(alert_id: int, language: str, page: int) -> str:
    return f"/api/alerts/{alert_id}/preview/led/{language}/{page}.png"


def wav_path(alert_id: int, language: str) -> str:
    return f"/api/alerts/{alert_id}/preview/speaker.wav?lang={language}"


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise InvalidInput(f"{value!r} is not one of {', '.join(LANGUAGES)}", field="lang")
    return value


def _ordered_fields(card: TemplateMessage) -> list[tuple[str, str, str | None]]:
    """(name, value, colour) of a card's fields as the client lays them out: first, keywords,
    then the remark."""
    def place(name: str) -> tuple[int, int, str]:
        number = name.removeprefix("keyword")
        return (name != COLOURED_FIELD, int(number) if number.isdigit() else 10**6, name)

    return [(name, card.data[name]["value"], card.data[name].get("color"))
            for name in sorted(card.data, key=place)]


def _channel_json(preview: Any, alert_id: int, language: str) -> dict[str, Any]:
    match preview:
        case Unavailable(reason=reason):
            return {"unavailable": reason}
        case SmsPreview():
            return {"text": preview.text, "characters": preview.characters,
                    "encoding": preview.encoding, "units": preview.units,
                    "units_per_segment": preview.units_per_segment,
                    "segments": preview.segments}
        case LedPreview(board=board):
            return {"board": {"rows": board.rows, "columns": board.columns,
                              "scrolls": board.scrolls},
                    "colour": preview.colour, "pages": [list(rows) for rows in preview.pages],
                    "images": [led_image_path(alert_id, language, number)
                               for number in range(1, preview.images + 1)]}
        case SpeechPreview():
            return {"language": preview.language, "script": preview.script,
                    "repeat": preview.repeat, "seconds": round(preview.seconds, 2),
                    "wav_url": wav_path(alert_id, language)}
        case TemplateMessage():
            return {"language": preview.language,
                    "fields": [{"name": name, "value": value, "color": colour}
                               for name, value, colour in _ordered_fields(preview)],
                    "url": preview.url}
        case FeedEntryPreview():
            return {"title": preview.title, "summary": preview.summary, "link": preview.link,
                    "page": preview.page}
    raise TypeError(f"no JSON form for a {type(preview).__name__} preview")


def _language_json(previews: LanguagePreviews, alert_id: int) -> dict[str, Any]:
    language = previews.language
    return {"language": language,
            **{channel: _channel_json(getattr(previews, channel), alert_id, language)
               for channel in ("sms", "led", "speech", "wechat", "feed")}}


def previews_json(previews: ChannelPreviews) -> dict[str, Any]:
    return {"alert_id": previews.alert_id, "status": previews.status,
            "languages": [_language_json(language, previews.alert_id)
                          for language in previews.languages],
            "cap_xml": previews.cap_xml}


def render_previews_html(session: Session, actor: Actor, alert_id: int, lang: str,
                         previewer: ChannelPreviewer) -> Markup:
    """Every channel's preview of the alert's draft, labelled in ``lang`` (zh-CN or en-US).

    ``previewer`` is ``channel_previewer(request.app)``. Raises Forbidden for
    a user who is neither author nor approver, NotFound for no such alert.
    """
    language = _language(lang)
    previews = previews_json(previewer.preview(session, actor, alert_id))
    return render_fragment("staff/previews.html.j2", language=language, previews=previews)


def reach_json(reach: Reach) -> dict[str, Any]:
    return {"districts": [{"code": district.code,
                           "name": {"zh-CN": district.name_zh, "en-US": district.name_en}}
                          for district in reach.districts],
            "devices": dict(reach.devices), "subscribers": reach.subscribers,
            "nodes": list(reach.nodes)}


def _alert_id(request: web.Request) -> int:
    return path_id(request)


@routes.get(r"/api/alerts/{alert_id:\d+}/previews")
async def alert_previews(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    previewer = channel_previewer(request.app)
    return json_response(await in_transaction(request, lambda session: previews_json(
        previewer.preview(session, actor, alert_id))))


@routes.get(r"/api/alerts/{alert_id:\d+}/preview/led/{lang}/{page:\d+}.png")
async def led_page_image(request: web.Request) -> web.StreamResponse:
    actor, alert_id = current_actor(request), _alert_id(request)
    language, page = _language(request.match_info["lang"]), int(request.match_info["page"])
    previewer = channel_previewer(request.app)
    try:
        images = await in_transaction(request, lambda session: previewer.led_images(
            session, actor, alert_id, language))
    except FontNotFoundError as error:
        return error_response(503, "unavailable", error.field, str(error))
    except LayoutError as error:
        raise InvalidInput(error.reason, field=error.field) from None
    if not 1 <= page <= len(images):
        raise NotFound(f"the board shows {len(images)} pages; there is no page {page}",
                       field="page")
    # A draft changes under the same URL: the browser asks again every time.
    return web.Response(body=images[page - 1], content_type=PNG_MEDIA_TYPE,
                        headers={"Cache-Control": "no-store"})


@routes.post("/api/areas/reach")
async def reach_of_area(request: web.Request) -> web.Response:
    actor, body = current_actor(request), await read_json_object(request)
    table = request.app[DISTRICT_NAMES].table
    area, status = read_area(body, table)
    return json_response(reach_json(await in_transaction(
        request, lambda session: area_reach(session, actor, area, table, status=status))))


@routes.get(MAP_SCRIPT_PATH)
async def district_map_script(request: web.Request) -> web.FileResponse:
    return web.FileResponse(_SCRIPT, headers={"Content-Type": "text/javascript; charset=utf-8",
                                              "Cache-Control": "public, max-age=3600"})
