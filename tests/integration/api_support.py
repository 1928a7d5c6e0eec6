"""Fixtures (a pytest plugin): an API client on a fresh SQLite installation with one
user per role, and their tokens.

The broker is the embedded SQLite one in the same directory; no worker runs,
so these tests see what the web layer does up to handing the fan-out over.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.orm import Session, sessionmaker

from publisher.config import Settings
from publisher.services.users import create_token
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.web.app import create_app
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import make_people
from tests.services import fresh_installation

__all__ = ["api", "api_settings", "sessions"]

ROLE_HOLDERS = ("author", "approver", "second_approver", "author_approver", "viewer")


@pytest.fixture
def api_settings(tmp_path: Path, _migrated_sqlite_template: Path) -> Settings:
    return fresh_installation(tmp_path, _migrated_sqlite_template)


@pytest.fixture
def sessions(api_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(api_settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest_asyncio.fixture
async def api(aiohttp_client: Any, api_settings: Settings,
              sessions: sessionmaker[Session]) -> Api:
    make_people(sessions)
    with session_scope(sessions) as session:
        tokens = {name: create_token(session, name, "tests") for name in ROLE_HOLDERS}
    return Api(await aiohttp_client(create_app(api_settings)), tokens, sessions)
