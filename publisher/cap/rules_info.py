"""Rules of CAP 1.2 sections 3.2.2 (<info>) and 3.2.3 (<resource>).

Several info blocks in one language are allowed (one per event or per set
of areas), so a repeated language is not a finding.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from datetime import datetime

from publisher.cap.clauses import INFO_CLAUSE, RESOURCE_CLAUSE
from publisher.cap.model import Info, Resource
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.rules_area import check_area
from publisher.cap.rules_common import (
    aware,
    blank_problems,
    indexed_problems,
    is_blank,
    time_zone_problems,
    value_name_problems,
)

__all__ = ["check_info"]

# RFC 3066 language tag, which section 3.2.2 prescribes for <language>.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
# RFC 3986 absolute URI: a scheme, a colon, and no whitespace.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_MIME_TYPE = re.compile(r"[\w!#$&^.+\-]+/[\w!#$&^.+\-]+(\s*;.*)?")
_SHA1_HEX = re.compile(r"[0-9A-Fa-f]{40}")


def check_info(info: Info, path: str, sent: datetime) -> list[Problem]:
    """Findings about one info block at ``path``, an alert sent at ``sent``."""
    return [
        *_language_problems(info, path),
        *_category_problems(info, path),
        *blank_problems(path, "event", info.event, INFO_CLAUSE),
        *value_name_problems(path, "eventCode", info.event_codes, INFO_CLAUSE),
        *_time_problems(info, path, sent),
        *_web_problems(info, path),
        *value_name_problems(path, "parameter", info.parameters, INFO_CLAUSE),
        *indexed_problems(path, "resource", info.resources, _resource_problems),
        *indexed_problems(path, "area", info.areas, check_area),
    ]


def _category_problems(info: Info, path: str) -> Iterator[Problem]:
    if not info.categories:
        yield Problem(f"{path}/category", "at least one category is required", clause=INFO_CLAUSE)


def _language_problems(info: Info, path: str) -> Iterator[Problem]:
    # An empty <language> means en-US (section 3.2.2), so only a non-empty tag is checked.
    if info.language and not _LANGUAGE_TAG.fullmatch(info.language):
        yield Problem(
            f"{path}/language",
            f"{info.language!r} is not an RFC 3066 language tag such as 'en-US' or 'zh-CN'",
            clause=INFO_CLAUSE,
        )


def _time_problems(info: Info, path: str, sent: datetime) -> Iterator[Problem]:
    named = {"effective": info.effective, "onset": info.onset, "expires": info.expires}
    for name, moment in named.items():
        yield from time_zone_problems(f"{path}/{name}", moment)
    expires = aware(info.expires)
    if expires is None:
        return
    effective = aware(info.effective)
    if effective is not None and expires < effective:
        yield Problem(
            f"{path}/expires",
            f"expires {expires.isoformat()} is before effective {effective.isoformat()}: "
            "the information is never in force",
            clause=INFO_CLAUSE,
        )
    onset = aware(info.onset)
    # Only a warning: NWS, among others, lets a message expire (go stale)
    # before a forecast event begins, and sends an update in time.
    if onset is not None and expires < onset:
        yield Problem(
            f"{path}/expires",
            f"expires {expires.isoformat()} is before onset {onset.isoformat()}",
            ProblemLevel.WARNING,
            INFO_CLAUSE,
        )
    if aware(sent) is not None and expires < sent:
        yield Problem(
            f"{path}/expires",
            f"expires {expires.isoformat()} is before sent {sent.isoformat()}: "
            "the information was stale when it was sent",
            ProblemLevel.WARNING,
            INFO_CLAUSE,
        )


def _web_problems(info: Info, path: str) -> Iterator[Problem]:
    if info.web is None:
        return
    if is_blank(info.web):
        yield Problem(f"{path}/web", "web is empty", ProblemLevel.WARNING, INFO_CLAUSE)
    elif not _ABSOLUTE_URI.fullmatch(info.web.strip()):
        yield Problem(f"{path}/web", f"{info.web!r} is not a full absolute URI",
                      ProblemLevel.WARNING, INFO_CLAUSE)


def _resource_problems(resource: Resource, path: str) -> Iterator[Problem]:
    yield from blank_problems(path, "resourceDesc", resource.resource_desc, RESOURCE_CLAUSE)
    yield from blank_problems(path, "mimeType", resource.mime_type, RESOURCE_CLAUSE)
    if not is_blank(resource.mime_type) and not _MIME_TYPE.fullmatch(resource.mime_type.strip()):
        yield Problem(
            f"{path}/mimeType",
            f"{resource.mime_type!r} is not an RFC 2046 type/subtype",
            ProblemLevel.WARNING,
            RESOURCE_CLAUSE,
        )
    if resource.size is not None and resource.size < 0:
        yield Problem(f"{path}/size", f"size {resource.size} is negative", clause=RESOURCE_CLAUSE)
    yield from _uri_problems(resource, path)
    if resource.deref_uri is not None and not _is_base64(resource.deref_uri):
        yield Problem(
            f"{path}/derefUri", "derefUri is not well-formed base64", clause=RESOURCE_CLAUSE
        )
    if resource.digest is not None and not _SHA1_HEX.fullmatch(resource.digest.strip()):
        yield Problem(
            f"{path}/digest",
            f"{resource.digest!r} is not a SHA-1 digest (40 hexadecimal characters)",
            ProblemLevel.WARNING,
            RESOURCE_CLAUSE,
        )


def _uri_problems(resource: Resource, path: str) -> Iterator[Problem]:
    # Section 3.2.3: a relative URI may only name the content of a <derefUri>.
    uri = resource.uri
    if uri is None or resource.deref_uri is not None or _ABSOLUTE_URI.fullmatch(uri.strip()):
        return
    yield Problem(
        f"{path}/uri",
        f"{uri!r} is not a full absolute URI, and no derefUri gives the content",
        clause=RESOURCE_CLAUSE,
    )


def _is_base64(text: str) -> bool:
    # Embedded content is usually line-wrapped; whitespace is not part of the data.
    data = "".join(text.split())
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
