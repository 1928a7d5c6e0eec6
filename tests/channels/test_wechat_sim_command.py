"""``publisher sim wechat`` as a process: it serves the API on the port it prints, and refuses
options that cannot work, naming them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.cli_errors import EXIT_USAGE

PUBLISHER = Path(sys.executable).with_name("publisher")
STOP_SECONDS = 30


def test_the_simulator_serves_tokens_on_the_port_it_prints(tmp_path: Path) -> None:
    with (tmp_path / "sim.log").open("w") as log:
        process = subprocess.Popen(
            [str(PUBLISHER), "sim", "wechat", "--port", "0", "--appid", "wxcli",
             "--secret", "cli-secret", "--token-lifetime", "60"],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("wechat simulator listening on 127.0.0.1:"), \
            (tmp_path / "sim.log").read_text()
        base = f"http://{line.rsplit(' ', 1)[1].strip()}"
        with urllib.request.urlopen(
                f"{base}/cgi-bin/token?grant_type=client_credential&appid=wxcli"
                "&secret=cli-secret", timeout=30) as response:
            token = json.loads(response.read())
        with urllib.request.urlopen(f"{base}/sim/stats", timeout=30) as response:
            stats = json.loads(response.read())
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=STOP_SECONDS)
    assert token["expires_in"] == 60 and token["access_token"]
    assert stats["tokens_issued"] == 1
    assert "cli-secret" not in (tmp_path / "sim.log").read_text()


def test_a_callback_url_without_a_token_is_refused_naming_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "wechat", "--port", "0", "--callback-url",
                 "http://127.0.0.1:8080/wechat/callback"])
    assert code == EXIT_USAGE
    assert "callback_token: required with a callback_url" in capsys.readouterr().err
