"""``handle_mo``: a text from a phone applied to its subscription, and the reply to send.

Every command gets a confirmation (an unknown district or keyword gets a
reply that says what went wrong); sending it is the SMS channel's job. The
reply is in the subscriber's language; a number not known yet gets the
language of the keyword it used (``DY`` Chinese, ``SUB`` English). A reply
to a command about districts lists the districts followed afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from publisher.cap.districts import GB_T_2260, District
from publisher.services.district_names import DistrictNames
from publisher.services.languages import DEFAULT_LANGUAGE
from publisher.services.msisdn import normalise_msisdn
from publisher.services.sms_keywords import (
    Command,
    Leave,
    NoDistrict,
    SetLanguage,
    Subscribe,
    UnknownDistrict,
    Unrecognised,
    Unsubscribe,
    parse_command,
)
from publisher.services.subscribers import (
    TooManyDistricts,
    add_contact_point,
    find_subscriber,
    follow_districts,
    followed_codes,
    leave_district,
    new_subscriber,
    set_language,
    unsubscribe,
)
from publisher.services.subscription_replies import reply_text
from publisher.store.models import ContactKind, Subscriber

__all__ = ["Reply", "handle_mo"]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    language: str


def _subscriber(session: Session, msisdn: str, language: str) -> Subscriber:
    found = find_subscriber(session, ContactKind.MSISDN, msisdn)
    if found is not None:
        return found
    subscriber = new_subscriber(session, language=language)
    add_contact_point(session, subscriber, ContactKind.MSISDN, msisdn)
    return subscriber


def handle_mo(session: Session, msisdn: str, text: str, *, districts: DistrictNames) -> Reply:
    """Apply the keyword in ``text`` sent from ``msisdn``; the confirmation to send back.

    Changes are flushed in ``session``; committing is the caller's.
    Raises InvalidInput (field ``msisdn``) when the number is not a mobile number.
    """
    number = normalise_msisdn(msisdn)
    command = parse_command(text, districts)
    known = find_subscriber(session, ContactKind.MSISDN, number)
    language = (known.language if known is not None
                else command.keyword_language or DEFAULT_LANGUAGE)
    return _apply(session, number, command, language, districts)


def _apply(session: Session, number: str, command: Command, language: str,
           districts: DistrictNames) -> Reply:
    match command:
        case Subscribe(district=district):
            return _follow(session, number, district, language, districts)
        case Leave(district=district):
            return _leave(session, number, district, language, districts)
        case Unsubscribe():
            known = find_subscriber(session, ContactKind.MSISDN, number)
            stopped = known is not None and unsubscribe(session, known)
            return Reply(reply_text("unsubscribed" if stopped else "not_subscribed", language),
                         language)
        case SetLanguage(language=chosen):
            set_language(session, _subscriber(session, number, chosen), chosen)
            return Reply(reply_text("language", chosen), chosen)
        case UnknownDistrict(wanted=wanted, suggestions=suggestions, leaving=leaving):
            kind = "unknown_district_leave" if leaving else "unknown_district"
            return Reply(reply_text(kind, language, wanted=wanted, suggestions=suggestions),
                         language)
        case NoDistrict():
            return Reply(reply_text("no_district", language), language)
        case Unrecognised():
            return Reply(reply_text("help", language), language)


def _followed(subscriber: Subscriber, districts: DistrictNames) -> list[District]:
    found = (districts.table.resolve_geocode(GB_T_2260, code)
             for code in followed_codes(subscriber))
    return [district for district in found if district is not None]


def _follow(session: Session, number: str, district: District, language: str,
            districts: DistrictNames) -> Reply:
    subscriber = _subscriber(session, number, language)
    was_receiving = subscriber.active and bool(subscriber.districts)
    try:
        added = follow_districts(session, subscriber, [district.code])
    except TooManyDistricts:
        kind = "too_many"
    else:
        kind = "already" if not added else "added" if was_receiving else "subscribed"
    return Reply(reply_text(kind, language, district=district,
                            followed=_followed(subscriber, districts)), language)


def _leave(session: Session, number: str, district: District, language: str,
           districts: DistrictNames) -> Reply:
    subscriber = find_subscriber(session, ContactKind.MSISDN, number)
    if subscriber is None or not subscriber.districts:
        return Reply(reply_text("not_subscribed", language), language)
    if not leave_district(session, subscriber, district.code):
        kind = "not_following"
    else:
        kind = "left" if subscriber.districts else "unsubscribed"
    return Reply(reply_text(kind, language, district=district,
                            followed=_followed(subscriber, districts)), language)
