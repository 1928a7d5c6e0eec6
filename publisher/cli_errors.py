"""Errors shared by the command-line modules."""

from __future__ import annotations

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "UsageError"]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in how the command was called: exit status 2."""
