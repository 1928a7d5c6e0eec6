"""``publisher intake submit|notify``: post as a demo agency; tell the agencies what changed.

The agency's key is its demo identity (``DATA_DIR/agencies/<code>/``) and
its credential the one ``make demo`` kept (``DATA_DIR/demo/agencies.json``),
or ``--credential-file``. Without a FILE, the message is the sample rainstorm
warning under the agency's sender (``config/agencies.toml``). The answer is
printed as it came (the HTTP status on standard error): the intake record,
or the refusal with its rule.

``notify`` notes each state change of the agencies' alerts and posts the due
webhook notifications, once; run periodically, it keeps the agencies told.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from publisher.cap.signing import sign_alert_xml
from publisher.cli_errors import EXIT_INVALID, EXIT_OK
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.cli_users import run_in_session
from publisher.demo_agencies import saved_agency_credentials
from publisher.services.agencies_file import AGENCIES_FILE, read_agencies_file
from publisher.services.intake_notifications import (
    post_json,
    queue_state_changes,
    send_due_notifications,
)
from publisher.sim.agency_sender import agency_identity, agency_warning, post_intake

__all__ = ["add_intake_commands"]

_RAINSTORM = ("hazard", "rainstorm")


def _credential(arguments: argparse.Namespace, data_dir: Path) -> str | None:
    if arguments.credential_file is not None:
        return str(arguments.credential_file.read_text(encoding="utf-8").strip())
    return saved_agency_credentials(data_dir).get(arguments.agency)


def _sender(config_dir: Path, data_dir: Path, code: str) -> str | None:
    entries = read_agencies_file(config_dir / AGENCIES_FILE, data_dir)
    return next((entry["sender"] for entry in entries if entry["code"] == code), None)


def _submit(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    data_dir = settings.paths.data_dir
    credential = _credential(arguments, data_dir)
    if credential is None:
        print(f"publisher: no credential for agency {arguments.agency}: run `make demo` or"
              " give --credential-file", file=sys.stderr)
        return EXIT_INVALID
    identity = agency_identity(data_dir, arguments.agency, arguments.agency)
    if arguments.file is not None:
        xml = sign_alert_xml(arguments.file.read_bytes(), identity.key_pem,
                             identity.certificate_pem)
    else:
        sender = _sender(settings.paths.config_dir, data_dir, arguments.agency)
        if sender is None:
            print(f"publisher: agency {arguments.agency} is not in {AGENCIES_FILE}; give a"
                  " FILE to sign", file=sys.stderr)
            return EXIT_INVALID
        xml = identity.sign(agency_warning(sender, datetime.now(UTC), event_code=_RAINSTORM,
                                           channels=tuple(arguments.channel)))
    answer = post_intake(arguments.url.rstrip("/") + "/api/intake", credential, xml)
    body: dict[str, Any] = answer.body
    print(f"HTTP {answer.status}", file=sys.stderr)
    print(json.dumps(body, ensure_ascii=False, indent=2))
    return EXIT_OK if answer.status == 201 else EXIT_INVALID


def _notify(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)

    def notifying(session: Session) -> tuple[int, int]:
        now = datetime.now(UTC)
        return queue_state_changes(session, now), send_due_notifications(session, post_json, now)

    written, acknowledged = run_in_session(settings, notifying)
    print(f"{written} state changes noted; {acknowledged} notifications acknowledged")
    return EXIT_OK


def add_intake_commands(commands: Any) -> None:
    parser = commands.add_parser("intake", help="submit signed CAP as an agency")
    actions = parser.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", help="sign as a demo agency and post to /api/intake")
    submit.add_argument("file", type=Path, nargs="?",
                        help="an unsigned CAP message (default: the sample rainstorm warning)")
    submit.add_argument("--agency", required=True, help="the agency's code")
    submit.add_argument("--credential-file", type=Path)
    submit.add_argument("--channel", action="append", default=[],
                        help="a channel the sample warning asks for (repeat)")
    submit.add_argument("--url", default="http://127.0.0.1:8080", help="the platform's base URL")
    add_data_dir_option(submit)
    submit.set_defaults(handler=_submit)
    notify = actions.add_parser("notify", help="note the agencies' state changes and post the"
                                               " due webhook notifications, once")
    add_data_dir_option(notify)
    notify.set_defaults(handler=_notify)
