"""Problems found in a CAP document, and the errors that carry them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CapError",
    "HostileXmlError",
    "InvalidAlertError",
    "NotCapError",
    "Problem",
    "ProblemLevel",
    "errors_of",
    "format_problem",
]


class ProblemLevel(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about one element.

    ``path`` names the element the way a person reads it, with 0-based
    indices: ``info[1]/area[0]/polygon``. The empty path is the document.
    ``clause`` cites the CAP specification section that the finding rests on.
    """

    path: str
    reason: str
    level: ProblemLevel = ProblemLevel.ERROR
    clause: str | None = None

    @property
    def is_error(self) -> bool:
        return self.level is ProblemLevel.ERROR

    def __str__(self) -> str:
        return format_problem(self)


def format_problem(problem: Problem) -> str:
    where = problem.path or "alert"
    cited = f" (CAP {problem.clause})" if problem.clause else ""
    return f"{where}: {problem.reason}{cited}"


def errors_of(problems: Iterable[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.is_error]


class CapError(Exception):
    """Base of every error this package raises."""


class HostileXmlError(CapError):
    """The document was refused before any tree was built."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotCapError(CapError):
    """The document is well-formed XML but not a CAP alert (or not XML at all)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidAlertError(CapError):
    """Raised by strict reading, and wherever an invalid alert may not pass."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))
