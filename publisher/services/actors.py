"""Who is acting: a person signed in by password or token, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.services.errors import Forbidden
from publisher.store.models import Role, User

__all__ = ["Actor", "require_role"]


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    roles: frozenset[Role]

    @classmethod
    def system(cls, name: str) -> Actor:
        """A machine action (expiry, the outbox relay): audited under ``system:<name>``."""
        return cls(None, f"system:{name}", frozenset())

    @classmethod
    def of_user(cls, user: User) -> Actor:
        return cls(user.id, user.username, frozenset(granted.role for granted in user.roles))

    def has_role(self, role: Role) -> bool:
        return role in self.roles


def require_role(actor: Actor, role: Role, action: str) -> None:
    if not actor.has_role(role):
        raise Forbidden(f"{action} needs the {role} role, which {actor.name} does not have",
                        field="role")
