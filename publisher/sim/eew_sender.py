"""A simulated seismic network: builds, signs and posts an earthquake early warning.

The demo's sender is the one ``config/eew.toml`` registers, signing with the
identity in ``<data_dir>/eew/`` (made on first use, as the other demo
identities are). The warning names the quake in ``EEW_EPICENTRE`` and
``EEW_MAGNITUDE`` (``publisher.cap.eew``) and carries the sender's event
code; the center adds the countdowns when it publishes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.cap.eew import EPICENTRE, MAGNITUDE, Quake
from publisher.cap.keys import generate_demo_identity
from publisher.cap.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    NamedValue,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.municipal import BEIJING_TIME, DIVISION_CODE_NAME, make_identifier
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert

__all__ = [
    "DEMO_SENDER",
    "EEW_EVENT_CODE",
    "EewSenderIdentity",
    "PostedEew",
    "build_eew_alert",
    "post_eew",
    "sender_identity",
]

DEMO_SENDER = "eew@dzj.beijing.gov.cn"
EEW_EVENT_CODE = NamedValue("EEW", "earthquake")
IDENTITY_DIR = "eew"
_AGENCY = "DZJ"
_VALID_MINUTES = 10
_POST_TIMEOUT_SECONDS = 10.0
_sequence = itertools.count(1)


@dataclass(frozen=True)
class EewSenderIdentity:
    key_pem: bytes = field(repr=False)
    certificate_pem: bytes = field(repr=False)
    certificate_file: Path

    def sign(self, alert: Alert) -> bytes:
        return sign_alert_xml(write_alert(alert), self.key_pem, self.certificate_pem)


def sender_identity(data_dir: Path) -> EewSenderIdentity:
    """The demo sender's key and certificate in ``data_dir/eew``, made when missing."""
    directory = data_dir / IDENTITY_DIR
    key, certificate = directory / "key.pem", directory / "cert.pem"
    if not key.exists() and not certificate.exists():
        # Another process may make it meanwhile.
        with contextlib.suppress(FileExistsError):
            generate_demo_identity(directory, "Beijing earthquake early-warning system (demo)")
    return EewSenderIdentity(key.read_bytes(), certificate.read_bytes(), certificate)


def _info(language: str, quake: Quake, sent: datetime,
          districts: Sequence[str]) -> Info:
    chinese = language == "zh-CN"
    return Info(
        language=language, categories=(Category.GEO,),
        event="地震" if chinese else "Earthquake",
        response_types=(ResponseType.SHELTER,), urgency=Urgency.IMMEDIATE,
        severity=Severity.EXTREME, certainty=Certainty.LIKELY,
        event_codes=(EEW_EVENT_CODE,), effective=sent, onset=sent,
        expires=sent + timedelta(minutes=_VALID_MINUTES),
        sender_name="北京市地震局" if chinese else "Beijing Earthquake Agency",
        headline=(f"{quake.magnitude_text}级地震预警" if chinese
                  else f"Earthquake early warning, magnitude {quake.magnitude_text}"),
        description=(f"震中北纬{quake.lat}度、东经{quake.lon}度，预估震级{quake.magnitude_text}级。"
                     if chinese else f"Epicentre {quake.lat} N, {quake.lon} E; estimated"
                                     f" magnitude {quake.magnitude_text}."),
        parameters=(NamedValue(EPICENTRE, f"{quake.lat},{quake.lon}"),
                    NamedValue(MAGNITUDE, quake.magnitude_text),
                    NamedValue("warningColor", "red")),
        areas=tuple(Area(area_desc=f"GB/T 2260 {code}",
                         geocodes=(NamedValue(DIVISION_CODE_NAME, code),))
                    for code in districts))


def build_eew_alert(quake: Quake, *, status: Status = Status.EXERCISE,
                    districts: Sequence[str] = ("110000",), sender: str = DEMO_SENDER,
                    sent: datetime | None = None) -> Alert:
    moment = (sent or datetime.now(UTC)).astimezone(BEIJING_TIME).replace(microsecond=0)
    return Alert(
        identifier=make_identifier("110000", _AGENCY, moment, next(_sequence) % 10_000),
        sender=sender, sent=moment, status=status, msg_type=MsgType.ALERT, scope=Scope.PUBLIC,
        infos=tuple(_info(language, quake, moment, districts)
                    for language in ("zh-CN", "en-US")))


@dataclass(frozen=True, slots=True)
class PostedEew:
    status: int
    body: dict[str, Any]


def post_eew(url: str, signed_xml: bytes) -> PostedEew:
    """POST the signed message to ``url`` (``.../api/eew``); the answer, refusals included."""
    request = urllib.request.Request(url, data=signed_xml, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/cap+xml"})
    try:
        with urllib.request.urlopen(request, timeout=_POST_TIMEOUT_SECONDS) as answer:  # noqa: S310
            return PostedEew(answer.status, json.loads(answer.read()))
    except urllib.error.HTTPError as refused:
        return PostedEew(refused.code, json.loads(refused.read() or b"{}"))
