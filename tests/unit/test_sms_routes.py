"""The SMS channel's route options: one flat SMSC or a list of routes, each error naming its key."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.channels.base import PermanentChannelError
from publisher.channels.sms_routes import RouteSettings, provider_id, read_routes

ACCOUNT = {"host": "smsc.example", "port": 2775, "system_id": "alerts", "password": "pw"}


def _route(name: str, priority: int, **options: Any) -> dict[str, Any]:
    return {"name": name, "priority": priority, **ACCOUNT, **options}


def test_flat_options_are_the_single_route_primary() -> None:
    [route] = read_routes({**ACCOUNT, "binds": 2, "window": 20, "rate": 50,
                           "message_id_base": "16", "source_addr": "12379"})

    assert route == RouteSettings(name="primary", priority=0, host="smsc.example", port=2775,
                                  system_id="alerts", password="pw", binds=2, window=20,
                                  rate=50.0, message_payload=False, source_addr="12379",
                                  response_timeout=10.0, message_id_base=16)
    assert [route.bind_name(index) for index in range(route.binds)] == ["primary-0", "primary-1"]
    assert "pw" not in repr(route)


@pytest.mark.parametrize(("options", "sender"), [
    ({"source_addr": "12379"}, (0, 1)),
    ({"source_addr": "BJWarning"}, (5, 0)),
    ({"source_addr": "12379", "source_addr_ton": 3, "source_addr_npi": 0}, (3, 0)),
])
def test_the_sender_id_gets_its_type_of_number(options: dict[str, Any],
                                               sender: tuple[int, int]) -> None:
    [route] = read_routes({**ACCOUNT, **options})
    assert (route.source_addr_ton, route.source_addr_npi) == sender


def test_routes_come_by_priority_and_take_top_level_keys_as_defaults() -> None:
    routes = read_routes({"rate": 250, "message_payload": True, "routes": [
        _route("backup", 2, rate=40), _route("carrier", 1, message_payload=False)]})

    assert [(route.name, route.priority, route.rate, route.message_payload)
            for route in routes] == [("carrier", 1, 250.0, False), ("backup", 2, 40.0, True)]


def test_provider_ids_carry_their_route() -> None:
    assert provider_id("backup", "500") == "backup:500"


@pytest.mark.parametrize(("options", "message"), [
    ({"host": "h"}, "channel_options.sms.port: required"),
    ({**ACCOUNT, "port": "twenty"}, "channel_options.sms.port: 'twenty' is not an integer"),
    ({**ACCOUNT, "message_id_base": 8},
     "channel_options.sms.message_id_base: 8 is not one of auto, 10, 16"),
    ({**ACCOUNT, "binds": 0}, "channel_options.sms.binds: 0 must be at least 1"),
    ({**ACCOUNT, "window": 0}, "channel_options.sms.window: 0 must be at least 1"),
    ({**ACCOUNT, "message_payload": "yes"},
     "channel_options.sms.message_payload: 'yes' is not true or false"),
    ({**ACCOUNT, "password": "much too long"},
     "channel_options.sms.password: must be at most 8 characters"),
    ({"routes": []}, "channel_options.sms.routes: must be a non-empty list of tables"),
    ({"routes": ["primary"]}, "channel_options.sms.routes[0]: 'primary' is not a table"),
    ({"routes": [{**ACCOUNT, "name": "a"}]}, "channel_options.sms.routes[0].priority: required"),
    ({"routes": [_route("a", 0), {**_route("b", 1), "port": None}]},
     "channel_options.sms.routes[1].port: required"),
    ({"routes": [_route("a", 0), _route("a", 1)]},
     "channel_options.sms.routes[1].name: 'a' is taken by routes[0]"),
    ({"routes": [_route("a:b", 0)]}, "channel_options.sms.routes[0].name: 'a:b' is not"),
    ({**ACCOUNT, "source_addr_ton": 256},
     "channel_options.sms.source_addr_ton: 256 is not an octet"),
    ({"host": "h", "routes": [_route("a", 0)]},
     "channel_options.sms.host: give it in each table of channel_options.sms.routes"),
])
def test_an_impossible_route_is_refused_naming_its_key(options: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(PermanentChannelError) as refused:
        read_routes(options)
    assert refused.value.reason.startswith(message)
