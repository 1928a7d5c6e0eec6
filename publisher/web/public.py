"""Public pages that need no account: the alerts in force as cards, one alert, its signed CAP.

``/`` lists the alerts in force as cards (the colour of the level, the
headline, the area, the time and the instruction), newest first, filtered
by ``?district=``; ``/alerts/{id}`` shows one, also once cancelled or
expired. Both are rendered on the server in the language ``page_language``
picks, and work without JavaScript: the language switch is links, the
district filter a plain form.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from sqlalchemy.orm import Session

from publisher.channels.plain_templates import TEMPLATES_DIR
from publisher.services import lifecycle
from publisher.services.errors import NotFound
from publisher.services.feed_documents import CAP_MEDIA_TYPE
from publisher.services.languages import LANGUAGES
from publisher.services.public_alerts import Card, card_of, cards_in_force, public_alert
from publisher.store.models import utcnow
from publisher.web.context import in_transaction
from publisher.web.page_text import LABELS, district_label
from publisher.web.path_ids import path_id
from publisher.web.public_query import alert_filter, page_language
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["CAP_MEDIA_TYPE", "routes"]

_LANGUAGE_NAMES = {"zh-CN": "中文", "en-US": "English"}
_SHOWN_TIME = "%Y-%m-%d %H:%M"

routes = web.RouteTableDef()


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _query(**parameters: str | None) -> str:
    kept = {name: value for name, value in parameters.items() if value}
    return f"?{urlencode(kept)}" if kept else ""


def _shown(moment: datetime | None, like: datetime | None) -> str:
    """A time as the alert's own clock shows it (its CAP times carry the city's offset)."""
    if moment is None:
        return ""
    zone = like.tzinfo if like is not None else None
    return moment.astimezone(zone).strftime(_SHOWN_TIME)


def _view(card: Card, language: str) -> dict[str, Any]:
    return {
        **dataclasses.asdict(card),
        "cap_path": card.cap_path,
        "page_href": card.page_path + _query(lang=language),
        "effective_iso": (card.effective or card.updated).isoformat(),
        "effective_shown": _shown(card.effective or card.updated, card.effective),
        "updated_iso": card.updated.isoformat(),
        "updated_shown": _shown(card.updated, card.effective),
        "expires_iso": card.expires.isoformat() if card.expires else "",
        "expires_shown": _shown(card.expires, card.effective),
    }


def _page(request: web.Request, template: str, language: str, path: str,
          district: str | None, **context: Any) -> web.Response:
    feed_query = _query(district=district, lang=language)
    html = _environment().get_template(template).render(
        language=language, text=LABELS[language],
        languages=[{"tag": tag, "name": _LANGUAGE_NAMES[tag],
                    "href": path + _query(district=district, lang=tag)} for tag in LANGUAGES],
        feed_links={"atom": f"/feeds/alerts.atom{feed_query}",
                    "rss": f"/feeds/alerts.rss{feed_query}"},
        district=district, **context)
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language"
    return response


@routes.get("/")
async def alert_list(request: web.Request) -> web.Response:
    language = page_language(request)
    chosen = alert_filter(request)

    shown = await in_transaction(
        request, lambda session: cards_in_force(session, utcnow(), chosen, language))
    districts = [{"code": district.code,
                  "name": district_label(district.name_zh, district.name_en, language)}
                 for district in request.app[DISTRICT_NAMES].table]
    return _page(request, "public/index.html.j2", language, "/", chosen.district,
                 cards=[_view(card, language) for card in shown], districts=districts)


@routes.get(r"/alerts/{alert_id:\d+}")
async def alert_page(request: web.Request) -> web.Response:
    alert_id = path_id(request)
    language = page_language(request)
    card = await in_transaction(
        request, lambda session: card_of(public_alert(session, alert_id, utcnow()), language))
    return _page(request, "public/alert.html.j2", language, card.page_path, None,
                 item=_view(card, language), back_href="/" + _query(lang=language))


@routes.get(r"/alerts/{alert_id:\d+}.cap")
async def alert_cap(request: web.Request) -> web.Response:
    alert_id = path_id(request)

    def latest(session: Session) -> tuple[bytes, str]:
        message = lifecycle.get_alert(session, alert_id).latest_message
        if message is None:
            raise NotFound(f"alert {alert_id} has not been published", field="alert_id")
        return message.xml, message.sha256

    xml, sha256 = await in_transaction(request, latest)
    # The exact bytes that were signed: any re-encoding would break the signature.
    return web.Response(body=xml, content_type=CAP_MEDIA_TYPE, charset="utf-8",
                        headers={"ETag": f'"{sha256}"'})
