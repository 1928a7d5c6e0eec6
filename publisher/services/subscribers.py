"""Subscribers and the targets they become: the one place a subscription changes.

Fan-out reaches target rows, never subscribers, so every change here
rewrites the subscriber's SMS targets in the same session and transaction:
- one ``sms`` target per number, its address the E.164 number, its language
  the subscriber's, its district the district followed;
- unsubscribing marks those targets inactive, so no fan-out planned later
  reaches them.

A number follows one district at a time (``110000``: alerts for the whole
city): targets are unique per (channel, address) and a delivery is per
target, so a second district would need a second row for the same number,
and an alert naming both districts would then reach that number twice.
Subscribing again moves the subscription to the new district.

Functions here change rows and flush; committing is the caller's.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services.errors import InvalidInput
from publisher.services.languages import DEFAULT_LANGUAGE, LANGUAGES
from publisher.store.models import (
    ContactKind,
    ContactPoint,
    Subscriber,
    SubscriberDistrict,
    Target,
    utcnow,
)

__all__ = [
    "SMS_CHANNEL",
    "add_contact_point",
    "find_subscriber",
    "follow_district",
    "new_subscriber",
    "set_language",
    "set_test",
    "unsubscribe",
]

log = logging.getLogger(__name__)

SMS_CHANNEL = "sms"


def find_subscriber(session: Session, kind: ContactKind, value: str) -> Subscriber | None:
    """The subscriber reached at this number or openid (``value`` already normalised)."""
    return session.scalar(select(Subscriber).join(ContactPoint).where(
        ContactPoint.kind == kind, ContactPoint.value == value))


def new_subscriber(session: Session, *, language: str = DEFAULT_LANGUAGE,
                   is_test: bool = False) -> Subscriber:
    """A subscriber who follows nothing yet (inactive until a district is followed)."""
    _check_language(language)
    subscriber = Subscriber(language=language, active=False, is_test=is_test,
                            contact_points=[], districts=[])
    session.add(subscriber)
    return subscriber


def add_contact_point(session: Session, subscriber: Subscriber, kind: ContactKind,
                      value: str) -> None:
    """Reach ``subscriber`` at ``value`` too; a no-op when it already does."""
    if any(point.kind is kind and point.value == value for point in subscriber.contact_points):
        return
    subscriber.contact_points.append(ContactPoint(kind=kind, value=value))
    _project_targets(session, subscriber)


def follow_district(session: Session, subscriber: Subscriber, district_code: str) -> str | None:
    """Subscribe to ``district_code`` (instead of any other); returns the district left, if any."""
    left = [entry.district_code for entry in subscriber.districts
            if entry.district_code != district_code]
    if left or not subscriber.districts:
        subscriber.districts = [SubscriberDistrict(district_code=district_code)]
    if not subscriber.active:
        subscriber.active = True
        subscriber.subscribed_at = utcnow()
        subscriber.unsubscribed_at = None
    _project_targets(session, subscriber)
    _log(subscriber, "followed district", district_code=district_code)
    return left[0] if left else None


def unsubscribe(session: Session, subscriber: Subscriber) -> bool:
    """Stop everything for this subscriber; False when nothing was subscribed."""
    was_active = subscriber.active
    subscriber.districts = []
    if was_active:
        subscriber.active = False
        subscriber.unsubscribed_at = utcnow()
    _project_targets(session, subscriber)
    _log(subscriber, "unsubscribed")
    return was_active


def set_language(session: Session, subscriber: Subscriber, language: str) -> None:
    _check_language(language)
    subscriber.language = language
    _project_targets(session, subscriber)
    _log(subscriber, "language set", language=language)


def set_test(session: Session, subscriber: Subscriber, is_test: bool) -> None:
    """Mark a subscriber as a test recipient: Exercise and Test alerts reach only those."""
    subscriber.is_test = is_test
    _project_targets(session, subscriber)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"{language!r} is not one of {', '.join(LANGUAGES)}",
                           field="language")


def _project_targets(session: Session, subscriber: Subscriber) -> None:
    """Make the subscriber's SMS targets say what the subscription says."""
    codes = [entry.district_code for entry in subscriber.districts]
    receiving = subscriber.active and bool(codes)
    numbers = [point.value for point in subscriber.contact_points
               if point.kind is ContactKind.MSISDN]
    existing = {target.address: target for target in session.scalars(
        select(Target).where(Target.channel == SMS_CHANNEL, Target.address.in_(numbers)))}
    for number in numbers:
        target = existing.get(number)
        if target is None:
            if not receiving:
                continue
            target = Target(channel=SMS_CHANNEL, address=number)
            session.add(target)
        if codes:
            target.district_code = codes[0]
        target.language = subscriber.language
        target.is_test = subscriber.is_test
        target.active = receiving
    session.flush()


def _log(subscriber: Subscriber, event: str, **detail: str) -> None:
    # By id only: a number or an openid is personal data and stays out of logs.
    log.info(event, extra={"subscriber_id": subscriber.id, **detail})
