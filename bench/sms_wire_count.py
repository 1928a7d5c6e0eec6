"""A TCP relay between SMPP binds and the SMSC that counts the SMSC's submit_sm_resp by status.

The binds report a throttled part to nobody (they requeue it and slow
down), so the benchmark counts throttling on the wire: every connection to
the relay gets its own connection to the SMSC, so a limit per bind still
holds per bind, and the bytes pass unchanged both ways.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter

__all__ = ["SubmitResponseCounter"]

_SUBMIT_SM_RESP = 0x80000004
_HEADER = struct.Struct(">LLL")
_CHUNK = 65_536


class SubmitResponseCounter:
    """Listens on 127.0.0.1 (``port``); relays to ``upstream_port``; ``statuses()`` counts."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._counts: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="smpp-relay", daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def statuses(self) -> Counter[int]:
        """submit_sm_resp seen so far, by command_status."""
        with self._lock:
            return Counter(self._counts)

    def __enter__(self) -> SubmitResponseCounter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            except OSError:
                return
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_smsc: bool) -> None:
        pending = bytearray()
        try:
            while chunk := source.recv(_CHUNK):
                target.sendall(chunk)
                if from_smsc:
                    pending += chunk
                    self._count(pending)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def _count(self, pending: bytearray) -> None:
        while len(pending) >= _HEADER.size:
            length, command_id, status = _HEADER.unpack_from(pending)
            if length < _HEADER.size:
                # Out of step: the binds will drop this link; nothing more to read in it.
                pending.clear()
                return
            if len(pending) < length:
                return
            if command_id == _SUBMIT_SM_RESP:
                with self._lock:
                    self._counts[status] += 1
            del pending[:length]
