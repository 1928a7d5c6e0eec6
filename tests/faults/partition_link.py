"""A TCP link that can be partitioned: while it is, whatever is sent over it vanishes.

Put in front of a server, it relays each connection to it. ``partition``
black-holes the link as a cut cable or a dead router does: the open
connections stop relaying, and a new connection is accepted and then hears
nothing (its caller times out; nothing is refused, so nobody learns of the
cut at once). ``heal`` closes what the partition held and relays new
connections again, as TCP gives up on a connection that outlived a cut.
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["PartitionLink"]

_CHUNK = 65_536


class PartitionLink:
    """Relays connections on ``port`` to ``target_port`` on the loopback, unless partitioned."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, name="partition-link", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def partitioned(self) -> bool:
        return self._cut.is_set()

    def partition(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        with self._lock:
            held, self._open = self._open, []
            self._cut.clear()
        for connection in held:
            _close(connection)

    def close(self) -> None:
        self._listener.close()
        self.heal()

    def _accept(self) -> None:
        while True:
            try:
                caller, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.append(caller)
                if self._cut.is_set():
                    continue  # held, silent, until the link heals
            try:
                server = socket.create_connection(("127.0.0.1", self._target_port), timeout=10)
            except OSError:
                _close(caller)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.append(server)
            threading.Thread(target=self._relay, args=(caller, server), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, caller), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(_CHUNK):
                if not self._cut.is_set():
                    target.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(target)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
