"""Subscribers and the targets they become: the one place a subscription changes.

Fan-out reaches target rows, never subscribers, so every change here
rewrites the subscriber's targets in the same session and transaction:
- one target per contact point: an ``sms`` target per number (its address
  the E.164 number) and a ``wechat`` target per openid, each with the
  subscriber's language and a ``target_districts`` row per district
  followed (its own ``district_code`` stays empty: that one is for devices);
- unsubscribing marks those targets inactive, so no fan-out planned later
  reaches them; so does removing a contact point, for its own target.

A provider that says an address will never take a message again (WeChat's
43004: the user unfollowed the account) has it retired
(``retire_targets``): the contact point is removed from its subscriber, who
is unsubscribed when it was the last one.

A number follows up to ``MAX_DISTRICTS`` districts (``110000``: the whole
city) and is still one target, so an alert naming two of them reaches it
once. Following a district adds it to those followed; leaving the last one
is unsubscribing.

Functions here change rows and flush; committing is the caller's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services.actors import Actor, require_role
from publisher.services.errors import InvalidInput, NotFound
from publisher.services.languages import DEFAULT_LANGUAGE, LANGUAGES
from publisher.services.msisdn import normalise_msisdn
from publisher.store.models import (
    ContactKind,
    ContactPoint,
    Role,
    Subscriber,
    SubscriberDistrict,
    Target,
    TargetDistrict,
    utcnow,
)

__all__ = [
    "CHANNEL_OF_CONTACT",
    "MAX_DISTRICTS",
    "SMS_CHANNEL",
    "WECHAT_CHANNEL",
    "TooManyDistricts",
    "add_contact_point",
    "find_subscriber",
    "follow_districts",
    "followed_codes",
    "leave_district",
    "new_subscriber",
    "remove_contact_point",
    "retire_targets",
    "set_districts",
    "set_language",
    "set_test",
    "subscriber_for_staff",
    "unsubscribe",
    "update_subscriber",
]

log = logging.getLogger(__name__)

SMS_CHANNEL = "sms"
WECHAT_CHANNEL = "wechat"
CHANNEL_OF_CONTACT = {ContactKind.MSISDN: SMS_CHANNEL, ContactKind.WECHAT_OPENID: WECHAT_CHANNEL}
"""The channel that reaches each kind of contact point; a target per contact point."""
_CONTACT_OF_CHANNEL = {channel: kind for kind, channel in CHANNEL_OF_CONTACT.items()}
MAX_DISTRICTS = 5
"""Districts one subscriber follows at most: each is one more SMS in a storm."""


class TooManyDistricts(InvalidInput):
    """Following the districts asked for would pass ``MAX_DISTRICTS``; nothing was changed."""

    def __init__(self, followed: list[str], wanted: list[str]) -> None:
        self.followed = followed
        total = len(set(followed) | set(wanted))
        super().__init__(f"would follow {total} districts ({', '.join(sorted(wanted))} besides"
                         f" {', '.join(followed) or 'none'}); a subscriber follows at most"
                         f" {MAX_DISTRICTS}", field="district")


def find_subscriber(session: Session, kind: ContactKind, value: str) -> Subscriber | None:
    """The subscriber reached at this number or openid (``value`` already normalised)."""
    return session.scalar(select(Subscriber).join(ContactPoint).where(
        ContactPoint.kind == kind, ContactPoint.value == value))


def subscriber_for_staff(session: Session, actor: Actor, msisdn: str) -> Subscriber:
    """The subscriber at a mobile number written in any usual form, for an administrator."""
    require_role(actor, Role.ADMIN, "reading a subscriber")
    number = normalise_msisdn(msisdn)
    subscriber = find_subscriber(session, ContactKind.MSISDN, number)
    if subscriber is None:
        raise NotFound(f"no subscriber has the number {number}", field="msisdn")
    return subscriber


def followed_codes(subscriber: Subscriber) -> list[str]:
    """The codes of the districts ``subscriber`` follows, in code order."""
    return sorted(entry.district_code for entry in subscriber.districts)


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
    update_subscriber(session, subscriber, contact_points=[(kind, value)])


def follow_districts(session: Session, subscriber: Subscriber,
                     district_codes: Iterable[str]) -> list[str]:
    """Follow ``district_codes`` besides those followed already; the codes newly followed.

    Raises TooManyDistricts, changing nothing, when that would make more
    than ``MAX_DISTRICTS``.
    """
    return update_subscriber(session, subscriber, district_codes=district_codes)


def update_subscriber(session: Session, subscriber: Subscriber, *,
                      contact_points: Iterable[tuple[ContactKind, str]] = (),
                      district_codes: Iterable[str] = (), language: str | None = None,
                      is_test: bool | None = None) -> list[str]:
    """Several changes at once, the targets rewritten once; the district codes newly followed.

    Contact points and districts are added to those the subscriber has;
    following a district subscribes again somebody who had stopped. Raises
    TooManyDistricts or InvalidInput (``language``) before changing anything.
    """
    wanted = set(district_codes)
    followed = followed_codes(subscriber)
    added = sorted(wanted - set(followed))
    if len(followed) + len(added) > MAX_DISTRICTS:
        raise TooManyDistricts(followed, added)
    if language is not None:
        _check_language(language)
        subscriber.language = language
    if is_test is not None:
        subscriber.is_test = is_test
    known = {(point.kind, point.value) for point in subscriber.contact_points}
    subscriber.contact_points.extend(ContactPoint(kind=kind, value=value)
                                     for kind, value in dict.fromkeys(contact_points)
                                     if (kind, value) not in known)
    subscriber.districts.extend(SubscriberDistrict(district_code=code) for code in added)
    if wanted and not subscriber.active:
        subscriber.active = True
        subscriber.subscribed_at = utcnow()
        subscriber.unsubscribed_at = None
    _project_targets(session, subscriber)
    if added:
        _log(subscriber, "followed districts", district_codes=added)
    return added


def leave_district(session: Session, subscriber: Subscriber, district_code: str) -> bool:
    """Stop following one district; False when it was not followed.

    Leaving the last district followed is unsubscribing (see ``unsubscribe``).
    """
    remaining = [entry for entry in subscriber.districts if entry.district_code != district_code]
    if len(remaining) == len(subscriber.districts):
        return False
    if not remaining:
        return unsubscribe(session, subscriber)
    subscriber.districts = remaining
    _project_targets(session, subscriber)
    _log(subscriber, "left district", district_code=district_code)
    return True


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


def set_districts(session: Session, subscriber: Subscriber,
                  district_codes: Iterable[str]) -> None:
    """Follow exactly ``district_codes``: those not named are left, new ones followed.

    None at all is unsubscribing; more than ``MAX_DISTRICTS`` raises
    TooManyDistricts, changing nothing.
    """
    wanted = sorted(set(district_codes))
    if len(wanted) > MAX_DISTRICTS:
        raise TooManyDistricts([], wanted)
    if not wanted:
        unsubscribe(session, subscriber)
        return
    subscriber.districts = [entry for entry in subscriber.districts
                            if entry.district_code in wanted]
    update_subscriber(session, subscriber, district_codes=wanted)


def remove_contact_point(session: Session, subscriber: Subscriber, kind: ContactKind,
                         value: str) -> bool:
    """Stop reaching ``subscriber`` at ``value``; False when it was not theirs.

    Its target is deactivated; removing the last contact point unsubscribes.
    """
    kept = [point for point in subscriber.contact_points
            if (point.kind, point.value) != (kind, value)]
    if len(kept) == len(subscriber.contact_points):
        return False
    subscriber.contact_points = kept
    target = session.scalar(select(Target).where(Target.channel == CHANNEL_OF_CONTACT[kind],
                                                 Target.address == value))
    if target is not None:
        target.active = False
        target.followed_districts = []
    _log(subscriber, "contact point removed", kind=kind.value)
    if not kept:
        unsubscribe(session, subscriber)
    else:
        _project_targets(session, subscriber)
    return True


def retire_targets(session: Session, target_ids: Iterable[int]) -> int:
    """Stop reaching targets whose provider said they never take a message again; how many.

    The contact point behind each is removed from its subscriber (who is
    unsubscribed when it was the last one); a target nobody subscribed
    (a device's) is deactivated.
    """
    retired = 0
    for target in session.scalars(select(Target).where(Target.id.in_(list(target_ids)),
                                                       Target.active.is_(True))):
        kind = _CONTACT_OF_CHANNEL.get(target.channel)
        owner = None if kind is None else find_subscriber(session, kind, target.address)
        if owner is None or kind is None or not remove_contact_point(
                session, owner, kind, target.address):
            target.active = False
        log.info("target retired: the provider will not take its messages again",
                 extra={"target_id": target.id, "channel": target.channel})
        retired += 1
    session.flush()
    return retired


def set_language(session: Session, subscriber: Subscriber, language: str) -> None:
    update_subscriber(session, subscriber, language=language)
    _log(subscriber, "language set", language=language)


def set_test(session: Session, subscriber: Subscriber, is_test: bool) -> None:
    """Mark a subscriber as a test recipient: Exercise and Test alerts reach only those."""
    update_subscriber(session, subscriber, is_test=is_test)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"{language!r} is not one of {', '.join(LANGUAGES)}",
                           field="language")


def _project_targets(session: Session, subscriber: Subscriber) -> None:
    """Make the targets of the subscriber's contact points say what the subscription says."""
    for kind, channel in CHANNEL_OF_CONTACT.items():
        addresses = [point.value for point in subscriber.contact_points if point.kind is kind]
        if addresses:
            _project_channel(session, subscriber, channel, addresses)
    session.flush()


def _project_channel(session: Session, subscriber: Subscriber, channel: str,
                     addresses: list[str]) -> None:
    codes = followed_codes(subscriber)
    receiving = subscriber.active and bool(codes)
    existing = {target.address: target for target in session.scalars(
        select(Target).where(Target.channel == channel, Target.address.in_(addresses)))}
    for address in addresses:
        target = existing.get(address)
        if target is None:
            if not receiving:
                continue
            target = Target(channel=channel, address=address, followed_districts=[])
            session.add(target)
        kept = {entry.district_code: entry for entry in target.followed_districts}
        target.followed_districts = [kept.get(code) or TargetDistrict(district_code=code)
                                     for code in codes]
        target.district_code = None
        target.language = subscriber.language
        target.is_test = subscriber.is_test
        target.active = receiving


def _log(subscriber: Subscriber, event: str, **detail: object) -> None:
    # By id only: a number or an openid is personal data and stays out of logs.
    log.info(event, extra={"subscriber_id": subscriber.id, **detail})
