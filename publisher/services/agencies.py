"""The agency registry: who submits signed CAP through the intake, and what each may publish.

An agency has a code, a name, the CAP ``sender`` its messages carry, a
contact, the certificates (PEM) its signatures must come from, the people
who belong to it (existing users), a webhook for its notifications, and its
permission matrix (``publisher.services.sender_permissions``) with whether
its alerts are published directly or wait for the center's approval.

Registering issues the agency's credential (its bearer token on the intake,
stored as SHA-256) and its webhook secret: both shown this once. Each agency
authors its alerts under an account of its own, ``agency:<code>``, that no
password opens. Every change is audited.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.cap.certificates import load_pem_certificates
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from publisher.services.sender_permissions import SenderPermissions, permissions_from
from publisher.services.users import token_digest
from publisher.store.models import Agency, AgencyMember, Role, User

__all__ = [
    "AGENCY_CREDENTIAL_PREFIX",
    "RegisteredAgency",
    "agency_certificates",
    "agency_for_credential",
    "agency_json",
    "agency_permissions",
    "change_agency",
    "find_agency",
    "list_agencies",
    "register_agency",
    "remove_agency",
]

AGENCY_CREDENTIAL_PREFIX = "agency_"
_SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret
_SECRET_BYTES = 32
_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CHANGEABLE = frozenset({"name", "sender", "contact", "certificates", "permissions",
                         "direct_publish", "webhook_url", "members"})


class RegisteredAgency:
    def __init__(self, agency: Agency, credential: str, webhook_secret: str) -> None:
        self.agency = agency
        self.credential = credential
        """The agency's bearer token: shown this once, stored only as its SHA-256."""
        self.webhook_secret = webhook_secret
        """What its notifications are signed with: shown this once."""

    def __repr__(self) -> str:
        return f"RegisteredAgency(code={self.agency.code!r})"


def _text(fields: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = fields.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise InvalidInput(f"required: text of at most {limit} characters, not {value!r}",
                           field=name)
    return value.strip()


def _certificates(fields: Mapping[str, Any]) -> list[str]:
    value = fields.get("certificates")
    if not isinstance(value, list) or not value or not all(isinstance(pem, str) for pem in value):
        raise InvalidInput("required: a list of PEM certificates", field="certificates")
    for index, pem in enumerate(value):
        try:
            load_pem_certificates(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as error:
            raise InvalidInput(f"not a PEM certificate: {error}",
                               field=f"certificates[{index}]") from None
    return list(value)


def _permissions(fields: Mapping[str, Any]) -> dict[str, Any]:
    value = fields.get("permissions")
    if not isinstance(value, Mapping):
        raise InvalidInput("required: {event_codes, districts, polygon, statuses, channels}",
                           field="permissions")
    try:
        return permissions_from(value, "permissions.").as_json()
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        raise InvalidInput(reason, field=field) from None


def _webhook_url(fields: Mapping[str, Any]) -> str | None:
    url = fields.get("webhook_url")
    if url is None:
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 500:
        raise InvalidInput(f"an http(s) URL of at most 500 characters, not {url!r}",
                           field="webhook_url")
    return url


def _direct(fields: Mapping[str, Any]) -> bool:
    value = fields.get("direct_publish", False)
    if not isinstance(value, bool):
        raise InvalidInput(f"true or false, not {value!r}", field="direct_publish")
    return value


def _members(session: Session, fields: Mapping[str, Any]) -> list[AgencyMember]:
    names = fields.get("members", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput("a list of usernames", field="members")
    members = []
    for index, name in enumerate(names):
        user = session.scalars(select(User).where(User.username == name)).one_or_none()
        if user is None:
            raise NotFound(f"no user {name!r}", field=f"members[{index}]")
        members.append(AgencyMember(user_id=user.id))
    return members


def _reading(session: Session, fields: Mapping[str, Any], name: str) -> Any:
    readers: dict[str, Any] = {
        "name": lambda: _text(fields, "name", 200),
        "sender": lambda: _text(fields, "sender", 255),
        "contact": lambda: _text(fields, "contact", 500, required=False),
        "certificates": lambda: _certificates(fields),
        "permissions": lambda: _permissions(fields),
        "direct_publish": lambda: _direct(fields),
        "webhook_url": lambda: _webhook_url(fields),
        "members": lambda: _members(session, fields),
    }
    return readers[name]()


def find_agency(session: Session, code: str) -> Agency | None:
    return session.scalars(select(Agency).where(Agency.code == code)).one_or_none()


def _existing(session: Session, code: str) -> Agency:
    agency = find_agency(session, code)
    if agency is None:
        raise NotFound(f"no agency {code!r}", field="code")
    return agency


def _machine_user(session: Session, code: str, name: str) -> User:
    username = f"agency:{code}"[:64]
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        # No password can match "!": the account exists only to author the agency's alerts.
        user = User(username=username, display_name=name[:200], password_hash="!",  # noqa: S106
                    active=False, failed_logins=0)
        session.add(user)
        session.flush()
    return user


def _audit_detail(agency: Agency) -> dict[str, Any]:
    return {"agency": agency.code, "name": agency.name, "sender": agency.sender,
            "permissions": agency.permissions, "direct_publish": agency.direct_publish,
            "webhook_url": agency.webhook_url, "certificates": len(agency.certificates),
            "members": sorted(member.user.username for member in agency.members)}


def register_agency(session: Session, actor: Actor, fields: Mapping[str, Any]) -> RegisteredAgency:
    """Register an agency with a fresh credential and webhook secret, audited."""
    require_role(actor, Role.ADMIN, "registering an agency")
    code = fields.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise InvalidInput(f"{code!r} is not an agency code (lower-case letters, digits and"
                           " hyphens, at most 63)", field="code")
    if find_agency(session, code) is not None:
        raise Conflict(f"an agency {code} exists already", field="code")
    values = {name: _reading(session, fields, name) for name in sorted(_CHANGEABLE)}
    credential = AGENCY_CREDENTIAL_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    secret = _SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    agency = Agency(code=code, credential_sha256=token_digest(credential), webhook_secret=secret,
                    user_id=_machine_user(session, code, values["name"]).id, **values)
    session.add(agency)
    session.flush()
    audit.record(session, actor, "register_agency", detail=_audit_detail(agency))
    return RegisteredAgency(agency, credential, secret)


def change_agency(session: Session, actor: Actor, code: str,
                  fields: Mapping[str, Any]) -> Agency:
    """Change the named fields of an agency, audited with what it was and what it is."""
    require_role(actor, Role.ADMIN, "changing an agency")
    agency = _existing(session, code)
    unknown = sorted(set(fields) - _CHANGEABLE)
    if unknown:
        known = ", ".join(sorted(_CHANGEABLE))
        raise InvalidInput(f"not a field an administrator changes ({known})", field=unknown[0])
    before = _audit_detail(agency)
    values = {name: _reading(session, fields, name) for name in fields}
    if "members" in values:
        agency.members.clear()
        session.flush()
    for name, value in values.items():
        setattr(agency, name, value)
    session.flush()
    audit.record(session, actor, "change_agency",
                 detail={"agency": code, "before": before, "after": _audit_detail(agency)})
    return agency


def remove_agency(session: Session, actor: Actor, code: str) -> None:
    """Remove an agency: its credential opens nothing more. Its alerts stay, with the account
    that authored them, and so do its submissions with their original signed messages."""
    require_role(actor, Role.ADMIN, "removing an agency")
    agency = _existing(session, code)
    session.delete(agency)
    session.flush()
    audit.record(session, actor, "remove_agency", detail={"agency": code})


def list_agencies(session: Session, actor: Actor) -> Sequence[Agency]:
    require_role(actor, Role.ADMIN, "listing the agencies")
    return session.scalars(select(Agency).order_by(Agency.code)).all()


def agency_for_credential(session: Session, credential: str) -> Agency:
    """The agency whose credential this is; Unauthenticated otherwise."""
    refusal = Unauthenticated("not the credential of a registered agency", field="Authorization")
    if not credential.startswith(AGENCY_CREDENTIAL_PREFIX):
        raise refusal
    digest = token_digest(credential)
    agency = session.scalars(select(Agency).where(Agency.credential_sha256 == digest)
                             ).one_or_none()
    # The lookup is by digest; the comparison of equal-length digests is in constant time.
    if agency is None or not hmac.compare_digest(agency.credential_sha256, digest):
        raise refusal
    return agency


def agency_permissions(agency: Agency) -> SenderPermissions:
    return permissions_from(agency.permissions)


def agency_certificates(agency: Agency) -> list[x509.Certificate]:
    return [certificate for pem in agency.certificates
            for certificate in load_pem_certificates(pem.encode("ascii"))]


def agency_json(agency: Agency) -> dict[str, Any]:
    return {"code": agency.code, "name": agency.name, "sender": agency.sender,
            "contact": agency.contact, "certificates": len(agency.certificates),
            "members": sorted(member.user.username for member in agency.members),
            "permissions": agency.permissions, "direct_publish": agency.direct_publish,
            "webhook_url": agency.webhook_url, "created_at": agency.created_at.isoformat()}
