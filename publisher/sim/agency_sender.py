"""A simulated agency: its demo signing identity, a warning it writes, and the post to intake.

Each demo agency signs with an identity in ``<data_dir>/agencies/<code>/``,
made on first use as the other demo identities are. Its warning is the
sample rainstorm warning (``publisher.sample_alert``) under the agency's
sender, with the agency's event code and the channels it asks for.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.cap.keys import generate_demo_identity
from publisher.cap.model import Alert, NamedValue, Status
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.sender_permissions import CHANNELS_PARAMETER

__all__ = ["AgencyIdentity", "PostedIntake", "agency_identity", "agency_warning", "post_intake"]

IDENTITY_DIR = "agencies"
_POST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AgencyIdentity:
    key_pem: bytes = field(repr=False)
    certificate_pem: bytes = field(repr=False)

    def sign(self, alert: Alert) -> bytes:
        return sign_alert_xml(write_alert(alert), self.key_pem, self.certificate_pem)


def agency_identity(data_dir: Path, code: str, name: str) -> AgencyIdentity:
    """The demo agency's key and certificate in ``data_dir/agencies/<code>``, made when missing."""
    directory = data_dir / IDENTITY_DIR / code
    key, certificate = directory / "key.pem", directory / "cert.pem"
    if not key.exists() and not certificate.exists():
        # Another process may make it meanwhile.
        with contextlib.suppress(FileExistsError):
            generate_demo_identity(directory, f"{name} (demo)")
    return AgencyIdentity(key.read_bytes(), certificate.read_bytes())


def agency_warning(sender: str, sent: datetime, *, event_code: tuple[str, str],
                   channels: tuple[str, ...] = (), status: Status = Status.EXERCISE,
                   sequence: int = 1) -> Alert:
    """The sample rainstorm warning as ``sender`` writes it, with its event code and channels."""
    sample = rainstorm_red_warning(sent, sequence, status)
    asked = (NamedValue(CHANNELS_PARAMETER, " ".join(channels)),) if channels else ()
    return replace(sample, sender=sender, infos=tuple(
        replace(info, event_codes=(NamedValue(*event_code),),
                parameters=(*info.parameters, *asked)) for info in sample.infos))


@dataclass(frozen=True, slots=True)
class PostedIntake:
    status: int
    body: dict[str, Any]


def post_intake(url: str, credential: str, signed_xml: bytes) -> PostedIntake:
    """POST the signed message to ``url`` (``.../api/intake``); the answer, refusals included."""
    request = urllib.request.Request(url, data=signed_xml, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/cap+xml",
                                              "Authorization": f"Bearer {credential}"})
    try:
        with urllib.request.urlopen(request, timeout=_POST_TIMEOUT_SECONDS) as answer:  # noqa: S310
            return PostedIntake(answer.status, json.loads(answer.read()))
    except urllib.error.HTTPError as refused:
        return PostedIntake(refused.code, json.loads(refused.read() or b"{}"))
