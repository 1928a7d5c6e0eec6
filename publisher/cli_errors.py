"""Errors shared by the command-line modules."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from publisher.services.errors import ServiceError

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "UsageError", "refused"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in how the command was called: exit status 2."""


def refused(error: ServiceError, options: Mapping[str, str] | None = None) -> int:
    """Say why a service refused, naming the command's option for the field where it has one."""
    field = (options or {}).get(error.field or "", error.field)
    where = f"{field}: " if field else ""
    print(f"publisher: {where}{error.reason}", file=sys.stderr)
    return EXIT_INVALID
