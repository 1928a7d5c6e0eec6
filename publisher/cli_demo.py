"""``publisher demo``: the whole platform on embedded defaults, ready to try with curl.

It makes (once; later runs reuse them) a demo author, approver and administrator
with API tokens, a few memory-channel targets, SMS test subscribers in Chaoyang
and Haidian and followers of the WeChat account, starts the SMSC simulator,
the WeChat simulator (``demo_wechat``) and the LED board and speaker
simulators (``demo_devices``), each for a channel the configuration names,
prints how to reach it all (the staff web pages with the demo users' passwords, the API
with their tokens), then runs ``publisher serve`` on the
configuration ``config/demo.toml`` (unless ``PUBLISHER_CONFIG`` names
another), and walks one alert by SMS from draft to delivered
(``demo_walkthrough``), the same alert on the feeds, the public page and
WeChat, and its Cancel (``demo_public_walkthrough``), then one for Chaoyang
to its boards and speakers, and its Cancel (``demo_device_walkthrough``),
then an earthquake early warning from the automatic sender (``demo_eew``).
With the ``app`` channel configured it registers the demo app and runs its
client, ``publisher app listen`` (``demo_apps``).
With the ``district`` channel configured it also runs three district nodes
(``demo_nodes``) and walks one alert through them, then Huairou's failing
link (``demo_nodes_walkthrough``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.cap.districts import load_districts
from publisher.channels.base import PermanentChannelError
from publisher.channels.speaker import SpeakerSettings
from publisher.cli_errors import EXIT_OK, UsageError
from publisher.cli_serve import add_address_options, run_web
from publisher.cli_settings import prepared_settings
from publisher.cli_sim import DEFAULT_CONTROL_PORT
from publisher.cli_sim_wechat import DEFAULT_PORT as DEFAULT_WECHAT_PORT
from publisher.cli_users import run_in_session
from publisher.config import ConfigError, Settings, load_paths
from publisher.demo_agencies import prepare_demo_agencies, print_agencies
from publisher.demo_apps import DemoAppClient, start_demo_app_client
from publisher.demo_device_walkthrough import DeviceWalkthrough
from publisher.demo_devices import ACK_DELAY, DEFAULT_PORTS, LED, SPEAKER, DemoDevices
from publisher.demo_eew import EewWalkthrough
from publisher.demo_nodes import DEFAULT_CONTROL_PORT as DEFAULT_NODE_CONTROL_PORT
from publisher.demo_nodes import DemoNodes, node_options
from publisher.demo_nodes_walkthrough import NodeWalkthrough, print_nodes
from publisher.demo_public_walkthrough import PublicWalkthrough
from publisher.demo_sms import DEMO_SUBSCRIBERS, DLR_DELAY, DemoSmsc, ensure_subscribers, sms_route
from publisher.demo_sms_failover import (
    DEFAULT_TWILIO_PORT,
    DRILL_SUBSCRIBERS,
    DemoTwilio,
    print_failover,
    rest_route,
)
from publisher.demo_walkthrough import (
    DEMO_STATUS,
    DemoPeople,
    SmsWalkthrough,
    Walkthrough,
    WalkthroughStep,
)
from publisher.demo_wechat import (
    DEMO_FOLLOWERS,
    FAILURE_SHARE,
    RECEIPT_DELAY,
    DemoWechat,
    demo_wechat_options,
    ensure_followers,
)
from publisher.services.errors import Unauthenticated
from publisher.services.feeds import FeedOptions
from publisher.services.public_alerts import FEED_CHANNEL
from publisher.services.targets import reaches_only_test_targets
from publisher.services.users import actor_for_token, create_token, create_user
from publisher.store.models import Target, User
from publisher.web.staff_context import LOGIN_PATH as STAFF_LOGIN_PATH
from publisher.web.wechat_callback import CALLBACK_PATH

__all__ = ["DEMO_TARGETS", "DEMO_USERS", "add_demo_command", "prepare_demo"]

DEMO_CHANNEL = "memory"
DEMO_CONFIG_FILE = "demo.toml"
CREDENTIALS_FILE = "credentials.json"
PREVIEWS_DIR = "boards"
DISTRICT_ALERT_FILE = "district-alert.json"
# A tenth of real time: an announcement of a minute and a half acks after nine seconds.
DEMO_PLAYBACK_SPEED = 0.1
TOKEN_LABEL = "demo"  # noqa: S105 - a label naming the token, not a secret


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: str
    variable: str


DEMO_USERS = (DemoUser("demo-author", "author", "AUTHOR_TOKEN"),
              DemoUser("demo-approver", "approver", "APPROVER_TOKEN"),
              DemoUser("demo-admin", "admin", "ADMIN_TOKEN"))
# (district code, test targets, public targets): Exercise and Test alerts reach
# only the test ones, so the walk-through shows the difference.
DEMO_TARGETS = (("110105", 2, 1), ("110108", 2, 1))


def _credentials_path(settings: Settings) -> Path:
    return settings.paths.data_dir / "demo" / CREDENTIALS_FILE


def _saved_credentials(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    saved: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return saved


def _save_credentials(path: Path, credentials: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file holds passwords and tokens: readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(credentials, stream, indent=2)


def _token_works(session: Session, token: str | None) -> bool:
    if not token:
        return False
    try:
        actor_for_token(session, token)
    except Unauthenticated:
        return False
    return True


def _ensure_user(session: Session, user: DemoUser,
                 saved: dict[str, str]) -> dict[str, str]:
    credentials = dict(saved)
    exists = session.scalars(select(User).where(User.username == user.username)).one_or_none()
    if exists is None:
        credentials["password"] = secrets.token_urlsafe(12)
        create_user(session, user.username, credentials["password"], [user.role],
                    display_name=f"Demo {user.role}")
    if not _token_works(session, credentials.get("token")):
        credentials["token"] = create_token(session, user.username, TOKEN_LABEL)
    return credentials


def _ensure_targets(session: Session, settings: Settings) -> int:
    districts = load_districts(settings.paths.districts_file)
    existing = set(session.scalars(select(Target.address).where(Target.channel == DEMO_CHANNEL)))
    added = 0
    for code, tests, public in DEMO_TARGETS:
        district = districts.get(code)
        point = district.geometry.representative_point()
        name = district.name_en.lower()
        for number in range(tests + public):
            is_test = number < tests
            address = f"demo:{name}:{'test' if is_test else 'public'}-{number + 1}"
            if address in existing:
                continue
            session.add(Target(channel=DEMO_CHANNEL, address=address, district_code=code,
                               lon=point.x, lat=point.y, language="zh-CN", is_test=is_test))
            added += 1
    return added


def prepare_demo(settings: Settings) -> dict[str, dict[str, str]]:
    """Make sure the demo users, their tokens and targets exist; their credentials by name."""
    path = _credentials_path(settings)
    saved = _saved_credentials(path)

    def prepare(session: Session) -> dict[str, dict[str, str]]:
        credentials = {user.username: _ensure_user(session, user, saved.get(user.username, {}))
                       for user in DEMO_USERS}
        _ensure_targets(session, settings)
        prepare_demo_agencies(session, settings)
        return credentials

    credentials = run_in_session(settings, prepare)
    _save_credentials(path, credentials)
    return credentials


def _print_sms(smsc: DemoSmsc, twilio: DemoTwilio | None) -> None:
    route = smsc.route
    print(f"SMS:       SMSC simulator on {route.host}:{route.port} (system id"
          f" {route.system_id}), receipts {DLR_DELAY:g} s after each part")
    print(f"           part log {smsc.part_log}; texts from phones: {smsc.control_url}/mo")
    if twilio is not None:
        print_failover(twilio, smsc.control_url)
    kind = "test subscribers" if reaches_only_test_targets(DEMO_STATUS.value) else "subscribers"
    for district, language, numbers in DEMO_SUBSCRIBERS:
        print(f"           {kind} in {district} ({language}): {', '.join(numbers)}")


def _print_devices(fleet: DemoDevices) -> None:
    for kind, label in ((LED, "boards"), (SPEAKER, "speakers")):
        if kind not in fleet.kinds:
            continue
        districts = collections.Counter(fleet.district_name(device)
                                        for device in fleet.devices(kind))
        counts = ", ".join(f"{number} in {name}" for name, number in districts.items())
        print(f"{label.capitalize() + ':':<10} {kind} simulator on"
              f" {fleet.simulators[kind].base_url} ({counts}), acks {ACK_DELAY:g} s after"
              f" each push; test devices, registered after the SMS walk-through")


def _print_public(url: str, feed: bool, wechat: DemoWechat | None) -> None:
    if feed:
        print(f"Feeds:     {url}/feeds/alerts.atom and {url}/feeds/alerts.rss; the public page"
              f" {url}/ (?lang=zh-CN or ?lang=en-US)")
    if wechat is None:
        return
    print(f"WeChat:    simulator on {wechat.base_url} (appid {wechat.options.appid}), send-job"
          f" events to {wechat.callback_url} {RECEIPT_DELAY:g} s after each message,"
          f" {FAILURE_SHARE:.0%} of them failed")
    kind = "test followers" if reaches_only_test_targets(DEMO_STATUS.value) else "followers"
    for follower in DEMO_FOLLOWERS:
        also = f" (the SMS subscriber {follower.number})" if follower.number else ""
        print(f"           {kind} in {follower.district} ({follower.language}):"
              f" {follower.openid}{also}")


def _print_welcome(settings: Settings, url: str, credentials: dict[str, dict[str, str]],
                   smsc: DemoSmsc | None, *, fleet: DemoDevices | None = None,
                   wechat: DemoWechat | None = None, nodes: DemoNodes | None = None,
                   twilio: DemoTwilio | None = None,
                   app_client: DemoAppClient | None = None) -> None:
    print("Public alert publishing platform: demo on embedded defaults\n")
    print(f"Web API:   {url}   (health: {url}/health)")
    print(f"Staff UI:  {url}{STAFF_LOGIN_PATH}   (log in as {DEMO_USERS[0].username} to compose,"
          f" as {DEMO_USERS[1].username} to approve; README: Walkthrough: the staff web UI)")
    print(f"Data:      {settings.paths.data_dir} (SQLite database, SQLite broker, keys)")
    print("Targets:   memory channel, test and public targets in Chaoyang and Haidian")
    if smsc is not None:
        _print_sms(smsc, twilio)
        _print_public(url, FEED_CHANNEL in settings.channels, wechat)
    if fleet is not None:
        _print_devices(fleet)
    if nodes is not None:
        print_nodes(nodes)
    if app_client is not None:
        app_client.print_welcome()
    print_agencies(url, settings.paths.data_dir)
    print()
    print("Users (passwords and tokens are kept in "
          f"{_credentials_path(settings)}):")
    for user in DEMO_USERS:
        given = credentials[user.username]
        print(f"  {user.username:<14} role {user.role:<9} "
              f"password {given.get('password', '(set before; see the file)')}")
    print("\nTry it: paste these, then follow docs/api.md (the walk-through):")
    print(f"  export URL={url}")
    for user in DEMO_USERS:
        print(f"  export {user.variable}={credentials[user.username]['token']}")
    print(flush=True)


def demo_environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment of the demo and its worker: config/demo.toml unless one is named."""
    if "PUBLISHER_CONFIG" in environ:
        return dict(environ)
    return {**environ,
            "PUBLISHER_CONFIG": str(load_paths(environ).config_dir / DEMO_CONFIG_FILE)}


def _require_demo_address(option: str, address: object, port: int, why: str) -> None:
    if not isinstance(address, str) or urlsplit(address).port != port:
        raise UsageError(f"{option}: {address!r} is not the demo's address: {why}; set it to"
                         f" http://127.0.0.1:{port}, or run the demo with the port it names"
                         " (--port)")


def _device_kinds(settings: Settings, port: int) -> list[str]:
    """The device channels the configuration names, each acked at the demo's own port."""
    kinds = [kind for kind in (LED, SPEAKER) if kind in settings.channels]
    for kind in kinds:
        _require_demo_address(f"channel_options.{kind}.callback_url",
                              settings.channel_options.get(kind, {}).get("callback_url"), port,
                              "its devices ack there and fetch audio from it")
    return kinds


def _feed_on(settings: Settings, port: int) -> bool:
    """Whether the configuration names the feed, whose links then lead to the demo's port."""
    if FEED_CHANNEL not in settings.channels:
        return False
    try:
        public_url = FeedOptions.read(settings).site.public_url
    except ConfigError as error:
        raise UsageError(str(error)) from None
    _require_demo_address("channel_options.feed.public_url", public_url, port,
                          "the feeds' ids and links and the page's lead there")
    return True


def _repeat(settings: Settings) -> int:
    try:
        return SpeakerSettings.read(settings.channel_options.get(SPEAKER, {})).repeat
    except PermanentChannelError as error:
        raise UsageError(error.reason) from None


def _demo_devices(settings: Settings, arguments: argparse.Namespace,
                  url: str) -> DemoDevices | None:
    kinds = _device_kinds(settings, arguments.port)
    if not kinds:
        return None
    fleet = DemoDevices(settings, kinds, url, {LED: arguments.led_port,
                                                SPEAKER: arguments.speaker_port},
                        playback_speed=arguments.speaker_playback_speed)
    try:
        run_in_session(settings, fleet.withdraw)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def _demo_nodes(settings: Settings, arguments: argparse.Namespace,
                url: str) -> DemoNodes | None:
    options = node_options(settings)
    if options is None:
        return None
    nodes = DemoNodes(settings, options, url, free_ports=arguments.free_node_ports,
                      control_port=arguments.node_control_port,
                      playback_speed=arguments.speaker_playback_speed)
    try:
        nodes.save_credentials(run_in_session(settings, nodes.register))
        nodes.start()
    except BaseException:
        nodes.stop()
        raise
    return nodes


def _steps(settings: Settings, url: str, credentials: dict[str, dict[str, str]],
           smsc: DemoSmsc, *, fleet: DemoDevices | None, wechat: DemoWechat | None,
           nodes: DemoNodes | None) -> list[WalkthroughStep]:
    people = DemoPeople(credentials[DEMO_USERS[0].username]["token"],
                        credentials[DEMO_USERS[1].username]["token"])
    sms = SmsWalkthrough(smsc, url, people)
    steps: list[WalkthroughStep] = [sms]
    feed = FEED_CHANNEL in settings.channels
    if feed or wechat is not None:
        steps.append(PublicWalkthrough(sms, url, feed=feed, wechat=wechat))
    if fleet is not None:
        steps.append(DeviceWalkthrough(
            fleet, url, people, repeat=_repeat(settings),
            previews=settings.paths.data_dir / "demo" / PREVIEWS_DIR))
    steps.append(EewWalkthrough(fleet, url, settings.paths.data_dir))
    if nodes is not None:
        steps.append(NodeWalkthrough(nodes, people,
                                     settings.paths.data_dir / "demo" / DISTRICT_ALERT_FILE))
    return steps


def _demo(arguments: argparse.Namespace) -> int:
    environment = demo_environment(dict(os.environ))
    settings = prepared_settings(arguments, environment)
    credentials = prepare_demo(settings)
    url = f"http://{arguments.host}:{arguments.port}"
    if arguments.prepare_only:
        _print_welcome(settings, url, credentials, None)
        return EXIT_OK
    route = sms_route(settings)
    second_route = rest_route(settings, arguments.twilio_port, arguments.port)
    _feed_on(settings, arguments.port)
    wechat_options = demo_wechat_options(settings, arguments.wechat_port)
    is_test = reaches_only_test_targets(DEMO_STATUS.value)

    def subscribe(session: Session) -> None:
        ensure_subscribers(session, is_test=is_test)
        if second_route is not None:
            ensure_subscribers(session, is_test=is_test, subscribers=DRILL_SUBSCRIBERS)
        if wechat_options is not None:
            ensure_followers(session, is_test=is_test)

    run_in_session(settings, subscribe)
    smsc = DemoSmsc(settings, route, arguments.smsc_control_port)
    fleet: DemoDevices | None = None
    wechat: DemoWechat | None = None
    nodes: DemoNodes | None = None
    twilio: DemoTwilio | None = None
    app_client: DemoAppClient | None = None
    try:
        if second_route is not None:
            twilio = DemoTwilio(settings, second_route)
        if wechat_options is not None:
            wechat = DemoWechat(wechat_options, url + CALLBACK_PATH)
        fleet = _demo_devices(settings, arguments, url)
        nodes = _demo_nodes(settings, arguments, url)
        app_client = start_demo_app_client(settings, url)
        _print_welcome(settings, url, credentials, smsc, fleet=fleet, wechat=wechat,
                       nodes=nodes, twilio=twilio, app_client=app_client)
        walkthrough = Walkthrough(_steps(settings, url, credentials, smsc, fleet=fleet,
                                         wechat=wechat, nodes=nodes))
        return run_web(settings, arguments.host, arguments.port, with_worker=True,
                       worker_environment=environment, contexts=[walkthrough])
    finally:
        if app_client is not None:
            app_client.stop()
        if nodes is not None:
            nodes.stop()
        if fleet is not None:
            fleet.stop()
        if wechat is not None:
            wechat.stop()
        if twilio is not None:
            twilio.stop()
        smsc.stop()


def add_demo_command(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="make demo users, targets and subscribers, run the platform (serve) and"
                     " the SMSC, WeChat, LED board and speaker simulators, and send one alert"
                     " by SMS, WeChat and the feeds, and one to Chaoyang's boards and"
                     " speakers")
    add_address_options(demo)
    demo.add_argument("--smsc-control-port", type=int, default=DEFAULT_CONTROL_PORT,
                      metavar="PORT", help="the simulator's control port, for texts from"
                                           f" phones (default {DEFAULT_CONTROL_PORT})")
    demo.add_argument("--twilio-port", type=int, default=DEFAULT_TWILIO_PORT, metavar="PORT",
                      help="the Twilio simulator's port, which the base_url of the sms channel's"
                           f" REST route names (default {DEFAULT_TWILIO_PORT})")
    demo.add_argument("--wechat-port", type=int, default=DEFAULT_WECHAT_PORT, metavar="PORT",
                      help="the WeChat simulator's port, which channel_options.wechat.base_url"
                           f" names (default {DEFAULT_WECHAT_PORT})")
    for kind in (LED, SPEAKER):
        demo.add_argument(f"--{kind}-port", type=int, default=DEFAULT_PORTS[kind],
                          metavar="PORT", help=f"the {kind} simulator's port (default"
                                               f" {DEFAULT_PORTS[kind]}; 0 picks a free one)")
    demo.add_argument("--speaker-playback-speed", type=float, default=DEMO_PLAYBACK_SPEED,
                      metavar="X", help="the simulated speakers play each announcement in its"
                                        f" duration times X (default {DEMO_PLAYBACK_SPEED:g};"
                                        " 1 is real time)")
    demo.add_argument("--node-control-port", type=int, default=DEFAULT_NODE_CONTROL_PORT,
                      metavar="PORT", help="the port that stops and starts the district nodes"
                                           f" (default {DEFAULT_NODE_CONTROL_PORT}; 0 picks a"
                                           " free one)")
    demo.add_argument("--free-node-ports", action="store_true",
                      help="run the district nodes on free ports, not on those of"
                           " config/districts/")
    demo.add_argument("--prepare-only", action="store_true",
                      help="make the users and memory targets and print them, but do not"
                           " serve")
    demo.set_defaults(handler=_demo)
