"""Rules of CAP 1.2 section 3.2.1 on the <alert> element itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

from publisher.cap.clauses import ALERT_CLAUSE
from publisher.cap.model import Alert, MsgType, Scope
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.references import parse_references
from publisher.cap.rules_common import aware, is_blank, time_zone_problems, unquoted_problems

__all__ = ["check_alert_element"]

# Section 3.2.1: identifier and sender "MUST NOT include spaces, commas or
# restricted characters (< and &)".
_FORBIDDEN_IN_NAME = re.compile(r"[\s,<&]")

_REFERENCING_TYPES = frozenset({MsgType.UPDATE, MsgType.CANCEL, MsgType.ACK, MsgType.ERROR})
_PUBLIC_TYPES = frozenset({MsgType.ALERT, MsgType.UPDATE})


def check_alert_element(alert: Alert) -> list[Problem]:
    return [
        *_name_problems("identifier", alert.identifier),
        *_name_problems("sender", alert.sender),
        *time_zone_problems("sent", alert.sent),
        *_scope_problems(alert),
        *unquoted_problems("addresses", alert.addresses, ALERT_CLAUSE),
        *unquoted_problems("incidents", alert.incidents, ALERT_CLAUSE),
        *_reference_problems(alert),
        *_missing_info_problems(alert),
    ]


def _name_problems(path: str, name: str) -> Iterator[Problem]:
    if not name:
        yield Problem(path, f"{path} is empty", clause=ALERT_CLAUSE)
        return
    forbidden = sorted(set(_FORBIDDEN_IN_NAME.findall(name)))
    if forbidden:
        shown = ", ".join(repr(character) for character in forbidden)
        yield Problem(
            path,
            f"{name!r} contains {shown}: spaces, commas, '<' and '&' are not allowed",
            clause=ALERT_CLAUSE,
        )


def _scope_problems(alert: Alert) -> Iterator[Problem]:
    if alert.scope is Scope.RESTRICTED and is_blank(alert.restriction):
        yield Problem(
            "restriction", "scope is Restricted but restriction is missing", clause=ALERT_CLAUSE
        )
    if alert.scope is Scope.PRIVATE and is_blank(alert.addresses):
        yield Problem("addresses", "scope is Private but addresses is missing", clause=ALERT_CLAUSE)
    if alert.scope is not Scope.RESTRICTED and not is_blank(alert.restriction):
        yield Problem(
            "restriction",
            f"restriction is meant for scope Restricted, not {alert.scope}",
            ProblemLevel.WARNING,
            ALERT_CLAUSE,
        )


def _reference_problems(alert: Alert) -> Iterator[Problem]:
    if alert.references is None:
        if alert.msg_type in _REFERENCING_TYPES:
            yield Problem(
                "references",
                f"references is required when msgType is {alert.msg_type}: name the "
                "messages this one refers to",
                clause=ALERT_CLAUSE,
            )
        return
    if not alert.references.strip():
        yield Problem(
            "references",
            "references is empty: a referencing message must name at least one "
            "sender,identifier,sent triple",
            clause=ALERT_CLAUSE,
        )
        return
    references, problems = parse_references(alert.references)
    yield from problems
    comparable = aware(alert.sent) is not None
    for reference in references:
        if (reference.sender, reference.identifier) == (alert.sender, alert.identifier):
            # Seen in real feeds (Macao SMG): the message is still usable on
            # its own, it just updates nothing earlier.
            yield Problem("references", "references names this message itself, not an earlier one",
                          ProblemLevel.WARNING, ALERT_CLAUSE)
        elif comparable and reference.sent > alert.sent:
            yield Problem(
                "references",
                f"{reference.sender},{reference.identifier} was sent at "
                f"{reference.sent.isoformat()}, after this message ({alert.sent.isoformat()})",
                clause=ALERT_CLAUSE,
            )


def _missing_info_problems(alert: Alert) -> Iterator[Problem]:
    if not alert.infos and alert.msg_type in _PUBLIC_TYPES:
        yield Problem(
            "",
            f"msgType {alert.msg_type} without an info block tells recipients nothing",
            ProblemLevel.WARNING,
            ALERT_CLAUSE,
        )
