"""The registry of district sub-center nodes, their credentials and their health.

A node is a ``DistrictNode`` row beside its ``Target`` row (channel
``district``, address = the node's URL, its district code, and that code in
``target_districts``), written in one transaction, so fan-out reaches a node
by GB/T 2260 code exactly while it is registered. Every node also has a
service user (``node-<code>``, inactive, no roles, no password): the author
of its local alerts when the center republishes them.

A node calls the center with a bearer credential, generated at
registration, shown once and stored as its SHA-256. A credential that
belongs to another node is refused with 403, an unknown one with 401.
A node is offline once it has been silent longer than its heartbeat
interval and ``OFFLINE_GRACE_SECONDS`` (never heard from: counted from its
registration): the grace covers a beat's wait for the beat task's next
tick and for the node's answer, so a node answering every beat never
flickers offline.

Functions here change rows and flush; committing is the caller's.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import District
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.district_names import DistrictNames
from publisher.services.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from publisher.services.users import token_digest
from publisher.store.models import DistrictNode, Role, Target, TargetDistrict, User, utcnow

__all__ = [
    "DISTRICT_CHANNEL",
    "NODE_FIELDS",
    "NODE_TOKEN_PREFIX",
    "OFFLINE_GRACE_SECONDS",
    "AddedNode",
    "NodeView",
    "add_node",
    "add_node_as_staff",
    "authenticate_node",
    "find_node",
    "is_offline",
    "list_nodes",
    "node_view",
    "remove_node",
    "remove_node_as_staff",
    "require_staff",
    "touch_node",
]

DISTRICT_CHANNEL = "district"
NODE_TOKEN_PREFIX = "node_"  # noqa: S105 - a marker, not a secret
_TOKEN_BYTES = 32
DEFAULT_HEARTBEAT_SECONDS = 60
HEARTBEAT_RANGE = (5, 86_400)
OFFLINE_GRACE_SECONDS = 15
_ADDRESS_LENGTH = 255
_NAME_LENGTH = 200
NODE_FIELDS = ("code", "url", "certificate_pem", "heartbeat_interval", "name")
"""What a node is registered with (the API body, the CLI's options)."""


def require_staff(actor: Actor, action: str) -> None:
    """Any staff role: reading the nodes' state is for viewers and every role above them."""
    if not actor.roles:
        raise Forbidden(f"{action} needs the {Role.VIEWER} role or above, which {actor.name}"
                        " does not have", field="role")


# --- checking the fields ---


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("required: a non-empty string", field=name)
    return value.strip()


def _district(fields: Mapping[str, Any], districts: DistrictNames) -> District:
    text = _text(fields, "code")
    district = districts.find(text)
    if district is None or district.level != "district":
        close = ", ".join(f"{each.code} ({each.name_en})" for each in districts.close_to(text)
                          if each.level == "district")
        raise InvalidInput(f"{text!r} is not a district of the city" + (
            f"; did you mean {close}?" if close else ""), field="code")
    return district


def _url(fields: Mapping[str, Any]) -> str:
    url = _text(fields, "url").rstrip("/")
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "must be an http:// or https:// URL with a host"
    elif parts.username or parts.password or parts.query or parts.fragment:
        problem = "must carry no credentials, query or fragment: the center adds /api/cap"
    elif len(url) > _ADDRESS_LENGTH:
        problem = f"at most {_ADDRESS_LENGTH} characters"
    if problem:
        raise InvalidInput(f"{url!r}: {problem}", field="url")
    return url


def _certificate(fields: Mapping[str, Any]) -> str:
    pem = _text(fields, "certificate_pem")
    try:
        load_pem_certificates(pem.encode())
    except ValueError as error:
        raise InvalidInput(f"not a PEM certificate ({error})", field="certificate_pem") from None
    return pem + "\n"


def _interval(fields: Mapping[str, Any]) -> int:
    value = fields.get("heartbeat_interval", DEFAULT_HEARTBEAT_SECONDS)
    low, high = HEARTBEAT_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"must be a whole number of seconds from {low} to {high},"
                           f" not {value!r}", field="heartbeat_interval")
    return value


def _name(fields: Mapping[str, Any], district: District) -> str:
    name = fields.get("name", district.name_zh)
    if not isinstance(name, str) or len(name) > _NAME_LENGTH:
        raise InvalidInput(f"must be a string of at most {_NAME_LENGTH} characters",
                           field="name")
    return name.strip()


# --- the registry ---


def find_node(session: Session, code: str) -> DistrictNode | None:
    return session.scalars(select(DistrictNode).options(joinedload(DistrictNode.target))
                           .where(DistrictNode.code == code)).one_or_none()


@dataclass(frozen=True, slots=True)
class AddedNode:
    node: DistrictNode
    credential: str
    """The node's bearer credential: shown this once, stored only as its SHA-256."""

    def __repr__(self) -> str:
        return f"AddedNode(code={self.node.code!r})"


def _target(session: Session, url: str, code: str) -> Target:
    """The node's target: new, or the inactive one an earlier node at that URL left."""
    target = session.scalars(select(Target).where(Target.channel == DISTRICT_CHANNEL,
                                                  Target.address == url)).one_or_none()
    if target is None:
        target = Target(channel=DISTRICT_CHANNEL, address=url)
        session.add(target)
    elif target.active:
        raise Conflict(f"a node is reached at {url} already", field="url")
    target.district_code = code
    target.active = True
    target.followed_districts = [TargetDistrict(district_code=code)]
    return target


def _service_user(session: Session, code: str) -> User:
    username = f"node-{code}"
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        # No password can match "!": the account exists only to author local alerts.
        user = User(username=username, display_name=f"district node {code}",
                    password_hash="!", active=False, failed_logins=0)  # noqa: S106
        session.add(user)
        session.flush()
    return user


def add_node(session: Session, fields: Mapping[str, Any], districts: DistrictNames) -> AddedNode:
    """Register the node ``fields`` describe, with a fresh credential; Conflict when taken."""
    unknown = sorted(set(fields) - set(NODE_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field (known: {', '.join(NODE_FIELDS)})", field=unknown[0])
    district = _district(fields, districts)
    url, certificate = _url(fields), _certificate(fields)
    interval, name = _interval(fields), _name(fields, district)
    if find_node(session, district.code) is not None:
        raise Conflict(f"district {district.code} has a node already", field="code")
    credential = NODE_TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    node = DistrictNode(code=district.code, name=name, certificate_pem=certificate,
                        heartbeat_interval=interval, credential_sha256=token_digest(credential),
                        target=_target(session, url, district.code),
                        user_id=_service_user(session, district.code).id, created_at=utcnow())
    session.add(node)
    session.flush()
    return AddedNode(node, credential)


def add_node_as_staff(session: Session, actor: Actor, fields: Mapping[str, Any],
                      districts: DistrictNames) -> AddedNode:
    """``add_node`` for an administrator, audited."""
    require_role(actor, Role.ADMIN, "registering a district node")
    added = add_node(session, fields, districts)
    audit.record(session, actor, "add_district_node", detail={
        "code": added.node.code, "url": added.node.target.address})
    return added


def remove_node(session: Session, code: str) -> None:
    """Unregister a node: its target goes inactive and stays, with the deliveries made to it."""
    node = find_node(session, code)
    if node is None:
        raise NotFound(f"no node for district {code!r}", field="code")
    node.target.active = False
    session.delete(node)
    session.flush()


def remove_node_as_staff(session: Session, actor: Actor, code: str) -> None:
    require_role(actor, Role.ADMIN, "removing a district node")
    remove_node(session, code)
    audit.record(session, actor, "remove_district_node", detail={"code": code})


# --- health ---


@dataclass(frozen=True, slots=True)
class NodeView:
    node: DistrictNode
    offline: bool


def is_offline(node: DistrictNode, now: datetime) -> bool:
    silent_since = node.last_heard_at or node.created_at
    return now - silent_since > timedelta(
        seconds=node.heartbeat_interval + OFFLINE_GRACE_SECONDS)


def node_view(node: DistrictNode, now: datetime | None = None) -> NodeView:
    return NodeView(node, is_offline(node, now or utcnow()))


def list_nodes(session: Session, now: datetime | None = None) -> list[NodeView]:
    moment = now or utcnow()
    nodes = session.scalars(select(DistrictNode).options(joinedload(DistrictNode.target))
                            .order_by(DistrictNode.code))
    return [node_view(node, moment) for node in nodes]


def touch_node(node: DistrictNode, now: datetime | None = None) -> None:
    node.last_heard_at = now or utcnow()


# --- what nodes send ---


def authenticate_node(session: Session, code: str, credential: str) -> DistrictNode:
    """The node of district ``code`` if ``credential`` is its own; noted as heard from.

    Unauthenticated for a credential of no node; Forbidden for another node's.
    """
    # Looked up by digest, as staff tokens are: the digest reveals nothing of the token.
    holder = session.scalars(select(DistrictNode).options(joinedload(DistrictNode.target))
                             .where(DistrictNode.credential_sha256 == token_digest(credential))
                             ).one_or_none()
    if holder is None:
        raise Unauthenticated("not the credential of a district node", field="Authorization")
    if holder.code != code:
        raise Forbidden(f"the credential of node {holder.code} does not open district {code}",
                        field="code")
    touch_node(holder)
    return holder
