"""A browser without JavaScript for the node's operator pages: cookies, forms, no redirects
followed, so that every answer (a 303 and its cookies too) can be looked at."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

import lxml.html


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_arguments: Any, **_options: Any) -> None:
        return None


@dataclass(frozen=True)
class Page:
    status: int
    headers: Message
    html: str

    def tree(self) -> Any:
        return lxml.html.fromstring(self.html or "<html></html>")

    def csrf(self) -> str:
        [token] = self.tree().xpath("//form//input[@name='csrf']/@value")[:1]
        return str(token)

    def text_of(self, xpath: str) -> list[str]:
        return [" ".join(element.text_content().split()) for element in self.tree().xpath(xpath)]


class OperatorClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects())

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(f"{self.base_url}{path}"))

    def post(self, path: str, fields: dict[str, str]) -> Page:
        return self._open(urllib.request.Request(
            f"{self.base_url}{path}", data=urllib.parse.urlencode(fields).encode(),
            method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}))

    def sign_in(self, username: str, password: str) -> Page:
        form = self.get("/ui/login")
        return self.post("/ui/login", {"csrf": form.csrf(), "username": username,
                                       "password": password})

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self._opener.open(request, timeout=30) as response:
                return Page(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            return Page(error.code, error.headers, error.read().decode())
