"""The API's lifecycle and refusal tests again, on PostgreSQL and RabbitMQ (the production pair).

The same test functions run here with ``api_settings`` pointing at the real
services; each test starts from empty tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from publisher.config import Settings, load_settings
from publisher.store.db import make_engine, upgrade_database
from publisher.store.models import Base
from tests.integration.test_api_lifecycle import (  # noqa: F401 - collected again here
    test_actual_alerts_need_the_approvers_confirmation,
    test_compose_submit_approve_update_cancel,
    test_public_cap_is_the_signed_latest_message,
)
from tests.integration.test_api_refusals import (  # noqa: F401 - collected again here
    test_ambiguous_cancel_is_409,
    test_malformed_and_hostile_xml,
    test_self_approval_is_403,
    test_wrong_role_is_403,
)
from tests.services import with_center_identity

pytestmark = pytest.mark.asyncio


def _empty(database_url: str) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def api_settings(tmp_path: Path, postgres_url: str, rabbitmq_url: str) -> Settings:
    settings = load_settings({"PUBLISHER_DATABASE_URL": postgres_url,
                              "PUBLISHER_BROKER_URL": rabbitmq_url}, data_dir=tmp_path)
    upgrade_database(settings.database_url)
    _empty(settings.database_url)
    return with_center_identity(settings)
