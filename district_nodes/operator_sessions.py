"""Signed-in district operators on the node's pages: a session cookie and a CSRF token.

The cookie holds a random session id only (HttpOnly, SameSite=Strict); the
session knows its user and its CSRF token, which every form of the pages
carries and every POST must give back. Sessions live in the node's memory:
a restart signs everyone out. The sign-in form, which no session covers
yet, gets its token from a cookie of its own (double submit).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["LOGIN_COOKIE", "SESSION_COOKIE", "SESSION_SECONDS", "OperatorSession",
           "OperatorSessions", "new_token", "same_token", "set_cookie"]

SESSION_COOKIE = "node_session"
LOGIN_COOKIE = "node_login_csrf"
SESSION_SECONDS = 8 * 3600
_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class OperatorSession:
    username: str
    csrf: str = field(repr=False)
    expires: float


def new_token() -> str:
    return secrets.token_urlsafe(_TOKEN_BYTES)


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="Strict")


class OperatorSessions:
    def __init__(self) -> None:
        self._sessions: dict[str, OperatorSession] = {}

    def open(self, username: str) -> tuple[str, OperatorSession]:
        """A new session for ``username``: its id (for the cookie) and the session."""
        now = time.monotonic()
        self._sessions = {key: each for key, each in self._sessions.items()
                          if each.expires > now}
        session_id = new_token()
        session = OperatorSession(username, new_token(), now + SESSION_SECONDS)
        self._sessions[session_id] = session
        return session_id, session

    def find(self, request: web.Request) -> OperatorSession | None:
        session = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if session is None or session.expires <= time.monotonic():
            return None
        return session

    def close(self, request: web.Request) -> None:
        self._sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
