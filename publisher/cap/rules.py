"""The rules of the CAP 1.2 specification that work on a parsed alert.

Structure (element order, required elements, enumerations, the dateTime
lexical form) is the reader's business. These rules check what the XML
schema cannot say: forbidden characters, conditional elements, references,
time order, coordinates and the like. Each finding cites its clause.
"""

from __future__ import annotations

from publisher.cap.model import Alert
from publisher.cap.problems import Problem
from publisher.cap.rules_alert import check_alert_element
from publisher.cap.rules_info import check_info

__all__ = ["check_spec_rules"]


def check_spec_rules(alert: Alert) -> list[Problem]:
    """Every finding of the CAP 1.2 rules about this alert, errors and warnings."""
    problems = check_alert_element(alert)
    for index, info in enumerate(alert.infos):
        problems.extend(check_info(info, f"info[{index}]", alert.sent))
    return problems
