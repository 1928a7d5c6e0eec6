"""The address of the client behind a request, through the reverse proxies the center trusts.

Behind a TLS proxy every request comes from the proxy's address, so per-client
limits would count the whole city as one client. ``trusted_proxies`` in the
configuration names the proxies' networks; for a request that comes from one
of them, the client is the nearest address in ``X-Forwarded-For`` that is not
itself a trusted proxy, read from the right: each proxy appends the address it
saw, and everything left of the last trusted hop was written by the client and
proves nothing. A request from anywhere else is its own client, whatever its
headers say.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from publisher.config import ConfigError

__all__ = ["TRUSTED_PROXIES", "TrustedProxies", "client_address", "read_trusted_proxies",
           "request_client"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxies = tuple[Network, ...]
FORWARDED_FOR = "X-Forwarded-For"
UNKNOWN = "unknown"

TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def read_trusted_proxies(configured: Sequence[str] | str) -> TrustedProxies:
    """The networks of ``trusted_proxies`` (CIDR or single addresses); names a bad entry."""
    items = configured.split(",") if isinstance(configured, str) else configured
    networks: list[Network] = []
    for position, item in enumerate(items):
        text = str(item).strip()
        if not text and isinstance(configured, str):
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"trusted_proxies[{position}]: {item!r} is not an IP address or"
                              " network such as 10.0.0.0/8") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
             proxies: TrustedProxies) -> bool:
    return any(address in network for network in proxies)


def client_address(remote: str | None, forwarded_for: Sequence[str],
                   proxies: TrustedProxies) -> str:
    """The client's address: ``remote``, or the hop a trusted proxy says it came from.

    ``forwarded_for`` is every ``X-Forwarded-For`` header of the request, in
    order. A hop that is no address at all ends the walk at the trusted proxy
    that passed it on: nothing beyond it can be believed.
    """
    peer = _address(remote or "")
    if peer is None:
        return remote or UNKNOWN
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    client = peer
    while _trusted(client, proxies) and hops:
        earlier = _address(hops.pop())
        if earlier is None:
            break
        client = earlier
    return str(client)


def request_client(request: web.Request) -> str:
    """The client address of ``request`` under the application's trusted proxies."""
    return client_address(request.remote, request.headers.getall(FORWARDED_FOR, []),
                          request.app.get(TRUSTED_PROXIES, ()))
