"""What a use case refuses, and why: each error names its kind, the field and the reason.

The web layer maps ``kind`` to a status code (400, 401, 403, 404, 409, 413)
and the body ``{"error": kind, "field": field, "reason": reason}``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "ServiceError",
    "TooLarge",
    "Unauthenticated",
]


class ServiceError(Exception):
    kind: ClassVar[str] = "invalid"

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}(field={self.field!r}, reason={self.reason!r})"


class InvalidInput(ServiceError):
    kind = "invalid"


class Unauthenticated(ServiceError):
    kind = "unauthenticated"


class Forbidden(ServiceError):
    kind = "forbidden"


class NotFound(ServiceError):
    kind = "not_found"


class Conflict(ServiceError):
    kind = "conflict"


class TooLarge(ServiceError):
    kind = "too_large"
