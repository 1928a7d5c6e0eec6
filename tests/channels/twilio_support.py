"""The REST route's test bench: the Twilio simulator in a thread and route tables on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from publisher.sim.twilio import TwilioSimConfig, TwilioSimulator, TwilioSimulatorThread

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "SENDER", "rest_route", "running_twilio"]

ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "f00dfeedc0ffee0123456789abcdef01"
SENDER = "+12025550123"


@contextmanager
def running_twilio(**config: Any) -> Iterator[TwilioSimulatorThread]:
    simulator = TwilioSimulator(TwilioSimConfig(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                                **config))
    running = simulator.start_in_thread()
    try:
        yield running
    finally:
        running.stop()


def rest_route(name: str, priority: int, api: TwilioSimulatorThread,
               **options: Any) -> dict[str, Any]:
    """A ``kind = "twilio"`` table of ``channel_options.sms.routes`` for the simulator."""
    return {"name": name, "priority": priority, "kind": "twilio", "base_url": api.base_url,
            "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": SENDER,
            "rate": 500, "timeout": 10, "backoff": 0.05, **options}
