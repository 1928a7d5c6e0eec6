"""What the terminals' listeners share: a subscription feeding a queue, emptied by a thread.

Messages arrive on paho's network thread, which must never wait on the
database; the listener's own thread records them (``_run``) and stops when
asked.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Received

__all__ = ["MqttListener"]

_JOIN_SECONDS = 10


class MqttListener(ABC):
    """Subscriptions to ``subscriptions`` whose messages wait on ``_waiting`` for ``_run``."""

    def __init__(self, broker: BrokerOptions, client_id: str, subscriptions: Sequence[str], *,
                 thread_name: str, persistent: bool = False, manual_ack: bool = False) -> None:
        self._waiting: queue.Queue[Received] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_name = thread_name
        self.connection = MqttConnection(broker, client_id, subscriptions=list(subscriptions),
                                         on_message=self._waiting.put, persistent=persistent,
                                         manual_ack=manual_ack)

    def start(self) -> None:
        # The thread first: what the broker hands over at once has a reader.
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()
        self.connection.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=_JOIN_SECONDS)
        self.connection.close()

    @abstractmethod
    def _run(self) -> None:
        """Record what arrives until ``_stopping`` is set."""
