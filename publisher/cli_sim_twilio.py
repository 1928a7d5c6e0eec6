"""``publisher sim twilio``: a simulated Twilio-compatible Messages API (``sim.twilio``).

Once listening it prints ``twilio simulator listening on HOST:PORT`` on
stdout (useful with ``--port 0``) and runs until SIGINT or SIGTERM. A
``kind = "twilio"`` route of ``[channel_options.sms]`` names it as
``base_url``, with the same ``account_sid`` and ``auth_token``.
``publisher sim twilio-mo`` texts the platform through it as a phone does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp

from publisher.cli_errors import EXIT_OK, UsageError
from publisher.cli_sim_served import add_served_parser, serve_until_signalled
from publisher.sim.twilio import TwilioSimConfig, TwilioSimulator

__all__ = ["DEFAULT_PORT", "add_twilio_simulator"]

DEFAULT_PORT = 8704


def _codes(text: str) -> MappingProxyType[str, int]:
    """``+8613800000101=30003,+86...=30007`` as a table of number to error code."""
    codes: dict[str, int] = {}
    for item in filter(None, (item.strip() for item in text.split(","))):
        number, _, code = item.partition("=")
        if not code.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{item!r} is not NUMBER=CODE")
        codes[number.strip()] = int(code)
    return MappingProxyType(codes)


def add_twilio_simulator(simulators: Any) -> None:
    """Add ``publisher sim twilio`` and ``publisher sim twilio-mo`` to the ``sim`` subcommands."""
    parser = add_served_parser(simulators, "twilio", "a Twilio-compatible Messages REST API",
                               DEFAULT_PORT)
    defaults = TwilioSimConfig()
    parser.add_argument("--account-sid", default=defaults.account_sid)
    parser.add_argument("--auth-token", default=defaults.auth_token,  # the demo account
                        help="the AuthToken: basic auth and callback signatures")
    parser.add_argument("--max-per-second", type=float, metavar="N",
                        help="texts a second; above it 429 with error 20429")
    parser.add_argument("--callback-delay", type=float, default=defaults.callback_delay,
                        metavar="S", help="seconds between a text's status callbacks")
    parser.add_argument("--failure-share", type=float, default=0.0, metavar="F",
                        help="share of texts undelivered (30003), 0..1")
    parser.add_argument("--out-of-order-share", type=float, default=0.0, metavar="F",
                        help="share of texts whose final state is posted before 'sent'")
    parser.add_argument("--duplicate-share", type=float, default=0.0, metavar="F",
                        help="share of texts whose final state is posted twice")
    parser.add_argument("--failures", type=_codes, default=MappingProxyType({}),
                        metavar="NUMBER=CODE,...", help="numbers undelivered with that code")
    parser.add_argument("--refusals", type=_codes, default=MappingProxyType({}),
                        metavar="NUMBER=CODE,...", help="numbers refused at once (400)")
    parser.add_argument("--inbound-url", metavar="URL",
                        help="where texts from phones go, e.g."
                             " http://127.0.0.1:8080/webhooks/twilio/inbound")
    parser.add_argument("--log", type=Path, metavar="FILE",
                        help="append every text taken to FILE (JSON lines)")
    parser.add_argument("--seed", type=int, help="for sids and simulated outcomes")
    parser.set_defaults(handler=_serve)
    mo = simulators.add_parser("twilio-mo", help="text the platform through the Twilio simulator")
    mo.add_argument("--simulator", default=f"http://127.0.0.1:{DEFAULT_PORT}", metavar="URL")
    mo.add_argument("--from", dest="sender", required=True, metavar="E164")
    mo.add_argument("text")
    mo.set_defaults(handler=_mo)


def _serve(arguments: argparse.Namespace) -> int:
    return serve_until_signalled("twilio", lambda: TwilioSimulator(TwilioSimConfig(
        host=arguments.host, port=arguments.port, account_sid=arguments.account_sid,
        auth_token=arguments.auth_token, max_per_second=arguments.max_per_second,
        callback_delay=arguments.callback_delay, failure_share=arguments.failure_share,
        out_of_order_share=arguments.out_of_order_share,
        duplicate_share=arguments.duplicate_share, failures=arguments.failures,
        refusals=arguments.refusals, inbound_url=arguments.inbound_url,
        log_path=arguments.log, seed=arguments.seed)))


def _mo(arguments: argparse.Namespace) -> int:
    async def post() -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.post(
                f"{arguments.simulator}/sim/inbound",
                data={"From": arguments.sender, "Body": arguments.text}) as response:
            return response.status, await response.text()

    try:
        status, answer = asyncio.run(post())
    except aiohttp.ClientError as error:
        raise UsageError(f"--simulator: {arguments.simulator} is not reachable ({error})"
                         ) from None
    if status != 200:
        raise UsageError(f"--simulator: answered HTTP {status}: {answer[:200]}")
    sys.stdout.write(answer + "\n")
    return EXIT_OK
