"""The app registry: app backends that get alerts pushed, over the stream or a webhook.

An app is a target of the ``app`` channel (address ``app:<name>``) that
follows the districts of its filter, or the whole city (110000) when it
names none, so fan-out reaches it as it reaches a subscriber's number. It is
a test target when its statuses name anything besides Actual: only then do
Exercises and Tests reach it. Its other filters (languages, severities,
statuses) are applied when a message is handed to it
(``publisher.services.app_events``).

Registering issues the app's credential (its bearer token on the stream,
stored as SHA-256) and, for a webhook app, the secret its pushes are signed
with: both are shown this once. Every change is audited.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.cap.model import Severity, Status
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from publisher.services.languages import DEFAULT_LANGUAGE, language_named
from publisher.services.users import token_digest
from publisher.store.models import App, AppDeliveryMode, Role, Target, TargetDistrict

__all__ = [
    "APP_CHANNEL",
    "CREDENTIAL_PREFIX",
    "WHOLE_CITY",
    "AppFilters",
    "AppSpec",
    "RegisteredApp",
    "app_for_credential",
    "app_json",
    "app_spec",
    "find_app",
    "list_apps",
    "list_apps_as_staff",
    "register_app",
    "register_app_as_staff",
    "register_app_audited",
    "remove_app",
    "remove_app_as_staff",
    "remove_app_audited",
]

APP_CHANNEL = "app"
CREDENTIAL_PREFIX = "app_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a marker, not a secret
WHOLE_CITY = "110000"
_SECRET_BYTES = 32
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CODE = re.compile(r"\d{6}")


@dataclass(frozen=True, slots=True)
class AppFilters:
    """What an app wants: empty means everything of that kind."""

    districts: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = (Status.ACTUAL.value,)

    @classmethod
    def read(cls, fields: Mapping[str, Any], *, where: str = "") -> AppFilters:
        """The filters of ``fields``; InvalidInput names the field and the value at fault."""
        return cls(
            districts=tuple(_listed(fields, "districts", where, _district)),
            languages=tuple(_listed(fields, "languages", where, _language)),
            severities=tuple(_listed(fields, "severities", where,
                                     lambda value, name: _member(value, name, Severity))),
            statuses=tuple(_listed(fields, "statuses", where,
                                   lambda value, name: _member(value, name, Status))
                           or (Status.ACTUAL.value,)),
        )

    @classmethod
    def of(cls, app: App) -> AppFilters:
        return cls(tuple(app.districts), tuple(app.languages), tuple(app.severities),
                   tuple(app.statuses))

    @property
    def wants_tests(self) -> bool:
        """Exercises and Tests reach only test targets; an app that names them is one."""
        return any(status != Status.ACTUAL.value for status in self.statuses)

    def as_json(self) -> dict[str, list[str]]:
        return {"districts": list(self.districts), "languages": list(self.languages),
                "severities": list(self.severities), "statuses": list(self.statuses)}


def _listed(fields: Mapping[str, Any], name: str, where: str,
            read: Any) -> list[str]:
    value = fields.get(name) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InvalidInput(f"must be a list, not {value!r}", field=f"{where}{name}")
    return list(dict.fromkeys(read(item, f"{where}{name}[{index}]")
                              for index, item in enumerate(value)))


def _district(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value.strip()):
        raise InvalidInput(f"{value!r} is not a six-digit GB/T 2260 code", field=field)
    return value.strip()


def _language(value: Any, field: str) -> str:
    named = language_named(value) if isinstance(value, str) else None
    if named is None:
        raise InvalidInput(f"{value!r} is not a language of the platform (zh-CN, en-US)",
                           field=field)
    return named


def _member(value: Any, field: str, kind: type[Severity] | type[Status]) -> str:
    by_name = {member.value.casefold(): member.value for member in kind}
    found = by_name.get(value.strip().casefold()) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(f"{value!r} is not one of {', '.join(by_name.values())}",
                           field=field)
    return found


@dataclass(frozen=True, slots=True)
class AppSpec:
    name: str
    mode: AppDeliveryMode
    webhook_url: str | None
    filters: AppFilters


def app_spec(fields: Mapping[str, Any]) -> AppSpec:
    """An app's registration from ``fields``; InvalidInput names the field at fault."""
    name = fields.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"{name!r} is not an app name (lower-case letters, digits and"
                           " hyphens, at most 63)", field="name")
    raw_mode = fields.get("mode", AppDeliveryMode.STREAM.value)
    try:
        mode = AppDeliveryMode(raw_mode)
    except ValueError:
        raise InvalidInput(f"{raw_mode!r} is not stream or webhook", field="mode") from None
    url = fields.get("webhook_url")
    if mode is AppDeliveryMode.WEBHOOK:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) \
                or len(url) > 500:
            raise InvalidInput(f"required for a webhook app: an http(s) URL of at most 500"
                               f" characters, not {url!r}", field="webhook_url")
    elif url is not None:
        raise InvalidInput("only a webhook app has a webhook URL", field="webhook_url")
    return AppSpec(name, mode, url, AppFilters.read(fields))


@dataclass(frozen=True, slots=True)
class RegisteredApp:
    app: App
    credential: str
    """The app's bearer token: shown this once, stored only as its SHA-256."""
    webhook_secret: str | None
    """What its webhook pushes are signed with: shown this once."""

    def __repr__(self) -> str:
        return f"RegisteredApp(name={self.app.name!r})"


def find_app(session: Session, name: str) -> App | None:
    return session.scalars(select(App).where(App.name == name)).one_or_none()


def register_app(session: Session, spec: AppSpec) -> RegisteredApp:
    """Register an app with a fresh credential; Conflict when its name is taken."""
    if find_app(session, spec.name) is not None:
        raise Conflict(f"an app {spec.name} exists already", field="name")
    address = f"{APP_CHANNEL}:{spec.name}"
    # A removed app leaves its target, with the deliveries made to it; a new
    # app of that name takes it over.
    target = session.scalars(select(Target).where(Target.channel == APP_CHANNEL,
                                                  Target.address == address)).one_or_none()
    if target is None:
        target = Target(channel=APP_CHANNEL, address=address)
        session.add(target)
    filters = spec.filters
    target.language = (filters.languages or (DEFAULT_LANGUAGE,))[0]
    target.is_test = filters.wants_tests
    target.active = True
    target.followed_districts = [TargetDistrict(district_code=code)
                                 for code in filters.districts or (WHOLE_CITY,)]
    session.flush()
    credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    secret = SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES) \
        if spec.mode is AppDeliveryMode.WEBHOOK else None
    app = App(name=spec.name, target_id=target.id, credential_sha256=token_digest(credential),
              mode=spec.mode, webhook_url=spec.webhook_url, webhook_secret=secret,
              **filters.as_json())
    session.add(app)
    session.flush()
    return RegisteredApp(app, credential, secret)


def register_app_as_staff(session: Session, actor: Actor,
                          fields: Mapping[str, Any]) -> RegisteredApp:
    """``register_app`` for an administrator, audited."""
    require_role(actor, Role.ADMIN, "registering an app")
    return register_app_audited(session, actor, app_spec(fields))


def register_app_audited(session: Session, actor: Actor, spec: AppSpec) -> RegisteredApp:
    """``register_app``, audited as done by ``actor`` (the command line, or an administrator)."""
    registered = register_app(session, spec)
    audit.record(session, actor, "register_app", detail={
        "app": spec.name, "mode": spec.mode.value, "webhook_url": spec.webhook_url,
        **spec.filters.as_json()})
    return registered


def remove_app(session: Session, name: str) -> None:
    """Unregister an app: its target goes inactive and stays, with the deliveries made to it."""
    app = find_app(session, name)
    if app is None:
        raise NotFound(f"no app {name!r}", field="name")
    app.target.active = False
    session.delete(app)
    session.flush()


def remove_app_as_staff(session: Session, actor: Actor, name: str) -> None:
    require_role(actor, Role.ADMIN, "removing an app")
    remove_app_audited(session, actor, name)


def remove_app_audited(session: Session, actor: Actor, name: str) -> None:
    remove_app(session, name)
    audit.record(session, actor, "remove_app", detail={"app": name})


def list_apps(session: Session) -> Sequence[App]:
    return session.scalars(select(App).order_by(App.name)).all()


def list_apps_as_staff(session: Session, actor: Actor) -> Sequence[App]:
    require_role(actor, Role.ADMIN, "listing the apps")
    return list_apps(session)


def app_for_credential(session: Session, credential: str) -> App:
    """The app whose credential this is; Unauthenticated otherwise."""
    refusal = Unauthenticated("not the credential of a registered app", field="Authorization")
    if not credential.startswith(CREDENTIAL_PREFIX):
        raise refusal
    digest = token_digest(credential)
    app = session.scalars(select(App).where(App.credential_sha256 == digest)).one_or_none()
    # The lookup is by digest; the comparison of equal-length digests is in constant time.
    if app is None or not hmac.compare_digest(app.credential_sha256, digest):
        raise refusal
    return app


def app_json(app: App) -> dict[str, Any]:
    return {"name": app.name, "mode": app.mode.value, "webhook_url": app.webhook_url,
            **AppFilters.of(app).as_json(), "created_at": app.created_at.isoformat()}
