"""The data fields of a WeChat template message, rendered per language from jinja2 templates.

A template message shows named fields (``first``, ``keyword1`` ...,
``remark`` in the classic industry templates) in the layout the official
account registered. ``templates/wechat.<language>.j2`` decides which fields
there are and what each says: every top-level ``{% set %}`` of the template
is a field, and a field that renders empty is left out. The template is
given ``text``: the kind (alert, update, cancel), the Exercise or Test
marker, the headline, the event, the areas, the instruction, and the
effective and expiry times in Beijing time. The ``first`` field is drawn in
the colour of the warning level.

The info block is the reader's language's (``sms_text.choose_info``); a
language without a template gets the English one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from publisher.cap.model import Alert, MsgType, Status
from publisher.channels.led_text import warning_colour
from publisher.channels.plain_templates import template_for
from publisher.channels.sms_text import BEIJING, choose_info

__all__ = ["LEVEL_COLOURS", "TemplateMessage", "WechatTemplateError", "render_template_data"]

LEVEL_COLOURS: Mapping[str, str] = MappingProxyType({
    "red": "#E60012", "orange": "#F39800", "yellow": "#E6B800", "blue": "#0068B7",
    "white": "#173177"})
COLOURED_FIELD = "first"
_FALLBACK_TEMPLATE_LANGUAGE = "en-US"
_KINDS = {MsgType.ALERT: "alert", MsgType.UPDATE: "update", MsgType.CANCEL: "cancel"}


class WechatTemplateError(ValueError):
    """An alert that cannot become a template message; ``field`` names the part at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Wording:
    kind: str
    marker: str | None
    headline: str
    event: str
    areas: tuple[str, ...]
    instruction: str | None
    effective: datetime | None
    expires: datetime | None


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    """The data of one template message in one language, and the link it opens."""

    language: str
    data: Mapping[str, Mapping[str, str]]
    url: str | None

    def body(self, openid: str, template_id: str, client_msg_id: str) -> dict[str, object]:
        """The JSON of ``POST /cgi-bin/message/template/send`` for one reader."""
        body: dict[str, object] = {"touser": openid, "template_id": template_id,
                                   "client_msg_id": client_msg_id,
                                   "data": {name: dict(value) for name, value in
                                            self.data.items()}}
        if self.url:
            body["url"] = self.url
        return body


def _single_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _kind(msg_type: MsgType) -> str:
    kind = _KINDS.get(msg_type)
    if kind is None:
        raise WechatTemplateError("msg_type", f"{msg_type.value!r} is not sent to subscribers")
    return kind


def _local(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(BEIJING)


def render_template_data(alert: Alert, language: str) -> TemplateMessage:
    """The template message of ``alert`` for a reader of ``language``."""
    info = choose_info(alert, language)
    headline = _single_line(info.headline) or _single_line(info.event)
    if not headline:
        raise WechatTemplateError("headline", f"alert {alert.identifier}: the {info.language}"
                                              " info block has neither a headline nor an event")
    wording = _Wording(
        kind=_kind(alert.msg_type),
        marker={Status.EXERCISE: "exercise", Status.TEST: "test"}.get(alert.status),
        headline=headline, event=_single_line(info.event),
        areas=tuple(dict.fromkeys(_single_line(area.area_desc) for area in info.areas
                                  if area.area_desc.strip())),
        instruction=_single_line(info.instruction) or None,
        effective=_local(info.effective or info.onset or alert.sent),
        expires=_local(info.expires))
    module = template_for("wechat", info.language, _FALLBACK_TEMPLATE_LANGUAGE).make_module(
        {"text": wording})
    fields = {name: str(value).strip() for name, value in vars(module).items()
              if not name.startswith("_") and isinstance(value, str)}
    colour = LEVEL_COLOURS[warning_colour(info)]
    data = {name: MappingProxyType({"value": value, **({"color": colour}
                                                       if name == COLOURED_FIELD else {})})
            for name, value in fields.items() if value}
    return TemplateMessage(info.language, MappingProxyType(data),
                           _single_line(info.web) or None)
