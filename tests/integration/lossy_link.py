"""A TCP link between an ESME and an SMSC that loses what the SMSC sends, then breaks.

Put between the channel and the simulator, it makes the failure the
duplicate count is about, deterministically: the SMSC took every part it was
sent, but none of its answers came back before the link broke.
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["LossyLink"]

_CHUNK = 65_536


class LossyLink:
    """Relays connections on ``port`` to the SMSC; ``lose_answers`` then ``cut`` them."""

    def __init__(self, smsc_port: int) -> None:
        self._smsc_port = smsc_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._losing = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, name="lossy-link", daemon=True).start()

    def lose_answers(self) -> None:
        """From now on, what the SMSC sends on the open connections is lost."""
        self._losing.set()

    def cut(self) -> None:
        """Break every open connection; new ones relay everything again."""
        with self._lock:
            connections, self._open = self._open, []
            self._losing.clear()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                esme, _ = self._listener.accept()
            except OSError:
                return
            smsc = socket.create_connection(("127.0.0.1", self._smsc_port))
            for end in (esme, smsc):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open += [esme, smsc]
            threading.Thread(target=self._relay, args=(esme, smsc, False), daemon=True).start()
            threading.Thread(target=self._relay, args=(smsc, esme, True), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        try:
            while chunk := source.recv(_CHUNK):
                if not (answers and self._losing.is_set()):
                    target.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_RDWR)
