"""``GET /api/timeline?district=&lang=&after=&limit=``: the public cards as JSON, for an H5
page or a mini-program, in the shape of the public page's cards. No account needed.

Cards come newest change first. A page holds up to ``limit`` cards (default
20, at most 100) and ``next``, the cursor of its last card when more follow:
``?after=<next>`` gives the cards after it. A cursor names a position
(the card's latest change and its alert id), so a page stays in place when
alerts come and go before it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiohttp import web

from publisher.services.errors import InvalidInput
from publisher.services.public_alerts import Card, cards_in_force
from publisher.store.models import utcnow
from publisher.web.context import in_transaction
from publisher.web.public_query import alert_filter, page_language
from publisher.web.representations import json_response

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "routes"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

routes = web.RouteTableDef()

Position = tuple[int, int]


def _position(card: Card) -> Position:
    moment = card.updated.astimezone(UTC)
    return (int(moment.timestamp()) * 1_000_000 + moment.microsecond, card.alert_id)


def _cursor(card: Card) -> str:
    microseconds, alert_id = _position(card)
    return f"{microseconds}.{alert_id}"


def _after(request: web.Request) -> Position | None:
    text = request.query.get("after", "").strip()
    if not text:
        return None
    microseconds, _, alert_id = text.partition(".")
    if not (microseconds.isdigit() and alert_id.isdigit()):
        raise InvalidInput(f"{text!r} is not a cursor this timeline gave", field="after")
    return int(microseconds), int(alert_id)


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(f"{text!r} is not a whole number from 1 to {MAX_LIMIT}",
                           field="limit")
    return int(text)


@routes.get("/api/timeline")
async def timeline(request: web.Request) -> web.Response:
    language = page_language(request)
    chosen = alert_filter(request)
    after = _after(request)
    limit = _limit(request)

    following = [card for card in await in_transaction(
        request, lambda session: cards_in_force(session, utcnow(), chosen, language))
                 if after is None or _position(card) < after]
    following.sort(key=_position, reverse=True)
    page = following[:limit]
    body: dict[str, Any] = {
        "language": language,
        "cards": [card.as_json() for card in page],
        "next": _cursor(page[-1]) if len(following) > limit else None,
    }
    return json_response(body)
