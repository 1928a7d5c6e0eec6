"""Subscribers in the staff API: a bulk import from CSV, and one subscriber at a time.

All are an administrator's (the services check the role). The import
answers with the counts and every refused row; re-sending a file changes
nothing, its rows counting as unchanged.

One subscriber is addressed by any of their contact points,
``/api/subscribers/{kind}/{value}`` with ``kind`` ``msisdn`` or
``wechat_openid`` (``publisher.services.subscriber_admin``):

- ``POST /api/subscribers``: add one (201, ``Location`` by its first contact point);
- ``GET``, ``PATCH`` (districts, language, test flag) ``/api/subscribers/{kind}/{value}``;
- ``DELETE /api/subscribers/{kind}/{value}``: stop reaching them there (the
  last contact point removed unsubscribes them);
- ``POST /api/subscribers/{kind}/{value}/contact-points``: reach them at one more.

``GET /api/subscribers/{msisdn}`` is the shorter form for a number.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher.cap.districts import load_districts
from publisher.services.actors import Actor
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput, TooLarge
from publisher.services.subscriber_admin import (
    add_contact_point_as_staff,
    add_subscriber_as_staff,
    change_subscriber_as_staff,
    remove_contact_point_as_staff,
    subscriber_by_contact_for_staff,
)
from publisher.services.subscriber_import import (
    ROWS_PER_COMMIT,
    ImportReport,
    import_subscribers_as_staff,
)
from publisher.services.subscribers import subscriber_for_staff
from publisher.store.models import ContactKind, Subscriber
from publisher.web.auth import current_actor
from publisher.web.bodies import MAX_BODY_BYTES, read_json_object
from publisher.web.context import SETTINGS, in_transaction
from publisher.web.errors import error_response
from publisher.web.representations import json_response, subscriber_json

__all__ = ["CSV_MEDIA_TYPE", "DISTRICT_NAMES", "load_district_names", "routes"]

CSV_MEDIA_TYPE = "text/csv"
DISTRICT_NAMES = web.AppKey("district_names", DistrictNames)

routes = web.RouteTableDef()


async def load_district_names(app: web.Application) -> AsyncIterator[None]:
    """The city's districts by code and name, read once at start-up."""
    app[DISTRICT_NAMES] = DistrictNames(load_districts(app[SETTINGS].paths.districts_file))
    yield


async def _csv_text(request: web.Request) -> str:
    """The body as text, in the charset its Content-Type names (UTF-8 by default)."""
    charset = request.charset or "utf-8"
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        raise InvalidInput(f"unknown charset {charset!r}", field="Content-Type") from None
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge(f"the CSV is larger than {MAX_BODY_BYTES} bytes: import it in parts,"
                       " or with `publisher subscriber import`", field="body") from None
    try:
        # utf-8-sig: spreadsheets save CSV with a byte order mark.
        return data.decode("utf-8-sig" if codec.name == "utf-8" else codec.name)
    except UnicodeDecodeError as error:
        raise InvalidInput(f"not {charset} at byte {error.start}; name the file's charset in"
                           " Content-Type, e.g. text/csv; charset=gb18030",
                           field="body") from None


def _report_json(report: ImportReport) -> dict[str, Any]:
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "merged": report.merged,
        "refused": len({error.row for error in report.errors}),
        "errors": [{"row": error.row, "column": error.column, "reason": error.reason}
                   for error in report.errors],
    }


@routes.post("/api/subscribers/import")
async def import_subscribers(request: web.Request) -> web.Response:
    actor = current_actor(request)
    if request.content_type != CSV_MEDIA_TYPE:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"{request.content_type!r}: send {CSV_MEDIA_TYPE}")
    text, districts = await _csv_text(request), request.app[DISTRICT_NAMES]
    return json_response(await in_transaction(request, lambda session: _report_json(
        import_subscribers_as_staff(session, actor, text, districts=districts,
                                    commit_every=ROWS_PER_COMMIT))))


@routes.get("/api/subscribers/{msisdn}")
async def get_subscriber(request: web.Request) -> web.Response:
    actor, number = current_actor(request), request.match_info["msisdn"]
    districts = request.app[DISTRICT_NAMES]
    return json_response(await in_transaction(request, lambda session: subscriber_json(
        subscriber_for_staff(session, actor, number), districts)))


def _path(subscriber: Subscriber) -> str:
    point = subscriber.contact_points[0]
    return f"/api/subscribers/{point.kind.value}/{point.value}"


@routes.post("/api/subscribers")
async def add_subscriber(request: web.Request) -> web.Response:
    actor, districts = current_actor(request), request.app[DISTRICT_NAMES]
    fields = await read_json_object(request)

    def adding(session: Session) -> tuple[str, dict[str, Any]]:
        added = add_subscriber_as_staff(session, actor, fields, districts)
        return _path(added), subscriber_json(added, districts)

    location, body = await in_transaction(request, adding)
    return json_response(body, status=201, headers={"Location": location})


def _addressed(request: web.Request) -> tuple[Actor, DistrictNames, str, str]:
    """Who asks, the districts, and the contact point the path names the subscriber by."""
    return (current_actor(request), request.app[DISTRICT_NAMES], request.match_info["kind"],
            request.match_info["value"])


_CONTACT_PATH = "/api/subscribers/{kind:" + "|".join(kind.value for kind in ContactKind) \
    + "}/{value}"


@routes.get(_CONTACT_PATH)
async def get_subscriber_by_contact(request: web.Request) -> web.Response:
    actor, districts, kind, value = _addressed(request)
    return json_response(await in_transaction(request, lambda session: subscriber_json(
        subscriber_by_contact_for_staff(session, actor, kind, value), districts)))


@routes.patch(_CONTACT_PATH)
async def change_subscriber(request: web.Request) -> web.Response:
    actor, districts, kind, value = _addressed(request)
    fields = await read_json_object(request)
    return json_response(await in_transaction(request, lambda session: subscriber_json(
        change_subscriber_as_staff(session, actor, kind, value, fields, districts=districts),
        districts)))


@routes.delete(_CONTACT_PATH)
async def remove_contact_point(request: web.Request) -> web.Response:
    actor, districts, kind, value = _addressed(request)
    return json_response(await in_transaction(request, lambda session: subscriber_json(
        remove_contact_point_as_staff(session, actor, kind, value), districts)))


@routes.post(_CONTACT_PATH + "/contact-points")
async def add_contact_point(request: web.Request) -> web.Response:
    actor, districts, kind, value = _addressed(request)
    fields = await read_json_object(request)
    return json_response(await in_transaction(request, lambda session: subscriber_json(
        add_contact_point_as_staff(session, actor, kind, value, fields), districts)))
