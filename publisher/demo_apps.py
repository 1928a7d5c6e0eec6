"""The demo's app: ``demo-app`` registered once, and ``publisher app listen`` following it.

The app takes the demo's Exercises (and Actual alerts) on the stream. Its
credential is kept in ``DATA_DIR/demo/app-credential`` (readable by its owner
only) and registered again only when it no longer works. The client runs as a
child process of the demo, writing to ``DATA_DIR/demo/app-client.log`` and
keeping its cursor in ``DATA_DIR/demo/app-cursor``, so that after a restart of
the demo it resumes with the next event: nothing missed, nothing shown twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from publisher.cli_users import run_in_session
from publisher.config import Settings
from publisher.process_control import stop_process
from publisher.services.actors import Actor
from publisher.services.apps import (
    APP_CHANNEL,
    app_spec,
    find_app,
    register_app_audited,
    remove_app_audited,
)
from publisher.services.users import token_digest

__all__ = ["DEMO_APP", "DemoAppClient", "start_demo_app_client"]

DEMO_APP = "demo-app"
CURSOR_FILE = "app-cursor"
_ACTOR = Actor.system("publisher demo")
_STOP_GRACE_SECONDS = 10.0


def _directory(settings: Settings) -> Path:
    return settings.paths.data_dir / "demo"


def _credential_file(settings: Settings) -> Path:
    return _directory(settings) / "app-credential"


def _saved_credential(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def _registered_credential(session: Session, saved: str) -> str | None:
    """The demo app, registered unless its saved credential still works; a new credential."""
    app = find_app(session, DEMO_APP)
    if app is not None and saved and app.credential_sha256 == token_digest(saved):
        return None
    if app is not None:
        remove_app_audited(session, _ACTOR, DEMO_APP)
    spec = app_spec({"name": DEMO_APP, "mode": "stream", "statuses": ["Actual", "Exercise"]})
    return register_app_audited(session, _ACTOR, spec).credential


def _save_credential(path: Path, credential: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The credential lets anyone read the app's stream: readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(credential + "\n")


class DemoAppClient:
    """``publisher app listen`` for the demo app, as a child process; ``stop`` ends it."""

    def __init__(self, settings: Settings, url: str) -> None:
        directory = _directory(settings)
        self.url = url
        self.log = directory / "app-client.log"
        self.cursor_file = directory / CURSOR_FILE
        command = [sys.executable, "-m", "publisher.cli", "app", "listen", "--url", url,
                   "--credential-file", str(_credential_file(settings)),
                   "--cursor-file", str(self.cursor_file)]
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def print_welcome(self) -> None:
        print(f"Apps:      {DEMO_APP} follows the stream ({self.url}/api/stream); its client"
              f" prints each alert once in {self.log}")
        print(f"           its deliveries: {self.url}/api/alerts/{{id}}/deliveries"
              f"?channel={APP_CHANNEL}")

    def stop(self) -> None:
        stop_process(self._process, _STOP_GRACE_SECONDS)


def start_demo_app_client(settings: Settings, url: str) -> DemoAppClient | None:
    """Register the demo app when needed and start its client; None without the app channel."""
    if APP_CHANNEL not in settings.channels:
        return None
    path = _credential_file(settings)
    credential = run_in_session(settings, lambda session: _registered_credential(
        session, _saved_credential(path)))
    if credential is not None:
        _save_credential(path, credential)
        # The cursor was the old registration's: the new one starts from its first event.
        (_directory(settings) / CURSOR_FILE).unlink(missing_ok=True)
    return DemoAppClient(settings, url)
