"""Feed requests per second: ``/feeds/alerts.atom`` from ``publisher web`` against nginx
serving a static copy of the same bytes, with the same load tool (ab, keep-alive), in
one run: a fresh 200 and a conditional 304 (If-None-Match with each server's own ETag).

    .venv/bin/python -m bench.feed_requests [--alerts N] [--requests N] [--concurrency N] [--runs N]

Needs Debian's nginx and apache2-utils (ab). The platform runs on SQLite in a
temporary directory, its feed holding ``--alerts`` alerts put on it by the
real feed channel.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.sms_support import machine_line
from publisher.cap.views import alert_to_json
from publisher.channels.feed import FeedChannel
from publisher.channels.registry import register_channel
from publisher.config import load_settings
from publisher.local_ports import free_port
from publisher.process_control import stop_process
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.actors import Actor
from publisher.services.delivery import fan_out, send_batch
from publisher.services.feeds import FeedOptions, FeedRebuilder, ensure_feed_target
from publisher.services.lifecycle import approve, compose, submit
from publisher.services.signer import CenterSigner
from publisher.store.db import make_engine, make_session_factory, session_scope, upgrade_database
from publisher.store.models import Role, User, UserRole

FEED_PATH = "/feeds/alerts.atom"
_RATE = re.compile(rb"Requests per second:\s+([\d.]+)")
_FAILED = re.compile(rb"Non-2xx responses:\s+(\d+)")


def _publish_alerts(data_dir: Path, config: Path, alerts: int) -> None:
    settings = load_settings({"PUBLISHER_CONFIG": str(config)}, data_dir=data_dir)
    upgrade_database(settings.database_url)
    sessions = make_session_factory(make_engine(settings.database_url))
    signer = CenterSigner.load_or_create(settings)
    register_channel(FeedChannel)
    channel = FeedChannel({"republisher": FeedRebuilder(sessions,
                                                        FeedOptions.read(settings).site)})
    with session_scope(sessions) as session:
        ensure_feed_target(session, settings.division_code, is_test=True)
        people = [User(username=name, password_hash="no-login", roles=[UserRole(role=role)])
                  for name, role in (("bench-author", Role.AUTHOR),
                                     ("bench-approver", Role.APPROVER))]
        session.add_all(people)
        session.flush()
        author, approver = (Actor.of_user(user) for user in people)
    for _ in range(alerts):
        payload = alert_to_json(rainstorm_red_warning(datetime.now(UTC)))
        for name in ("identifier", "sender", "sent"):
            del payload[name]
        with session_scope(sessions) as session:
            alert = compose(session, author, payload)
            submit(session, author, alert.id)
            message_id = approve(session, approver, alert.id, signer).id
        fan_out(sessions, message_id, 100,
                lambda _name, ids: send_batch(sessions, channel, ids), channels=("feed",))


def _wait_for(url: str, timeout: float = 30.0) -> tuple[bytes, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read(), response.headers["ETag"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ab(url: str, requests: int, concurrency: int, etag: str | None) -> float:
    command = ["ab", "-q", "-k", "-n", str(requests), "-c", str(concurrency)]
    if etag is not None:
        command += ["-H", f"If-None-Match: {etag}"]
    output = subprocess.run([*command, url], capture_output=True, check=True).stdout
    failed = _FAILED.search(output)
    if etag is None and failed is not None and int(failed.group(1)):
        raise RuntimeError(f"{url}: {failed.group(1).decode()} answers were not 200")
    found = _RATE.search(output)
    if found is None:
        raise RuntimeError(f"ab printed no rate: {output[-300:]!r}")
    return float(found.group(1))


def _nginx(root: Path, port: int) -> subprocess.Popen[bytes]:
    config = root / "nginx.conf"
    config.write_text(f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  types {{ application/atom+xml atom; }}
  server {{ listen 127.0.0.1:{port}; root {root}/static; location / {{ etag on; }} }}
}}
""")
    return subprocess.Popen(["nginx", "-c", str(config), "-p", str(root)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for tool in ("nginx", "ab"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y nginx apache2-utils", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="feed-bench-") as scratch:
        root = Path(scratch)
        # nginx's workers run as an unprivileged user; they read the static copy from here.
        root.chmod(0o755)
        config = root / "publisher.toml"
        web_port, nginx_port = free_port(), free_port()
        config.write_text("[channel_options.feed]\ntest_target = true\n"
                          f'public_url = "http://127.0.0.1:{web_port}"\n')
        _publish_alerts(root / "data", config, args.alerts)
        environment = {"PUBLISHER_CONFIG": str(config), "PUBLISHER_DATA_DIR": str(root / "data"),
                       "PATH": "/usr/bin:/bin"}
        web = subprocess.Popen([sys.executable, "-m", "publisher.cli", "web", "--port",
                                str(web_port)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            web_url = f"http://127.0.0.1:{web_port}{FEED_PATH}"
            body, web_etag = _wait_for(web_url)
            (root / "static" / "feeds").mkdir(parents=True)
            (root / "static" / "feeds" / "alerts.atom").write_bytes(body)
            nginx = _nginx(root, nginx_port)
            try:
                nginx_url = f"http://127.0.0.1:{nginx_port}{FEED_PATH}"
                static_body, nginx_etag = _wait_for(nginx_url)
                assert static_body == body
                rates: dict[str, list[float]] = {}
                for _ in range(args.runs):
                    for name, url, etag in (("publisher 200", web_url, None),
                                            ("nginx 200", nginx_url, None),
                                            ("publisher 304", web_url, web_etag),
                                            ("nginx 304", nginx_url, nginx_etag)):
                        rates.setdefault(name, []).append(
                            _ab(url, args.requests, args.concurrency, etag))
            finally:
                stop_process(nginx, 5.0)
        finally:
            stop_process(web, 5.0)
    print(machine_line())
    print(f"feed: {len(body):,} bytes, {args.alerts} entries; ab -k -n {args.requests}"
          f" -c {args.concurrency}, {args.runs} runs each, interleaved")
    for name, values in rates.items():
        runs = ", ".join(f"{value:,.0f}" for value in values)
        print(f"{name}: median {statistics.median(values):,.0f} requests/s (runs: {runs})")
    for kind in ("200", "304"):
        ratio = statistics.median(rates[f"publisher {kind}"]) / statistics.median(
            rates[f"nginx {kind}"])
        print(f"ratio publisher/nginx, {kind}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
