"""``publisher sim wechat``: the simulated WeChat Official Account API (``publisher.sim.wechat``).

Once listening it prints ``wechat simulator listening on HOST:PORT`` on
stdout (useful with ``--port 0``) and runs until SIGINT or SIGTERM. The
platform's ``[channel_options.wechat]`` names it as ``base_url``, with the
same ``appid``, ``secret`` and ``callback_token``.
"""

from __future__ import annotations

import argparse
from typing import Any

from publisher.cli_sim_served import add_served_parser, serve_until_signalled
from publisher.sim.wechat import WechatSimConfig, WechatSimulator

__all__ = ["DEFAULT_PORT", "add_wechat_simulator"]

DEFAULT_PORT = 8703


def _openids(text: str) -> frozenset[str]:
    return frozenset(item.strip() for item in text.split(",") if item.strip())


def add_wechat_simulator(simulators: Any) -> None:
    """Add ``publisher sim wechat`` to the ``sim`` subcommands."""
    parser = add_served_parser(simulators, "wechat", "the WeChat Official Account API",
                               DEFAULT_PORT)
    defaults = WechatSimConfig()
    parser.add_argument("--appid", default=defaults.appid)
    parser.add_argument("--secret", default=defaults.secret,  # the demo account
                        help="the app secret the token call must give")
    parser.add_argument("--token-lifetime", type=float, default=defaults.token_lifetime,
                        metavar="S", help="seconds an access token stays valid")
    parser.add_argument("--advertised-expires-in", type=int, metavar="S",
                        help="the expires_in a token answer says (default: the lifetime)")
    parser.add_argument("--max-per-second", type=float, metavar="N",
                        help="template messages a second; above it errcode 45009")
    parser.add_argument("--unsubscribed", type=_openids, default=frozenset(),
                        metavar="OPENIDS", help="comma-separated openids answered 43004")
    parser.add_argument("--template-ids", type=_openids, default=frozenset(), metavar="IDS",
                        help="comma-separated template ids taken (default: any)")
    parser.add_argument("--callback-url", metavar="URL",
                        help="where events go, e.g. http://127.0.0.1:8080/wechat/callback")
    parser.add_argument("--callback-token", default="", metavar="TOKEN",
                        help="the token events are signed with (required with --callback-url)")
    parser.add_argument("--receipt-delay", type=float, default=defaults.receipt_delay,
                        metavar="S", help="seconds from a message to its send-job event")
    parser.add_argument("--failure-share", type=float, default=0.0, metavar="F",
                        help="share of send-job events that say failed, 0..1")
    parser.add_argument("--seed", type=int, help="for message ids and failed events")
    parser.set_defaults(handler=_serve)


def _serve(arguments: argparse.Namespace) -> int:
    return serve_until_signalled("wechat", lambda: WechatSimulator(WechatSimConfig(
        host=arguments.host, port=arguments.port, appid=arguments.appid,
        secret=arguments.secret, token_lifetime=arguments.token_lifetime,
        advertised_expires_in=arguments.advertised_expires_in,
        max_per_second=arguments.max_per_second, unsubscribed=arguments.unsubscribed,
        template_ids=arguments.template_ids, callback_url=arguments.callback_url,
        callback_token=arguments.callback_token, receipt_delay=arguments.receipt_delay,
        failure_share=arguments.failure_share, seed=arguments.seed)))
