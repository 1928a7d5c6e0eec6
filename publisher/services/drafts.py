"""Turn composed JSON into a checked draft: the content of the next message.

The center fills in what makes a message a message (identifier, sender,
sent, msgType, references) when it issues one, so a draft holds content
only. It is checked as the message will be: read back into a CAP Alert and
run through the municipal profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from publisher.cap.json_reader import alert_from_json
from publisher.cap.model import Alert, MsgType, Scope, Status
from publisher.cap.problems import Problem, errors_of
from publisher.cap.profiles import Profile
from publisher.cap.views import alert_to_json
from publisher.services.errors import InvalidInput

__all__ = ["ISSUED_FIELDS", "PUBLIC_STATUSES", "CheckedDraft", "check_draft", "invalid_input"]

# Set by the center when it issues a message; a draft never carries them.
ISSUED_FIELDS = ("identifier", "sender", "sent")
PUBLIC_STATUSES = frozenset({Status.ACTUAL, Status.EXERCISE, Status.TEST})
# A draft has no identifier or sender yet, but the CAP model requires both:
# these stand in while the content is checked, are excluded from the check's
# findings, and are stripped before the draft is stored.
_UNISSUED_IDENTIFIER = "110000-YJZX-19700101080000-0000"
_UNISSUED_SENDER = "draft@unissued.invalid"
_SUMMARY_LANGUAGE = "zh-CN"


@dataclass(frozen=True)
class CheckedDraft:
    content: dict[str, Any]
    alert: Alert

    @property
    def status(self) -> Status:
        return self.alert.status

    @property
    def expires_at(self) -> datetime | None:
        """When every info has expired; None when some info never does."""
        moments = [info.expires for info in self.alert.infos]
        if not moments or any(moment is None for moment in moments):
            return None
        return max(moment for moment in moments if moment is not None).astimezone(UTC)

    def summary(self) -> dict[str, str]:
        """Index columns of the alerts table."""
        info = self.alert.info_for(_SUMMARY_LANGUAGE) or (
            self.alert.infos[0] if self.alert.infos else None)
        return {
            "status": str(self.alert.status),
            "event": info.event[:200] if info else "",
            "headline": (info.headline or "")[:500] if info else "",
            "severity": str(info.severity) if info else "",
        }


def invalid_input(problems: list[Problem]) -> InvalidInput:
    """The first error, with a count of the others."""
    first, *others = problems
    more = f" (and {len(others)} more problems)" if others else ""
    return InvalidInput(f"{first.reason}{more}", field=first.path or "alert")


def check_draft(payload: Any, profile: Profile, msg_type: MsgType) -> CheckedDraft:
    """Check composed content that will be issued as a ``msg_type`` message."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("the alert must be a JSON object", field="alert")
    # Content read back from an alert says Alert; anything else here would
    # turn an Update or Cancel into content of its own.
    given_type = payload.get("msgType", str(msg_type))
    if given_type not in (str(MsgType.ALERT), str(msg_type)):
        raise InvalidInput(f"{given_type!r} cannot be composed: this content goes out as a "
                           f"{msg_type} (Update and Cancel are issued on a published alert)",
                           field="msgType")
    if payload.get("references") is not None:
        raise InvalidInput("references are set by the center when it issues an Update or Cancel",
                           field="references")
    filled = {**payload, "identifier": _UNISSUED_IDENTIFIER, "sender": _UNISSUED_SENDER,
              "sent": datetime.now(UTC).isoformat(timespec="seconds"), "msgType": str(msg_type)}
    alert, problems = alert_from_json(filled)
    if alert is None:
        raise invalid_input(errors_of(problems))
    if alert.status not in PUBLIC_STATUSES:
        allowed = ", ".join(sorted(PUBLIC_STATUSES))
        raise InvalidInput(f"{alert.status} is not published by the center (allowed: {allowed})",
                           field="status")
    if alert.scope is not Scope.PUBLIC:
        raise InvalidInput(f"the center publishes Public alerts, not {alert.scope}",
                           field="scope")
    errors = [problem for problem in errors_of(profile.check(alert))
              if problem.path not in (*ISSUED_FIELDS, "references")]
    if errors:
        raise invalid_input(errors)
    content = {name: value for name, value in alert_to_json(alert).items()
               if name not in (*ISSUED_FIELDS, "msgType")}
    return CheckedDraft(content, alert)
