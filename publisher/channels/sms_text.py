"""The words of an alert SMS, rendered from jinja2 templates per language.

An SMS carries what a person must know at once: the headline, what to do
(the instruction) and until when (the expiry, in Beijing time). The
description is left out: it costs parts and the web page has it. A Chinese
SMS starts with the sender's signature, which carriers in China require,
and every SMS ends with how to unsubscribe. An Update says so; a Cancel says
that the warning it names is lifted. Exercise and Test messages are marked,
so that nobody takes them for a real warning.

A text that would need more than ``max_parts`` SMS keeps its instruction
whole up to a sentence boundary and says where the rest is (the alert's web
link) or that it was shortened: an instruction is never cut silently, nor in
the middle of a word or a surrogate pair.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

import jinja2

from publisher.cap.model import Alert, Info, MsgType, Status
from publisher.channels.plain_templates import plain_environment
from publisher.channels.sms_encoding import SmsEncodingError, count_parts

__all__ = [
    "DEFAULT_MAX_PARTS",
    "DEFAULT_SIGNATURE",
    "DEFAULT_UNSUBSCRIBE_HINTS",
    "SmsTextError",
    "choose_info",
    "render_sms",
]

DEFAULT_SIGNATURE = "【北京市预警信息发布中心】"
DEFAULT_UNSUBSCRIBE_HINTS: Mapping[str, str] = MappingProxyType(
    {"zh-CN": "回复TD退订", "en-US": "Reply STOP to unsubscribe"})
DEFAULT_MAX_PARTS = 4
FALLBACK_LANGUAGE = "zh-CN"
# Wording for a language we have no template for: English is the most widely read.
FALLBACK_TEMPLATE_LANGUAGE = "en-US"
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_KINDS = {MsgType.ALERT: "alert", MsgType.UPDATE: "update", MsgType.CANCEL: "cancel"}
# Full-width marks end a Chinese sentence or clause wherever they stand; an
# ASCII mark only before a space or the end, so that "3.5 mm" stays whole.
_SENTENCE_END = re.compile(r"[。！？；]|[.!?;](?=\s|$)")


class SmsTextError(SmsEncodingError):
    """An alert that cannot become an SMS text; ``field`` says which part is at fault."""


@dataclass(frozen=True, slots=True)
class _Wording:
    """What a template is given; the template decides the words around it."""

    kind: str
    marker: str | None
    signature: str
    headline: str
    instruction: str | None
    shortened: bool
    web: str | None
    expires: datetime | None
    unsubscribe_hint: str | None


def _primary(language: str) -> str:
    return language.split("-", 1)[0].casefold()


def _matching(languages: list[str], wanted: str) -> str | None:
    """The first of ``languages`` equal to ``wanted``, else the first with its primary subtag."""
    for language in languages:
        if language.casefold() == wanted.casefold():
            return language
    for language in languages:
        if _primary(language) == _primary(wanted):
            return language
    return None


def choose_info(alert: Alert, language: str) -> Info:
    """The info block for a reader of ``language``: exact, same primary language, zh-CN, first."""
    if not alert.infos:
        raise SmsTextError("info", f"alert {alert.identifier} has no info block to render")
    languages = [info.language for info in alert.infos]
    found = _matching(languages, language) or _matching(languages, FALLBACK_LANGUAGE)
    if found is None:
        return alert.infos[0]
    return alert.infos[languages.index(found)]


@functools.cache
def _template_languages() -> tuple[str, ...]:
    return tuple(name.removeprefix("sms.").removesuffix(".j2")
                 for name in plain_environment().list_templates(extensions=["j2"])
                 if name.startswith("sms."))


def _template_language(info_language: str) -> str:
    return _matching(list(_template_languages()), info_language) or FALLBACK_TEMPLATE_LANGUAGE


def _kind(msg_type: str) -> str:
    for candidate, kind in _KINDS.items():
        if candidate.value.casefold() == msg_type.casefold():
            return kind
    raise SmsTextError("msg_type", f"{msg_type!r} is not sent by SMS;"
                                   f" expected one of {', '.join(_KINDS)}")


def _marker(status: Status) -> str | None:
    return {Status.EXERCISE: "exercise", Status.TEST: "test"}.get(status)


def _hint(hints: Mapping[str, str], language: str) -> str | None:
    found = _matching(list(hints), language)
    return None if found is None else hints[found]


def _headline(info: Info) -> str:
    headline = (info.headline or info.event).strip()
    if not headline:
        raise SmsTextError("headline", "the info block has neither a headline nor an event")
    return headline


def _shorter_instructions(instruction: str) -> Iterator[str]:
    """Ever shorter leading sentences of ``instruction``, longest first, never empty."""
    whole = instruction.rstrip()
    ends = [match.end() for match in _SENTENCE_END.finditer(whole) if match.end() < len(whole)]
    for end in reversed(ends):
        yield whole[:end].rstrip()


def _render(template: jinja2.Template, wording: _Wording) -> str:
    return template.render(text=wording).strip()


def render_sms(alert: Alert, msg_type: str, language: str, *,
               signature: str = DEFAULT_SIGNATURE,
               unsubscribe_hint: Mapping[str, str] = DEFAULT_UNSUBSCRIBE_HINTS,
               max_parts: int = DEFAULT_MAX_PARTS) -> str:
    """The SMS text of ``alert`` for a subscriber who reads ``language``.

    ``msg_type`` is the CAP msgType that decides the wording (Alert, Update,
    Cancel). Raises SmsTextError when the alert has nothing to say, or when
    even its first instruction sentence does not fit ``max_parts`` SMS.
    """
    if max_parts < 1:
        raise SmsTextError("max_parts", f"{max_parts} is not a positive number of parts")
    info = choose_info(alert, language)
    template_language = _template_language(info.language)
    template = plain_environment().get_template(f"sms.{template_language}.j2")
    instruction = (info.instruction or "").strip() or None
    wording = _Wording(
        kind=_kind(msg_type), marker=_marker(alert.status), signature=signature,
        headline=_headline(info), instruction=instruction, shortened=False,
        web=(info.web or "").strip() or None,
        expires=None if info.expires is None else info.expires.astimezone(BEIJING),
        unsubscribe_hint=_hint(unsubscribe_hint, template_language))
    text = _render(template, wording)
    parts = count_parts(text)
    if parts <= max_parts:
        return text
    for shorter in _shorter_instructions(instruction or ""):
        shortened = _render(template, replace(wording, instruction=shorter, shortened=True))
        if count_parts(shortened) <= max_parts:
            return shortened
    raise SmsTextError("instruction", f"alert {alert.identifier} needs {parts} SMS in"
                                      f" {template_language} even with its instruction cut to"
                                      f" one sentence; the limit is {max_parts}")
