"""What the composer previews: an alert's content as the channels would be handed it.

A preview is of the alert's draft, the content its next message carries,
read back into a CAP Alert as that message will be (identifier, sender and
sent stand in until the center issues it). Only the people who write and
approve alerts preview them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from publisher.cap.model import Alert, MsgType
from publisher.cap.profiles import Profile
from publisher.services.actors import Actor
from publisher.services.drafts import check_draft
from publisher.services.errors import Forbidden
from publisher.services.queries import get_alert
from publisher.store.models import Role

__all__ = ["PREVIEW_ROLES", "AlertPreview", "preview_alert"]

PREVIEW_ROLES = (Role.AUTHOR, Role.APPROVER)


@dataclass(frozen=True, slots=True)
class AlertPreview:
    alert: Alert
    # SHA-256 of the draft's content: what a channel's cached preview is made from.
    source: str


def preview_alert(session: Session, actor: Actor, alert_id: int,
                  profile: Profile) -> AlertPreview:
    if not any(actor.has_role(role) for role in PREVIEW_ROLES):
        needed = " or ".join(str(role) for role in PREVIEW_ROLES)
        raise Forbidden(f"previewing an alert needs the {needed} role, which {actor.name}"
                        " does not have", field="role")
    stored = get_alert(session, alert_id)
    draft = check_draft(stored.draft, profile, MsgType.ALERT)
    content = json.dumps(stored.draft, sort_keys=True, ensure_ascii=False).encode()
    return AlertPreview(draft.alert, hashlib.sha256(content).hexdigest())
