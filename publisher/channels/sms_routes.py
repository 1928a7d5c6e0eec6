"""The SMS channel's routes: SMSC accounts with priorities, their binds, and which one sends now.

A route is one SMSC account (one carrier, or one data centre of a carrier)
with its own transceiver binds, window, rate, sender id and way of carrying
long texts. Routes have priorities, lower first. A send goes over the
highest-priority route that has a bound bind; while none of that route's
binds is bound (the SMSC is down, the binds reconnect) the next route takes
the traffic, and the first one gets it back as soon as one of its binds is
bound again. The binds of every route stay open all the time: receipts of
what went out over a route arrive there, days later if need be. A message
already handed to a bind stays with it when the bind drops, and goes out
when it is bound again: it may have reached the SMSC, so sending it over
another route could duplicate it. The channel hands a batch to the binds
only as fast as they send it, so that when they drop in the middle of it
the rest, which no bind holds, goes over the next route.

Provider ids are unique only within one SMSC, so the channel stores every
part's id with its route's name (``provider_id``); a receipt's route is the
route of the bind it arrived on (``route_of_bind``).

Options (``channel_options["sms"]``): either ``routes``, a list of tables
with a ``name`` and a ``priority`` each, or the keys of a single route at the
top level, which then is the route "primary". A route's keys are ``host``,
``port``, ``system_id``, ``password`` (required), ``binds`` (1), ``window``
(10), ``rate`` (parts per second per bind, 100), ``message_payload`` (false:
long texts go in concatenated parts; true: in one ``submit_sm`` with the
``message_payload`` TLV, segmented by the SMSC), ``source_addr`` (""), the
sender id's ``source_addr_ton`` and ``source_addr_npi`` (by default 5/0, an
alphanumeric sender id, when it has letters; else 0/1, a number),
``response_timeout`` (seconds, 10) and ``message_id_base`` ("auto", 10 or 16:
how the SMSC writes its ids, see ``sms_receipts``). Every key but the first
four may also stand at the top level, as the default of every route.

A table with ``kind = "twilio"`` is a route over a Twilio-compatible REST
API instead (``twilio_options``, ``sms_twilio``): it is up while its recent
requests succeed, and taken out while they fail, until a check of its
account succeeds. Any route may carry only numbers with some ``prefixes``
(E.164, "+86138"), and only subscribers of some ``districts`` (6-digit
codes: a subscriber of any of them, by the districts it follows); a route
with both carries what passes both. A batch is split by the routes that may
carry each target (``assign``), and each part goes over the first of them
that is up. A route passed over because it was down is named in the
``Choice``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from publisher.channels.base import PermanentChannelError, TargetRef, TransientChannelError
from publisher.channels.smpp_bind import Bind, BindError, BindEvents, BindSettings, BindState
from publisher.channels.sms_provider_ids import provider_id
from publisher.channels.sms_receipts import IdBase
from publisher.channels.sms_twilio import RestRoute
from publisher.channels.twilio_options import (
    REST_KIND,
    RestRouteSettings,
    read_districts,
    read_prefixes,
    read_rest_route,
)

__all__ = ["PRIMARY", "Choice", "OptionReader", "Route", "RouteSettings", "Routes",
           "provider_id", "read_routes"]

PRIMARY = "primary"
OPTIONS = "channel_options.sms"
_CONNECTION_KEYS = ("host", "port", "system_id", "password")
_ROUTE_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ID_BASES: dict[object, IdBase] = {"auto": "auto", 10: 10, 16: 16, "10": 10, "16": 16}
_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """One SMSC account as the options describe it; times in seconds, rates per bind."""

    name: str
    priority: int
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    binds: int = 1
    window: int = 10
    rate: float = 100.0
    message_payload: bool = False
    source_addr: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 1
    response_timeout: float = 10.0
    message_id_base: IdBase = "auto"
    prefixes: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()

    def bind_name(self, index: int) -> str:
        return f"{self.name}-{index}"

    def bind_settings(self, index: int) -> BindSettings:
        return BindSettings(host=self.host, port=self.port, system_id=self.system_id,
                            password=self.password, name=self.bind_name(index),
                            window=self.window, rate=self.rate,
                            response_timeout=self.response_timeout)


class OptionReader:
    """The options of one route, each looked up in the route's table, then at the top level."""

    def __init__(self, table: Mapping[str, Any], defaults: Mapping[str, Any], path: str) -> None:
        self._table = table
        self._defaults = defaults
        self.path = path

    def error(self, key: str, reason: str) -> PermanentChannelError:
        return PermanentChannelError(f"{self.path}.{key}: {reason}")

    def value(self, key: str, default: Any = None) -> Any:
        value = self._table.get(key, self._defaults.get(key, default))
        if value is None:
            raise self.error(key, "required")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        return int(self._converted(key, default, int, (int, str), "an integer"))

    def number(self, key: str, default: float) -> float:
        return float(self._converted(key, default, float, (int, float, str), "a number"))

    def _converted(self, key: str, default: Any, convert: Callable[[Any], Any],
                   accepted: tuple[type, ...], kind: str) -> Any:
        value = self.value(key, default)
        # A bool is an int to Python, never a count or a rate to an operator.
        if not isinstance(value, bool) and isinstance(value, accepted):
            try:
                return convert(value)
            except ValueError:
                pass
        raise self.error(key, f"{value!r} is not {kind}")

    def flag(self, key: str, default: bool) -> bool:
        value = self.value(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"{value!r} is not true or false")
        return value


def _route(reader: OptionReader, name: str, priority: int) -> RouteSettings:
    if not _ROUTE_NAME.fullmatch(name):
        raise reader.error("name", f"{name!r} is not 1..32 letters, digits, '-' or '_'")
    base = reader.value("message_id_base", "auto")
    if base not in _ID_BASES:
        raise reader.error("message_id_base", f"{base!r} is not one of auto, 10, 16")
    source_addr = str(reader.value("source_addr", ""))
    # SMPP 3.4 5.2.5: an alphanumeric sender id travels with TON 5, NPI 0.
    sender_ton, sender_npi = (5, 0) if re.search(r"[A-Za-z]", source_addr) else (0, 1)
    binds = reader.integer("binds", 1)
    if binds < 1:
        raise reader.error("binds", f"{binds} must be at least 1")
    route = RouteSettings(
        name=name, priority=priority, host=str(reader.value("host")),
        port=reader.integer("port"), system_id=str(reader.value("system_id")),
        password=str(reader.value("password")), binds=binds,
        window=reader.integer("window", 10), rate=reader.number("rate", 100.0),
        message_payload=reader.flag("message_payload", False),
        source_addr=source_addr,
        source_addr_ton=_octet(reader, "source_addr_ton", sender_ton),
        source_addr_npi=_octet(reader, "source_addr_npi", sender_npi),
        response_timeout=reader.number("response_timeout", 10.0),
        message_id_base=_ID_BASES[base], prefixes=read_prefixes(reader),
        districts=read_districts(reader))
    try:
        route.bind_settings(0)
    except BindError as error:
        raise reader.error(error.field, error.reason) from None
    return route


def _octet(reader: OptionReader, key: str, default: int) -> int:
    value = reader.integer(key, default)
    if not 0 <= value <= 255:
        raise reader.error(key, f"{value} is not an octet (0..255)")
    return value


def _route_of_kind(reader: OptionReader, name: str, priority: int
                   ) -> RouteSettings | RestRouteSettings:
    kind = reader.value("kind", "smpp")
    if kind == REST_KIND:
        return read_rest_route(reader, name, priority)
    if kind != "smpp":
        raise reader.error("kind", f"{kind!r} is not smpp or {REST_KIND}")
    return _route(reader, name, priority)


def read_routes(options: Mapping[str, Any]) -> tuple[RouteSettings | RestRouteSettings, ...]:
    """The routes of the options, highest priority first; raises naming the option at fault."""
    tables = options.get("routes")
    if tables is None:
        return (_route_of_kind(OptionReader(options, {}, OPTIONS), PRIMARY, 0),)
    for key in _CONNECTION_KEYS:
        if key in options:
            raise PermanentChannelError(f"{OPTIONS}.{key}: give it in each table of"
                                        f" {OPTIONS}.routes")
    if isinstance(tables, str | bytes) or not isinstance(tables, Sequence) or not tables:
        raise PermanentChannelError(f"{OPTIONS}.routes: must be a non-empty list of tables")
    routes = []
    for index, table in enumerate(tables):
        path = f"{OPTIONS}.routes[{index}]"
        if not isinstance(table, Mapping):
            raise PermanentChannelError(f"{path}: {table!r} is not a table")
        reader = OptionReader(table, options, path)
        if "name" not in table or "priority" not in table:
            raise reader.error("name" if "name" not in table else "priority", "required")
        routes.append(_route_of_kind(reader, str(table["name"]), reader.integer("priority")))
    names = [route.name for route in routes]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise PermanentChannelError(f"{OPTIONS}.routes[{index}].name: {name!r} is taken"
                                        f" by routes[{names.index(name)}]")
    return tuple(sorted(routes, key=lambda route: route.priority))


class Route:
    """One route's binds, and whether it has ever answered (been bound, or failed to bind)."""

    def __init__(self, settings: RouteSettings, events: BindEvents) -> None:
        self.settings = settings
        self.binds = [Bind(settings.bind_settings(index), events)
                      for index in range(settings.binds)]
        self._answered = False

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def answered(self) -> bool:
        return self._answered

    def poll(self) -> list[Bind]:
        """The binds bound now; notes that the route has answered once it has, or failed to."""
        bound = [bind for bind in self.binds if bind.state is BindState.BOUND]
        if bound or any(bind.state is BindState.DOWN for bind in self.binds):
            self._answered = True
        return bound

    def describe(self) -> str:
        states = ", ".join(f"{bind.settings.name} {bind.state.value}" for bind in self.binds)
        return f"{self.name} ({states})"


@dataclass(frozen=True, slots=True)
class Choice:
    """The route to send over now: its bound binds (none for REST), and the routes passed over.

    ``passed_over`` describes each route passed over and its state, ``passed_over_routes``
    names them; ``candidates`` names every route that may carry the targets chosen for.
    """

    route: Route | RestRoute
    binds: list[Bind]
    passed_over: tuple[str, ...] = ()
    passed_over_routes: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()


def _choice(route: Route | RestRoute, binds: list[Bind], passed_over: Sequence[tuple[str, str]],
            candidates: tuple[str, ...]) -> Choice:
    """The choice of ``route``, after ``passed_over``: (name, description) of each."""
    return Choice(route, binds, tuple(description for _, description in passed_over),
                  tuple(name for name, _ in passed_over), candidates)


def _carries(settings: RouteSettings | RestRouteSettings, target: TargetRef) -> bool:
    return ((not settings.prefixes or target.address.startswith(settings.prefixes))
            and (not settings.districts
                 or not set(settings.districts).isdisjoint(target.districts)))


class Routes:
    """Every route of the channel; the binds open on ``start``, for all routes at once."""

    def __init__(self, settings: Sequence[RouteSettings | RestRouteSettings],
                 events: BindEvents) -> None:
        self.settings = tuple(settings)
        self._events = events
        self._by_bind = {route.bind_name(index): route for route in self.settings
                         if isinstance(route, RouteSettings) for index in range(route.binds)}
        self.rest_route_names = tuple(route.name for route in self.settings
                                      if isinstance(route, RestRouteSettings))
        self.by_district = any(route.districts for route in self.settings)
        self._routes: list[Route | RestRoute] = []
        self._lock = threading.Lock()

    def route_of_bind(self, bind_name: str) -> RouteSettings | None:
        return self._by_bind.get(bind_name)

    def start(self) -> list[Route | RestRoute]:
        """Open every route's binds (once); receipts and mobile messages start arriving."""
        with self._lock:
            if not self._routes:
                routes = [Route(settings, self._events) if isinstance(settings, RouteSettings)
                          else RestRoute(settings) for settings in self.settings]
                for route in routes:
                    for bind in route.binds if isinstance(route, Route) else ():
                        bind.start()
                self._routes = routes
            return self._routes

    def bind_states(self) -> list[tuple[str, int, BindState]]:
        """Each open SMPP bind's route name, index and state now; none before ``start``."""
        with self._lock:
            routes = list(self._routes)
        return [(route.name, index, bind.state) for route in routes if isinstance(route, Route)
                for index, bind in enumerate(route.binds)]

    def assign(self, targets: Sequence[TargetRef], timeout: float
               ) -> tuple[list[tuple[Choice, list[TargetRef]]], list[TargetRef]]:
        """The targets by the route to send them over now, and those no route carries.

        Every route is chosen before anything is sent: when one part of the
        batch has no route up, nothing of it goes out (see ``choose``).
        """
        by_routes: dict[tuple[str, ...], list[TargetRef]] = {}
        unroutable: list[TargetRef] = []
        for target in targets:
            names = tuple(settings.name for settings in self.settings
                          if _carries(settings, target))
            (by_routes.setdefault(names, []) if names else unroutable).append(target)
        return [(self.choose(timeout, names), group)
                for names, group in by_routes.items()], unroutable

    def choose(self, timeout: float, names: Sequence[str] | None = None,
               not_answering: Collection[str] = ()) -> Choice:
        """The route (of ``names``, else of all) to send over now, and its bound binds.

        Routes named in ``not_answering`` (their SMSC stopped answering a send,
        their binds still bound) are passed over as if down.

        While a route of higher priority has not answered yet (its binds are
        still coming up), it is waited for, up to ``timeout`` seconds; then
        any route with a bound bind, or a REST route that is up, will do.
        Raises TransientChannelError naming every route and its state when
        none is up by then.
        """
        routes = [route for route in self.start() if names is None or route.name in names]
        candidates = tuple(route.name for route in routes)
        deadline = time.monotonic() + timeout
        while True:
            expired = time.monotonic() >= deadline
            passed_over: list[tuple[str, str]] = []
            for route in routes:
                if route.name in not_answering:
                    passed_over.append((route.name, f"{route.name} (not answering)"))
                elif isinstance(route, RestRoute):
                    if route.up:
                        return _choice(route, [], passed_over, candidates)
                else:
                    bound = route.poll()
                    if bound:
                        return _choice(route, bound, passed_over, candidates)
                    if not expired and not route.answered:
                        break
                passed_over.append((route.name, route.describe()))
            else:
                if expired:
                    raise TransientChannelError("no SMPP bind is up on any route: "
                                                + "; ".join(description for _, description
                                                            in passed_over))
            time.sleep(_POLL_SECONDS)

    def close(self) -> None:
        with self._lock:
            routes, self._routes = self._routes, []
        for route in routes:
            if isinstance(route, RestRoute):
                route.close()
                continue
            for bind in route.binds:
                bind.stop()
