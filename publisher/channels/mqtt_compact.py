"""The compact JSON form of a CAP message, for terminals too simple to read signed XML.

It is the CAP JSON view (``publisher.cap.views.alert_to_json``, CAP element
names) less what a terminal does not act on: descriptions, resources,
polygons and circles (areas keep their description and geocodes). It is not
signed; ``sha256`` is the digest of the signed CAP XML published beside it
on the ``cap`` topic, which a terminal that can verify should read instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from publisher.cap.views import alert_to_json
from publisher.channels.base import OutgoingMessage

__all__ = ["compact_json"]

_ALERT_FIELDS = ("identifier", "sender", "sent", "status", "msgType", "scope", "note",
                 "references", "incidents", "info")
_INFO_FIELDS = ("language", "category", "event", "urgency", "severity", "certainty",
                "eventCode", "effective", "onset", "expires", "senderName", "headline",
                "instruction", "parameter", "area")
_AREA_FIELDS = ("areaDesc", "geocode")


def _only(fields: Mapping[str, Any], kept: tuple[str, ...]) -> dict[str, Any]:
    return {name: fields[name] for name in kept if name in fields}


def compact_json(message: OutgoingMessage) -> bytes:
    view = _only(alert_to_json(message.alert), _ALERT_FIELDS)
    view["info"] = [
        _only(info, _INFO_FIELDS) | {"area": [_only(area, _AREA_FIELDS)
                                              for area in info.get("area", [])]}
        for info in view.get("info", [])]
    view["sha256"] = hashlib.sha256(message.xml).hexdigest()
    return json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
