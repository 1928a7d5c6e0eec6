"""A push still on its way is not pushed again by the retry of queued deliveries.

A node's deliveries stay queued while their push is in flight (a crash then
leaves them to be pushed again), and the heartbeat loop retries queued
deliveries: without care, a board slow to answer gets the same show twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from district_nodes.config import load_node_config
from district_nodes.messages import SignedMessage
from district_nodes.relay import LocalRelay
from district_nodes.store import StoredMessage, create_schema
from publisher.store.db import make_engine, make_session_factory, session_scope
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    board_fleet,
    rainstorm,
    shows_pushed,
)

HELD_SECONDS = 1.5


def test_a_retry_while_the_first_push_is_on_its_way_pushes_nothing_twice(
        tmp_path: Path, center: FakeCenter) -> None:
    with board_fleet(tmp_path, 2, ack_delay=0.05) as (simulator, devices_file):
        directory = tmp_path / "node"
        directory.mkdir()
        config = load_node_config(NodeProcess(directory, center, devices_file).config)
        engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
        create_schema(engine)
        sessions = make_session_factory(engine)
        relay = LocalRelay(config, sessions)
        channel = relay.channel("led")
        assert channel is not None
        pushing = threading.Event()
        send = channel.send

        def slow_send(*arguments: Any) -> Any:
            # The board's answer is slow: the push is in flight this long.
            pushing.set()
            time.sleep(HELD_SECONDS)
            return send(*arguments)

        channel.send = slow_send  # type: ignore[method-assign]
        alert = rainstorm(1)
        xml = center.sign(alert)
        with session_scope(sessions) as session:
            stored = StoredMessage(sender=alert.sender, identifier=alert.identifier,
                                   sent=alert.sent.isoformat(), msg_type="Alert",
                                   origin="center", xml=xml, state="relayed")
            session.add(stored)
            session.flush()
            message_id = stored.id

        async def relay_and_retry() -> None:
            first = asyncio.create_task(relay.relay(message_id, SignedMessage(alert, xml)))
            while not pushing.is_set():
                await asyncio.sleep(0.01)
            await relay.retry_queued()
            await first

        try:
            asyncio.run(relay_and_retry())
        finally:
            relay.close()
        pushed = [(device, identifier) for device, identifier in shows_pushed(simulator)
                  if identifier == alert.identifier]
        assert sorted(pushed) == [("led-110105-01", alert.identifier),
                                  ("led-110105-02", alert.identifier)]
