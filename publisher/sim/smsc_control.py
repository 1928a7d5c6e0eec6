"""The SMSC simulator's control port: texts from phones, injected over HTTP from outside.

``POST /mo`` with ``{"from": "8613800000101", "text": "TD", "to": "12379"}``
(``to`` optional) makes the simulator deliver that text as a
mobile-originated ``deliver_sm`` to a bound receiver of its system id. The
answer comes once the ESME has acknowledged it:

- 200 ``{"acknowledged": true}``;
- 504 when no ESME acknowledged it within ``MO_ACK_TIMEOUT`` seconds (no
  receiver is bound, or it does not answer): the simulator keeps it and
  delivers it when a receiver binds;
- 400 with the field and the reason for a body it cannot use.

``publisher sim mo`` is the client; ``publisher sim smsc --control-port``
and ``publisher demo`` serve it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from publisher.sim.smsc import SmscSimulator

__all__ = ["DEFAULT_SHORT_CODE", "MO_ACK_TIMEOUT", "control_app", "start_control"]

MO_ACK_TIMEOUT = 30.0
# The service number subscribers text; what the ESME sees as the destination.
DEFAULT_SHORT_CODE = "12379"
_SIMULATOR = web.AppKey("simulator", SmscSimulator)


def _refused(field: str, reason: str, status: int = 400) -> web.Response:
    return web.json_response({"error": "invalid" if status == 400 else "timeout",
                              "field": field, "reason": reason}, status=status)


def _text_field(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(name)
    return value.strip()


async def _mobile_originated(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except ValueError as error:
        return _refused("body", f"not JSON: {error}")
    if not isinstance(body, dict):
        return _refused("body", "must be a JSON object")
    try:
        source = _text_field(body, "from")
        text = _text_field(body, "text")
        destination = _text_field(body, "to", DEFAULT_SHORT_CODE)
    except ValueError as missing:
        return _refused(str(missing), "required: a non-empty string")
    try:
        await asyncio.wait_for(
            request.app[_SIMULATOR].inject_mo(source, destination, text), MO_ACK_TIMEOUT)
    except ValueError as error:
        return _refused("text", str(error))
    except TimeoutError:
        return _refused("acknowledged", f"no ESME acknowledged the deliver_sm within"
                                        f" {MO_ACK_TIMEOUT:g} s; it stays queued", status=504)
    return web.json_response({"acknowledged": True})


def control_app(simulator: SmscSimulator) -> web.Application:
    app = web.Application()
    app[_SIMULATOR] = simulator
    app.router.add_post("/mo", _mobile_originated)
    return app


async def start_control(simulator: SmscSimulator, host: str, port: int) -> web.AppRunner:
    """Serve the control port on the simulator's loop; stop it with the runner's cleanup()."""
    runner = web.AppRunner(control_app(simulator), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
