"""Checks that the alert, info and area rules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from publisher.cap.clauses import DATETIME_CLAUSE
from publisher.cap.model import NamedValue
from publisher.cap.problems import Problem

__all__ = [
    "aware",
    "blank_problems",
    "indexed_problems",
    "is_blank",
    "time_zone_problems",
    "unquoted_problems",
    "value_name_problems",
]


Element = TypeVar("Element")


def is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


def blank_problems(path: str, element: str, text: str | None, clause: str) -> Iterator[Problem]:
    if is_blank(text):
        yield Problem(f"{path}/{element}", f"{element} is empty", clause=clause)


def indexed_problems(
    path: str,
    element: str,
    items: Sequence[Element],
    check: Callable[[Element, str], Iterable[Problem]],
) -> list[Problem]:
    """``check`` of every item, each at ``path/element[index]``."""
    problems: list[Problem] = []
    for index, item in enumerate(items):
        problems.extend(check(item, f"{path}/{element}[{index}]"))
    return problems


def aware(moment: datetime | None) -> datetime | None:
    """``moment`` where it can be compared with other CAP times, else None."""
    return moment if moment is not None and moment.utcoffset() is not None else None


def time_zone_problems(path: str, moment: datetime | None) -> Iterator[Problem]:
    if moment is not None and moment.utcoffset() is None:
        yield Problem(path, f"{moment.isoformat()} has no time zone", clause=DATETIME_CLAUSE)


def value_name_problems(
    path: str, element: str, values: Iterable[NamedValue], clause: str
) -> list[Problem]:
    """Every valueName names the domain of its value; the value itself may be empty."""
    return [
        Problem(f"{path}/{element}[{index}]/valueName", "valueName is empty", clause=clause)
        for index, named_value in enumerate(values)
        # The reader strips every valueName: only an empty one is blank.
        if not named_value.value_name or named_value.value_name.isspace()
    ]


def unquoted_problems(path: str, text: str | None, clause: str) -> Iterator[Problem]:
    """A whitespace-delimited list whose items may contain spaces only inside double quotes."""
    if text is not None and text.count('"') % 2:
        yield Problem(
            path,
            "has an unclosed double quote (items with spaces must be enclosed in double quotes)",
            clause=clause,
        )
