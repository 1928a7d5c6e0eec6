"""One subscriber at a time, for an administrator: add, read, change, and their contact points.

A subscriber is found by any of their contact points: ``msisdn`` (a mobile
number in any usual form) or ``wechat_openid``. Every change is audited and
goes through ``publisher.services.subscribers``, which rewrites the targets
that fan-out reaches. The fields of a request body:

- ``contact_points``: a list of ``{"kind", "value"}``, at least one when adding;
- ``districts``: GB/T 2260 codes or district names (Chinese or English), at
  most ``MAX_DISTRICTS``; when changing, the list replaces those followed
  (an empty list unsubscribes);
- ``language``: ``zh-CN`` or ``en-US``;
- ``is_test``: whether Exercise and Test alerts reach this subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.district_names import DistrictNames
from publisher.services.errors import Conflict, InvalidInput, NotFound
from publisher.services.languages import DEFAULT_LANGUAGE
from publisher.services.msisdn import normalise_msisdn
from publisher.services.subscriber_import import OPENID_LENGTH
from publisher.services.subscribers import (
    MAX_DISTRICTS,
    find_subscriber,
    new_subscriber,
    remove_contact_point,
    set_districts,
    update_subscriber,
)
from publisher.store.models import ContactKind, Role, Subscriber

__all__ = [
    "add_contact_point_as_staff",
    "add_subscriber_as_staff",
    "change_subscriber_as_staff",
    "contact_point",
    "remove_contact_point_as_staff",
    "subscriber_by_contact_for_staff",
]

_BODY_FIELDS = ("contact_points", "districts", "language", "is_test")


def contact_point(kind: Any, value: Any, field: str = "value") -> tuple[ContactKind, str]:
    """A contact point as stored: the kind checked, a number in E.164, an openid as given."""
    kinds = ", ".join(item.value for item in ContactKind)
    if not isinstance(kind, str) or kind not in {item.value for item in ContactKind}:
        raise InvalidInput(f"{kind!r} is not one of {kinds}", field="kind")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("required: a non-empty string", field=field)
    contact_kind = ContactKind(kind)
    if contact_kind is ContactKind.MSISDN:
        return contact_kind, normalise_msisdn(value)
    if len(value.strip()) > OPENID_LENGTH:
        raise InvalidInput(f"an openid is at most {OPENID_LENGTH} characters", field=field)
    return contact_kind, value.strip()


def _subscriber(session: Session, kind: str, value: str) -> Subscriber:
    contact_kind, address = contact_point(kind, value)
    found = find_subscriber(session, contact_kind, address)
    if found is None:
        raise NotFound(f"no subscriber has the {contact_kind.value} {address}", field="value")
    return found


def _check_fields(fields: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown field; the fields are {', '.join(allowed)}",
                           field=unknown[0])


def _contact_points(session: Session, value: Any) -> list[tuple[ContactKind, str]]:
    if not isinstance(value, list) or not value:
        raise InvalidInput("required: a list of {kind, value}", field="contact_points")
    points = []
    for index, item in enumerate(value):
        where = f"contact_points[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput("must be an object with kind and value", field=where)
        points.append(_unclaimed_contact_point(session, item, None, f"{where}.value"))
    return points


def _unclaimed_contact_point(session: Session, fields: Mapping[str, Any],
                             owner: Subscriber | None, field: str) -> tuple[ContactKind, str]:
    """``{kind, value}`` as stored; a conflict on ``field`` when it reaches anybody but
    ``owner`` already."""
    kind, address = contact_point(fields.get("kind"), fields.get("value"), field)
    holder = find_subscriber(session, kind, address)
    if holder is not None and holder is not owner:
        raise Conflict(f"{address} reaches another subscriber already: change that one",
                       field=field)
    return kind, address


def _district_codes(value: Any, districts: DistrictNames) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("must be a list of district codes or names", field="districts")
    codes = []
    for item in value:
        district = districts.find(item)
        if district is None:
            raise InvalidInput(f"unknown district {item!r}", field="districts")
        codes.append(district.code)
    codes = list(dict.fromkeys(codes))
    if len(codes) > MAX_DISTRICTS:
        raise InvalidInput(f"names {len(codes)} districts; a subscriber follows at most"
                           f" {MAX_DISTRICTS}", field="districts")
    return codes


def _flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInput("must be true or false", field="is_test")


def _language(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput("must be a language tag such as zh-CN", field="language")


def subscriber_by_contact_for_staff(session: Session, actor: Actor, kind: str,
                                    value: str) -> Subscriber:
    require_role(actor, Role.ADMIN, "reading a subscriber")
    return _subscriber(session, kind, value)


def add_subscriber_as_staff(session: Session, actor: Actor, fields: Mapping[str, Any],
                            districts: DistrictNames) -> Subscriber:
    """A new subscriber with the body's contact points, districts, language and test flag."""
    require_role(actor, Role.ADMIN, "adding a subscriber")
    _check_fields(fields, _BODY_FIELDS)
    points = _contact_points(session, fields.get("contact_points"))
    codes = _district_codes(fields.get("districts"), districts)
    if not codes:
        raise InvalidInput("required: at least one district", field="districts")
    subscriber = new_subscriber(session, language=_language(fields.get("language"))
                                or DEFAULT_LANGUAGE, is_test=bool(_flag(fields.get("is_test"))))
    update_subscriber(session, subscriber, contact_points=points, district_codes=codes)
    audit.record(session, actor, "add_subscriber", detail={
        "subscriber_id": subscriber.id, "contact_kinds": sorted({kind.value for kind, _ in points}),
        "districts": codes})
    return subscriber


def change_subscriber_as_staff(session: Session, actor: Actor, kind: str, value: str,
                               fields: Mapping[str, Any], *, districts: DistrictNames
                               ) -> Subscriber:
    """The body's districts (replacing those followed), language and test flag.

    Somebody who unsubscribed is not subscribed again: that is theirs to do.
    """
    require_role(actor, Role.ADMIN, "changing a subscriber")
    _check_fields(fields, _BODY_FIELDS[1:])
    subscriber = _subscriber(session, kind, value)
    codes = (None if "districts" not in fields
             else _district_codes(fields["districts"], districts))
    if codes and not subscriber.active and subscriber.unsubscribed_at is not None:
        raise Conflict(f"unsubscribed on {subscriber.unsubscribed_at:%Y-%m-%d}; only the"
                       " subscriber can subscribe again", field="districts")
    update_subscriber(session, subscriber, language=_language(fields.get("language")),
                      is_test=_flag(fields.get("is_test")))
    if codes is not None:
        set_districts(session, subscriber, codes)
    audit.record(session, actor, "change_subscriber", detail={
        "subscriber_id": subscriber.id, "fields": sorted(fields)})
    return subscriber


def add_contact_point_as_staff(session: Session, actor: Actor, kind: str, value: str,
                               fields: Mapping[str, Any]) -> Subscriber:
    """Reach the subscriber at ``kind``/``value`` also at the body's ``{kind, value}``."""
    require_role(actor, Role.ADMIN, "changing a subscriber")
    _check_fields(fields, ("kind", "value"))
    subscriber = _subscriber(session, kind, value)
    point = _unclaimed_contact_point(session, fields, subscriber, "value")
    update_subscriber(session, subscriber, contact_points=[point])
    audit.record(session, actor, "add_contact_point", detail={
        "subscriber_id": subscriber.id, "kind": point[0].value})
    return subscriber


def remove_contact_point_as_staff(session: Session, actor: Actor, kind: str,
                                  value: str) -> Subscriber:
    """Stop reaching the subscriber at ``kind``/``value``; the last one removed unsubscribes."""
    require_role(actor, Role.ADMIN, "changing a subscriber")
    subscriber = _subscriber(session, kind, value)
    contact_kind, address = contact_point(kind, value)
    remove_contact_point(session, subscriber, contact_kind, address)
    audit.record(session, actor, "remove_contact_point", detail={
        "subscriber_id": subscriber.id, "kind": contact_kind.value})
    return subscriber
