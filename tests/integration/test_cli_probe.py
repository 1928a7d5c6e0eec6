"""``publisher probe URL``: a container's health check, against a real HTTP server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from publisher.cli import main
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from publisher.local_ports import free_port

pytestmark = pytest.mark.asyncio

SLOW_SECONDS = 5.0


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _failing(_request: web.Request) -> web.Response:
    return web.json_response({"status": "failing"}, status=503)


async def _moved(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/ok")


async def _slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(SLOW_SECONDS)
    return web.Response(text="late")


@pytest_asyncio.fixture
async def server(aiohttp_server: Any) -> Any:
    app = web.Application()
    app.router.add_get("/ok", _ok)
    app.router.add_get("/failing", _failing)
    app.router.add_get("/moved", _moved)
    app.router.add_get("/slow", _slow)
    return await aiohttp_server(app)


async def _probe(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    # urllib blocks: off the event loop that serves the request.
    code = await asyncio.to_thread(main, ["probe", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_a_2xx_answer_is_healthy(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await _probe(capsys, str(server.make_url("/ok")))
    assert code == EXIT_OK
    assert "HTTP 200" in out


async def test_a_redirect_is_followed(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await _probe(capsys, str(server.make_url("/moved")))
    assert (code, "HTTP 200" in out) == (EXIT_OK, True)


async def test_a_503_is_unhealthy_and_says_so(server: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await _probe(capsys, str(server.make_url("/failing")))
    assert code == EXIT_INVALID
    assert "HTTP 503" in err


async def test_no_answer_within_the_timeout_is_unhealthy(
        server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await _probe(capsys, str(server.make_url("/slow")), "--timeout", "0.5")
    assert code == EXIT_INVALID
    assert "timed out" in err


async def test_nothing_listening_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/health"
    code, _, err = await _probe(capsys, url)
    assert code == EXIT_INVALID
    assert url in err


@pytest.mark.parametrize(("arguments", "named"), [
    (["ftp://127.0.0.1/health"], "URL"),
    (["127.0.0.1:8080/health"], "URL"),
    (["http://127.0.0.1:8080/health", "--timeout", "0"], "--timeout"),
])
async def test_a_bad_url_or_timeout_is_a_usage_error_naming_it(
        arguments: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await _probe(capsys, *arguments)
    assert code == EXIT_USAGE
    assert f"publisher: {named}:" in err
