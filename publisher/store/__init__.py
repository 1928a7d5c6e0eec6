"""Storage of the platform: SQLAlchemy models, engines and sessions, Alembic migrations."""

from publisher.store.db import (
    make_engine,
    make_session_factory,
    session_scope,
    upgrade_database,
)

__all__ = ["make_engine", "make_session_factory", "session_scope", "upgrade_database"]
