"""The demo's second SMS route: the Twilio simulator, and the SMSC's outage on demand.

When the ``sms`` channel has a REST route (``kind = "twilio"``), the demo
runs the Twilio simulator (``publisher.sim.twilio``) in a thread of its own
process at the port the route's ``base_url`` names, which must be the
demo's ``--twilio-port``, with the route's account. Its status callbacks go
to the route's ``public_url``, which must be the demo's own address; every
text it takes is appended to ``DATA_DIR/twilio/messages.jsonl``.
The SMSC's outage, which moves the traffic to this route, is switched on
the SMSC simulator's control port (``demo_sms``: ``/smsc/stop``).

The failover drill: with a second route the demo also has a few hundred
test subscribers in Dongcheng (``DRILL_SUBSCRIBERS``), so that an alert for
Dongcheng (``drill_alert_content``) takes several seconds over the SMSC, at
the route's rate: stopped during it, the SMSC keeps what its binds already
took, and the rest of the alert goes over this route.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publisher.cap.districts import GB_T_2260
from publisher.cap.model import Area, Info, NamedValue
from publisher.channels.base import PermanentChannelError
from publisher.channels.sms_routes import read_routes
from publisher.channels.twilio_options import INBOUND_PATH, RestRouteSettings
from publisher.cli_errors import UsageError
from publisher.config import Settings
from publisher.demo_sms import DLR_DELAY, START_PATH, STOP_PATH, DemoGroup
from publisher.demo_walkthrough import DEMO_STATUS, alert_content
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.subscribers import SMS_CHANNEL
from publisher.sim.twilio import TextTaken, TwilioSimConfig, TwilioSimulator, TwilioSimulatorThread

__all__ = ["DEFAULT_TWILIO_PORT", "DRILL_DISTRICT", "DRILL_NUMBERS", "DRILL_SUBSCRIBERS",
           "TWILIO_LOG", "DemoTwilio", "drill_alert_content", "print_failover", "rest_route"]

DEFAULT_TWILIO_PORT = 8705
TWILIO_LOG = Path("twilio") / "messages.jsonl"
# Dongcheng: no demo subscriber, board or node of the other walk-throughs is there.
DRILL_DISTRICT = ("110101", "北京市东城区", "Dongcheng District, Beijing")
# Enough texts (two or three parts each) for several seconds at the SMSC route's rate.
DRILL_NUMBERS = tuple(f"+86138000{index:05d}" for index in range(10_000, 10_300))
DRILL_SUBSCRIBERS: tuple[DemoGroup, ...] = ((DRILL_DISTRICT[0], "zh-CN", DRILL_NUMBERS[0::2]),
                                            (DRILL_DISTRICT[0], "en-US", DRILL_NUMBERS[1::2]))


def _for_drill_district(info: Info) -> Info:
    code, chinese, english = DRILL_DISTRICT
    in_chinese = info.language == "zh-CN"
    description = ("预计未来3小时东城区降雨量将达100毫米以上。" if in_chinese
                   else "More than 100 mm of rain is expected in Dongcheng within 3 hours.")
    return replace(info, areas=(Area(area_desc=chinese if in_chinese else english,
                                     geocodes=(NamedValue(GB_T_2260, code),)),),
                   description=description)


def drill_alert_content(now: datetime) -> dict[str, Any]:
    """The failover drill's alert: the sample rainstorm warning, for Dongcheng."""
    sample = rainstorm_red_warning(now, status=DEMO_STATUS)
    return alert_content(replace(sample, infos=tuple(_for_drill_district(info)
                                                     for info in sample.infos)))


def rest_route(settings: Settings, twilio_port: int, demo_port: int) -> RestRouteSettings | None:
    """The sms channel's first REST route, at the demo's ports; None when there is none."""
    try:
        routes = read_routes(settings.channel_options.get(SMS_CHANNEL, {}))
    except PermanentChannelError as error:
        raise UsageError(str(error)) from None
    rest = [route for route in routes if isinstance(route, RestRouteSettings)]
    if not rest:
        return None
    route = rest[0]
    where = f"channel_options.{SMS_CHANNEL} route {route.name}"
    if urlsplit(route.base_url).port != twilio_port:
        raise UsageError(f"{where}: base_url {route.base_url!r} is not the Twilio simulator's"
                         f" address: the demo runs it on port {twilio_port}; set it to"
                         f" http://127.0.0.1:{twilio_port}, or run the demo with the port it"
                         " names (--twilio-port)")
    if route.public_url is None or urlsplit(route.public_url).port != demo_port:
        raise UsageError(f"{where}: public_url {route.public_url!r} is not the demo's address:"
                         " the simulator posts its status callbacks there; set it to"
                         f" http://127.0.0.1:{demo_port}, or run the demo with the port it"
                         " names (--port)")
    return route


class DemoTwilio:
    """The Twilio simulator, in a thread, with the route's account; ``stop`` ends it."""

    def __init__(self, settings: Settings, route: RestRouteSettings) -> None:
        address = urlsplit(route.base_url)
        self.route = route
        self.log = settings.paths.data_dir / TWILIO_LOG
        self.log.parent.mkdir(parents=True, exist_ok=True)
        config = TwilioSimConfig(
            host=address.hostname or "127.0.0.1", port=address.port or DEFAULT_TWILIO_PORT,
            account_sid=route.account_sid, auth_token=route.auth_token,
            callback_delay=DLR_DELAY, service_number=route.sender or "+12379",
            inbound_url=f"{route.public_url}{INBOUND_PATH}", log_path=self.log)
        try:
            self.running: TwilioSimulatorThread = TwilioSimulator(config).start_in_thread()
        except OSError as error:
            raise UsageError(f"--twilio-port: the Twilio simulator cannot listen on"
                             f" {config.host}:{config.port} ({error})") from None

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def taken(self) -> list[TextTaken]:
        return self.running.taken()

    def stop(self) -> None:
        self.running.stop()


def print_failover(twilio: DemoTwilio, smsc_control_url: str) -> None:
    """The second route's lines of the demo's welcome: where it is, and how to fail over."""
    route = twilio.route
    print(f"           route {route.name}: Twilio simulator on {twilio.base_url} (account"
          f" {route.account_sid}), status callbacks to {route.status_callback}; text log"
          f" {twilio.log}")
    print(f"           SMSC outage: curl -X POST {smsc_control_url}{STOP_PATH} during an alert"
          f" moves the rest of it to route {route.name} (the audit log says sms_failover);"
          f" curl -X POST {smsc_control_url}{START_PATH} ends it")
    code, chinese, english = DRILL_DISTRICT
    print(f"           failover drill: {len(DRILL_NUMBERS)} test subscribers in {english}"
          f" ({chinese}, {code}), {DRILL_NUMBERS[0]} to {DRILL_NUMBERS[-1]}: an alert for"
          f" {code} takes several seconds over the SMSC; stop it during the alert")
