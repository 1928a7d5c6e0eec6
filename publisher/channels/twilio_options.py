"""A route of the SMS channel over a Twilio-compatible REST API, as the options describe it.

A table of ``channel_options.sms.routes`` with ``kind = "twilio"`` (see
``sms_routes``): the account (``account_sid``, ``auth_token``), the sender
(``from`` or ``messaging_service_sid``), where the API is (``base_url``),
where the provider reaches us (``public_url``, the platform's address as
the provider sees it, behind any proxy: status callbacks go to
``{public_url}/webhooks/twilio/status?route=<name>``), and how hard to push
(``concurrency``, ``rate`` in messages per second, ``timeout``,
``attempts``, ``backoff``), and when the route counts as down
(``error_rate`` over the last ``health_window`` requests;
``health_interval`` between checks while it is down). The AuthToken is a
credential: it stays out of every repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from publisher.channels.sms_routes import OptionReader

__all__ = [
    "DEFAULT_BASE_URL",
    "INBOUND_PATH",
    "REST_KIND",
    "STATUS_PATH",
    "RestRouteSettings",
    "read_districts",
    "read_prefixes",
    "read_rest_route",
]

REST_KIND = "twilio"
DEFAULT_BASE_URL = "https://api.twilio.com"
STATUS_PATH = "/webhooks/twilio/status"
INBOUND_PATH = "/webhooks/twilio/inbound"


@dataclass(frozen=True, slots=True)
class RestRouteSettings:
    """One account of a Twilio-compatible API; times in seconds, the rate in messages per second."""

    name: str
    priority: int
    account_sid: str
    auth_token: str = field(repr=False)
    sender: str = ""
    messaging_service_sid: str = ""
    base_url: str = DEFAULT_BASE_URL
    public_url: str | None = None
    concurrency: int = 50
    rate: float = 100.0
    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 0.5
    error_rate: float = 0.5
    health_window: int = 20
    health_interval: float = 2.0
    prefixes: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    @property
    def account_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}.json"

    @property
    def status_callback(self) -> str | None:
        """The URL the provider posts this route's status callbacks to, signed over it."""
        if self.public_url is None:
            return None
        return f"{self.public_url}{STATUS_PATH}?route={quote(self.name)}"


def read_prefixes(reader: OptionReader) -> tuple[str, ...]:
    """The number prefixes a route is for (E.164, with "+"); empty: every number."""
    value = reader.value("prefixes", [])
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or not all(
            isinstance(prefix, str) and prefix.startswith("+") and prefix[1:].isdigit()
            for prefix in value):
        raise reader.error("prefixes", f"{value!r} is not a list of E.164 prefixes"
                                       " such as \"+86138\"")
    return tuple(value)


def read_districts(reader: OptionReader) -> tuple[str, ...]:
    """The districts (6-digit codes) whose subscribers a route is for; empty: every district."""
    value = reader.value("districts", [])
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or not all(
            isinstance(code, str) and len(code) == 6 and code.isdigit() for code in value):
        raise reader.error("districts", f"{value!r} is not a list of 6-digit district codes"
                                        " such as \"110105\"")
    return tuple(value)


def _url(reader: OptionReader, key: str, default: str | None) -> str | None:
    value = reader.value(key, default) if default is not None else reader.value(key, "") or None
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise reader.error(key, f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def _positive(reader: OptionReader, key: str, default: float) -> float:
    value = reader.number(key, default)
    if value <= 0:
        raise reader.error(key, f"{value:g} must be above 0")
    return value


def read_rest_route(reader: OptionReader, name: str, priority: int) -> RestRouteSettings:
    """The route of a ``kind = "twilio"`` table; raises naming the option at fault."""
    sender = str(reader.value("from", ""))
    service = str(reader.value("messaging_service_sid", ""))
    if not sender and not service:
        raise reader.error("from", "required, or messaging_service_sid")
    concurrency = reader.integer("concurrency", 50)
    if concurrency < 1:
        raise reader.error("concurrency", f"{concurrency} must be at least 1")
    attempts = reader.integer("attempts", 5)
    if attempts < 1:
        raise reader.error("attempts", f"{attempts} must be at least 1")
    window = reader.integer("health_window", 20)
    if window < 1:
        raise reader.error("health_window", f"{window} must be at least 1")
    error_rate = reader.number("error_rate", 0.5)
    if not 0 < error_rate <= 1:
        raise reader.error("error_rate", f"{error_rate:g} is outside (0, 1]")
    base_url = _url(reader, "base_url", DEFAULT_BASE_URL)
    assert base_url is not None
    return RestRouteSettings(
        name=name, priority=priority, account_sid=str(reader.value("account_sid")),
        auth_token=str(reader.value("auth_token")), sender=sender,
        messaging_service_sid=service, base_url=base_url,
        public_url=_url(reader, "public_url", None), concurrency=concurrency,
        rate=_positive(reader, "rate", 100.0), timeout=_positive(reader, "timeout", 10.0),
        attempts=attempts, backoff=_positive(reader, "backoff", 0.5), error_rate=error_rate,
        health_window=window, health_interval=_positive(reader, "health_interval", 2.0),
        prefixes=read_prefixes(reader), districts=read_districts(reader))
