"""The <references> element: whitespace-delimited "sender,identifier,sent" triples.

CAP 1.2 section 3.2.1 names each earlier message by its extended message
identifier "sender,identifier,sent" and separates several of them with
whitespace. Feeds in the wild sometimes put a space after the commas; that
is read with a warning so that intake never stops on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from publisher.cap.clauses import ALERT_CLAUSE
from publisher.cap.model import Reference
from publisher.cap.problems import Problem, ProblemLevel

__all__ = ["format_references", "parse_references"]

PATH = "references"

_CAP_DATETIME = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?P<fraction>\.\d+)?(?P<offset>[+-]\d\d:\d\d)"
)


def parse_references(text: str) -> tuple[list[Reference], list[Problem]]:
    """The triples of a <references> text, and what is wrong with it.

    A malformed triple is left out and reported as an error naming it; a
    quirk that still reads unambiguously is reported as a warning.
    """
    references: list[Reference] = []
    problems: list[Problem] = []
    seen: set[Reference] = set()
    for triple, quirk in _triples(text.split()):
        if quirk:
            problems.append(_warning(f"{quirk!r} has whitespace after a comma; read as {triple!r}"))
        reference = _parse_triple(triple, problems)
        if reference is None:
            continue
        if reference in seen:
            problems.append(_warning(f"{triple!r} is named more than once"))
            continue
        seen.add(reference)
        references.append(reference)
    return references, problems


def format_references(references: Iterable[Reference]) -> str:
    """The <references> text for these triples, in CAP dateTime form."""
    return " ".join(
        f"{reference.sender},{reference.identifier},{_format_sent(reference.sent)}"
        for reference in references
    )


def _triples(tokens: list[str]) -> Iterable[tuple[str, str]]:
    """Whitespace tokens joined back into triples, with the quirky original text or ""."""
    index = 0
    while index < len(tokens):
        parts = [tokens[index]]
        index += 1
        # "sender, identifier, sent": a comma at a token's edge means the
        # triple was broken by whitespace, not that a new triple starts.
        while index < len(tokens) and (parts[-1].endswith(",") or tokens[index].startswith(",")):
            parts.append(tokens[index])
            index += 1
        triple = "".join(parts)
        yield triple, (" ".join(parts) if len(parts) > 1 else "")


def _parse_triple(triple: str, problems: list[Problem]) -> Reference | None:
    fields = triple.split(",")
    if len(fields) != 3 or not all(fields):
        problems.append(_error(f"{triple!r} is not a sender,identifier,sent triple"))
        return None
    sender, identifier, sent_text = fields
    match = _CAP_DATETIME.fullmatch(sent_text)
    sent = _parse_sent(sent_text) if match else None
    if match is None or sent is None:
        problems.append(
            _error(
                f"{triple!r}: sent {sent_text!r} is not a CAP dateTime "
                "YYYY-MM-DDThh:mm:ss with a numeric time zone offset"
            )
        )
        return None
    if match["fraction"]:
        problems.append(_warning(f"{triple!r}: sent {sent_text!r} has fractional seconds"))
    return Reference(sender=sender, identifier=identifier, sent=sent)


def _parse_sent(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _format_sent(sent: datetime) -> str:
    offset = sent.utcoffset()
    if offset is None:
        raise ValueError(f"reference sent {sent.isoformat()} has no time zone")
    text = sent.isoformat(timespec="seconds")
    # CAP 1.2 3.3.2: UTC is written "-00:00".
    return text[:-6] + "-00:00" if offset == timedelta(0) else text


def _error(reason: str) -> Problem:
    return Problem(PATH, reason, ProblemLevel.ERROR, ALERT_CLAUSE)


def _warning(reason: str) -> Problem:
    return Problem(PATH, reason, ProblemLevel.WARNING, ALERT_CLAUSE)
