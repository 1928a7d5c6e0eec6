"""What a citizen asks the public pages, feeds and timeline for: district, language, severity.

A district may be named by its code or by its name (``110105``, ``朝阳区``,
``Chaoyang``); a language by its tag or its name. The language of a page is
the one asked for with ``?lang=``, else the first of ``Accept-Language`` that
the platform speaks, else Chinese.
"""

from __future__ import annotations

from aiohttp import web

from publisher.services.errors import InvalidInput
from publisher.services.languages import DEFAULT_LANGUAGE, LANGUAGES, language_named
from publisher.services.public_alerts import AlertFilter
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["alert_filter", "page_language", "requested_language"]


def _district_code(request: web.Request) -> str | None:
    text = request.query.get("district", "").strip()
    if not text:
        return None
    names = request.app[DISTRICT_NAMES]
    found = names.find(text)
    if found is None:
        close = ", ".join(f"{district.code} ({district.name_en})"
                          for district in names.close_to(text))
        raise InvalidInput(f"{text!r} names no district" + (f"; did you mean {close}?"
                                                             if close else ""),
                           field="district")
    return found.code


def alert_filter(request: web.Request) -> AlertFilter:
    return AlertFilter.read(_district_code(request), request.query.get("severity"))


def requested_language(request: web.Request) -> str | None:
    """The language ``?lang=`` asks for, or None when it asks for none."""
    text = request.query.get("lang", "").strip()
    if not text:
        return None
    language = language_named(text)
    if language is None:
        raise InvalidInput(f"{text!r} is not a language of the platform"
                           f" ({', '.join(LANGUAGES)})", field="lang")
    return language


def _accepted(header: str) -> list[str]:
    """The languages of an Accept-Language header that the platform speaks, best first."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        language = language_named(tag) or language_named(tag.split("-", 1)[0])
        if language is not None and weight > 0:
            weighted.append((-weight, position, language))
    return [language for _, _, language in sorted(weighted)]


def page_language(request: web.Request) -> str:
    requested = requested_language(request)
    if requested is not None:
        return requested
    accepted = _accepted(request.headers.get("Accept-Language", ""))
    return accepted[0] if accepted else DEFAULT_LANGUAGE
