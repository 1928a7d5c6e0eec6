"""Numeric identifiers in paths: a route's ``\\d+`` matches numbers no database row can have."""

from __future__ import annotations

from aiohttp import web

from publisher.services.errors import NotFound

__all__ = ["path_id"]

# PostgreSQL's bigint and SQLite's INTEGER both end here; a larger number would
# make the driver raise instead of finding nothing.
_LARGEST_ID = 2**63 - 1


def path_id(request: web.Request, name: str = "alert_id") -> int:
    """The whole number the path names under ``name``; NotFound beyond any row's id."""
    value = int(request.match_info[name])
    if value > _LARGEST_ID:
        raise NotFound(f"no such resource: {value} is beyond any identifier", field=name)
    return value
