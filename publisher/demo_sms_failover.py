"""The demo's second SMS route: the Twilio simulator, and the SMSC's outage on demand.

When the ``sms`` channel has a REST route (``kind = "twilio"``), the demo
runs the Twilio simulator (``publisher.sim.twilio``) in a thread of its own
process at the port the route's ``base_url`` names, which must be the
demo's ``--twilio-port``, with the route's account. Its status callbacks go
to the route's ``public_url``, which must be the demo's own address; every
text it takes is appended to ``DATA_DIR/twilio/messages.jsonl``.
The SMSC's outage, which moves the traffic to this route, is switched on
the SMSC simulator's control port (``demo_sms``: ``/smsc/stop``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from publisher.channels.base import PermanentChannelError
from publisher.channels.sms_routes import read_routes
from publisher.channels.twilio_options import INBOUND_PATH, RestRouteSettings
from publisher.cli_errors import UsageError
from publisher.config import Settings
from publisher.demo_sms import DLR_DELAY, START_PATH, STOP_PATH
from publisher.services.subscribers import SMS_CHANNEL
from publisher.sim.twilio import TextTaken, TwilioSimConfig, TwilioSimulator, TwilioSimulatorThread

__all__ = ["DEFAULT_TWILIO_PORT", "TWILIO_LOG", "DemoTwilio", "print_failover", "rest_route"]

DEFAULT_TWILIO_PORT = 8705
TWILIO_LOG = Path("twilio") / "messages.jsonl"


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
