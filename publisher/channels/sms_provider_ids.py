"""How the SMS channel stores a provider's id: made unique across its routes."""

from __future__ import annotations

__all__ = ["provider_id"]


def provider_id(route: str, canonical_id: str) -> str:
    """The stored id of a part or message: its provider's canonical id, prefixed by the route."""
    return f"{route}:{canonical_id}"
