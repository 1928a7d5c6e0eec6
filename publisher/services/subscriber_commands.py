"""``handle_mo``: a text from a phone applied to its subscription, and the reply to send.

Every command gets a confirmation (an unknown district or keyword gets a
reply that says what went wrong); sending it is the SMS channel's job. The
reply is in the subscriber's language; a number not known yet gets the
language of the keyword it used (``DY`` Chinese, ``SUB`` English).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from publisher.cap.districts import GB_T_2260
from publisher.services.district_names import DistrictNames
from publisher.services.languages import DEFAULT_LANGUAGE
from publisher.services.msisdn import normalise_msisdn
from publisher.services.sms_keywords import (
    Command,
    NoDistrict,
    SetLanguage,
    Subscribe,
    UnknownDistrict,
    Unrecognised,
    Unsubscribe,
    parse_command,
)
from publisher.services.subscribers import (
    add_contact_point,
    find_subscriber,
    follow_district,
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
            subscriber = _subscriber(session, number, language)
            left = follow_district(session, subscriber, district.code)
            previous = None if left is None else districts.table.resolve_geocode(
                GB_T_2260, left)
            kind = "moved" if previous is not None else "subscribed"
            return Reply(reply_text(kind, language, district=district, previous=previous),
                         language)
        case Unsubscribe():
            known = find_subscriber(session, ContactKind.MSISDN, number)
            stopped = known is not None and unsubscribe(session, known)
            return Reply(reply_text("unsubscribed" if stopped else "not_subscribed", language),
                         language)
        case SetLanguage(language=chosen):
            set_language(session, _subscriber(session, number, chosen), chosen)
            return Reply(reply_text("language", chosen), chosen)
        case UnknownDistrict(wanted=wanted, suggestions=suggestions):
            return Reply(reply_text("unknown_district", language, wanted=wanted,
                                    suggestions=suggestions), language)
        case NoDistrict():
            return Reply(reply_text("no_district", language), language)
        case Unrecognised():
            return Reply(reply_text("help", language), language)
