"""What a speaker says: the alert as a script for the ear, from jinja2 templates per language.

A script is heard once, outdoors, by people who did not choose to listen:
it says who speaks (the sender), what the warning is (the headline, or the
event), where (the area) and what to do (the instruction). The description
is left out: it is for reading. Exercise and Test messages say so first and
last, so that nobody who catches only the end takes them for a real warning.

A Cancel has its own, short script: the all-clear, which names the warning
(event, colour, area) that is lifted.

The script's language is that of the info block it is read from
(``sms_text.choose_info``: the target's language, else zh-CN, else the
first), so that Chinese words are always spoken by a Chinese voice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jinja2

from publisher.cap.model import Alert, Info, MsgType, Status
from publisher.cap.municipal import WARNING_COLOR_NAME
from publisher.channels.base import PermanentChannelError
from publisher.channels.plain_templates import TEMPLATES_DIR
from publisher.channels.sms_text import choose_info
from publisher.channels.speech import SpeechScript

__all__ = ["SCRIPT_LANGUAGES", "render_script"]

# Each has a template (speaker.<language>.j2) and a default voice (speech.DEFAULT_VOICES).
SCRIPT_LANGUAGES = ("zh-CN", "en-US")
# The words of an info block in another language are read by the English
# template: its frame is understood most widely.
_FALLBACK_LANGUAGE = "en-US"
_KINDS = {MsgType.ALERT: "alert", MsgType.UPDATE: "update", MsgType.CANCEL: "all-clear"}
_MARKERS = {Status.EXERCISE: "exercise", Status.TEST: "test"}


@dataclass(frozen=True, slots=True)
class _Announcement:
    """What a template is given; the template decides the words around it."""

    kind: str
    marker: str | None
    sender: str | None
    headline: str
    event: str | None
    colour: str | None
    areas: tuple[str, ...]
    instruction: str | None


@functools.cache
def _environment() -> jinja2.Environment:
    # Spoken text, not HTML: escaping would have the voice read "&amp;". A
    # template writes a sentence or two per line; the lines are joined after.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined, lstrip_blocks=True)


def _script_language(info_language: str) -> str:
    primary = info_language.split("-", 1)[0].casefold()
    for language in SCRIPT_LANGUAGES:
        if language.split("-", 1)[0].casefold() == primary:
            return language
    return _FALLBACK_LANGUAGE


def _kind(msg_type: MsgType) -> str:
    kind = _KINDS.get(msg_type)
    if kind is None:
        raise PermanentChannelError(f"msg_type: {msg_type} is not announced on speakers;"
                                    f" expected one of {', '.join(_KINDS)}")
    return kind


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _announcement(alert: Alert, info: Info | None) -> _Announcement:
    kind, marker = _kind(alert.msg_type), _MARKERS.get(alert.status)
    if info is None:
        # A Cancel that only names what it cancels: the all-clear names no warning.
        return _Announcement(kind=kind, marker=marker, sender=None, headline="", event=None,
                             colour=None, areas=(), instruction=None)
    headline = _text(info.headline) or _text(info.event)
    if headline is None:
        raise PermanentChannelError(f"headline: alert {alert.identifier} has neither a headline"
                                    " nor an event to announce")
    areas = dict.fromkeys(area.area_desc.strip() for area in info.areas if area.area_desc.strip())
    colour = _text(info.parameter(WARNING_COLOR_NAME))
    return _Announcement(
        kind=kind, marker=marker, sender=_text(info.sender_name), headline=headline,
        event=_text(info.event) or headline, colour=None if colour is None else colour.casefold(),
        areas=tuple(areas), instruction=_text(info.instruction))


def render_script(alert: Alert, language: str) -> SpeechScript:
    """The script of ``alert`` for listeners of ``language``: an announcement, or an all-clear.

    The script's own language may differ from ``language`` when the alert
    has no info block in it. A Cancel without info blocks still has its
    all-clear. Raises PermanentChannelError when the alert has nothing to
    announce.
    """
    info = choose_info(alert, language) if alert.infos else None
    if info is None and alert.msg_type is not MsgType.CANCEL:
        raise PermanentChannelError(f"info: alert {alert.identifier} has no info block")
    script_language = _script_language(language if info is None else info.language)
    template = _environment().get_template(f"speaker.{script_language}.j2")
    lines = template.render(say=_announcement(alert, info)).splitlines()
    text = " ".join(line.strip() for line in lines if line.strip())
    return SpeechScript(script_language, text)
