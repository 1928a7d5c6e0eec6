"""Two agencies registered through the API, each with its demo identity, and their posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.cap.model import Status
from publisher.sim.agency_sender import AgencyIdentity, agency_identity, agency_warning
from tests.integration.api_client import Api, Reply

__all__ = ["WEATHER", "AgencyUnderTest", "register_agency", "warning"]

CAP = "application/cap+xml"
RAINSTORM = ("hazard", "rainstorm")
WEATHER = {"code": "weather", "name": "Beijing Meteorological Service",
           "sender": "bjmb@weather.bj.gov.cn", "contact": "duty@weather.bj.gov.cn",
           "permissions": {"event_codes": ["hazard=rainstorm", "hazard=heat"],
                           "districts": ["110105", "110108"], "statuses": ["Exercise", "Test"],
                           "channels": ["sms", "led"]}}


@dataclass
class AgencyUnderTest:
    code: str
    sender: str
    credential: str
    webhook_secret: str
    identity: AgencyIdentity

    async def submit(self, api: Api, xml: bytes, credential: str | None = None) -> Reply:
        return await api.call("POST", "/api/intake", data=xml, content_type=CAP,
                              headers={"Authorization": f"Bearer {credential or self.credential}"})


def warning(sender: str, *, event_code: tuple[str, str] = RAINSTORM,
            channels: tuple[str, ...] = ("sms",), status: Status = Status.EXERCISE,
            sequence: int = 1) -> Any:
    return agency_warning(sender, datetime.now(UTC), event_code=event_code, channels=channels,
                          status=status, sequence=sequence)


async def register_agency(api: Api, data_dir: Path, fields: dict[str, Any]) -> AgencyUnderTest:
    identity = agency_identity(data_dir, fields["code"], fields["name"])
    body = {"certificates": [identity.certificate_pem.decode("ascii")], **fields}
    reply = await api.call("POST", "/api/agencies", user="admin", json_body=body)
    assert reply.status == 201, reply.body
    return AgencyUnderTest(fields["code"], fields["sender"], reply.body["credential"],
                           reply.body["webhook_secret"], identity)
