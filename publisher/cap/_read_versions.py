"""What a reader must know of the differences between CAP 1.0, 1.1 and 1.2.

Each version's XSD allows its own enumerated values; CAP 1.0 and 1.1 left
out or spelled differently what the model holds as CAP 1.2. The readers
convert, and each conversion is reported here, in one wording.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from publisher.cap.clauses import INFO_CLAUSE, RESOURCE_CLAUSE
from publisher.cap.model import (
    Category,
    Certainty,
    MsgType,
    NamedValue,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.versions import CapVersion

__all__ = [
    "DEFAULT_LANGUAGE",
    "MSG_TYPES",
    "SCOPES",
    "SEVERITIES",
    "URGENCIES",
    "VERY_LIKELY",
    "VOCABULARIES",
    "Vocabulary",
    "assumed_mime_type",
    "legacy_named_value",
    "password_dropped",
    "scope_missing",
    "very_likely_read",
]

E = TypeVar("E", bound=Enum)

DEFAULT_LANGUAGE = "en-US"
VERY_LIKELY = "Very Likely"
# The built-in table only, not the host's mime.types: the same document must
# read the same on every machine.
_MIME_TYPES = mimetypes.MimeTypes()
_UNKNOWN_MIME_TYPE = "application/octet-stream"


def _members(enumeration: type[E], *excluded: str) -> dict[str, E]:
    return {member.value: member for member in enumeration if member.value not in excluded}


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The enumerated values one CAP version's XSD allows."""

    status: dict[str, Status]
    category: dict[str, Category]
    response_type: dict[str, ResponseType]
    certainty: dict[str, Certainty]


VOCABULARIES = {
    CapVersion.V1_2: Vocabulary(_members(Status), _members(Category), _members(ResponseType),
                                _members(Certainty)),
    CapVersion.V1_1: Vocabulary(_members(Status), _members(Category),
                                _members(ResponseType, "Avoid", "AllClear"), _members(Certainty)),
    CapVersion.V1_0: Vocabulary(_members(Status, "Draft"), _members(Category, "CBRNE"), {},
                                {VERY_LIKELY: Certainty.LIKELY,
                                 **_members(Certainty, "Observed")}),
}
MSG_TYPES = _members(MsgType)
SCOPES = _members(Scope)
URGENCIES = _members(Urgency)
SEVERITIES = _members(Severity)


def password_dropped() -> Problem:
    return Problem("password", "CAP 1.0 password is obsolete (removed in CAP 1.1) and was "
                   "dropped", ProblemLevel.WARNING)


def scope_missing() -> Problem:
    # Optional in CAP 1.0 only; guessing Public could publish a restricted
    # message, so the alert is not built.
    return Problem("scope", "required element is missing (optional in CAP 1.0, required "
                   "since CAP 1.1)")


def very_likely_read(path: str) -> Problem:
    return Problem(path, "'Very Likely' was deprecated by CAP 1.1 and is read as Likely",
                   ProblemLevel.WARNING, f"1.1 {INFO_CLAUSE}")


def legacy_named_value(text: str, path: str, problems: list[Problem]) -> NamedValue:
    """A CAP 1.0 eventCode, parameter or geocode, written valueName=value."""
    value_name, equals, value = text.partition("=")
    if not equals:
        problems.append(Problem(
            path, f"{text!r} is not valueName=value as CAP 1.0 writes it", ProblemLevel.WARNING
        ))
    return NamedValue(value_name.strip(), value.strip())


def assumed_mime_type(uri: str | None, version: CapVersion, path: str,
                      problems: list[Problem]) -> str:
    """The type that a CAP 1.0 or 1.1 resource without <mimeType> most likely has."""
    if not uri:
        mime_type = _UNKNOWN_MIME_TYPE
    else:
        # The extension is that of the path: a query or fragment would hide it.
        guessed, _ = _MIME_TYPES.guess_type(uri.partition("#")[0].partition("?")[0])
        mime_type = guessed or _UNKNOWN_MIME_TYPE
    problems.append(Problem(
        path,
        f"missing: optional in CAP {version}, required since CAP 1.2; "
        f"assumed {mime_type} for CAP 1.2",
        ProblemLevel.WARNING, f"1.2 {RESOURCE_CLAUSE}",
    ))
    return mime_type
