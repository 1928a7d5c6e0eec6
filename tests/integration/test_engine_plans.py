"""PostgreSQL plans every execution: a plan made while a table was empty never sticks."""

from __future__ import annotations

from sqlalchemy import text

from publisher.store.db import make_engine
from tests.services import postgres_url

__all__ = ["postgres_url"]


def test_a_statement_run_many_times_is_planned_for_each_run(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    lookup = text("SELECT id FROM parts WHERE provider_id = :provider_id")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE parts (id bigint PRIMARY KEY,"
                                    " provider_id varchar(128) NOT NULL)"))
            connection.execute(text("CREATE INDEX ix_parts_provider ON parts (provider_id)"))
        with engine.connect() as connection:
            # The driver prepares it after a few runs; the server would then
            # settle on one generic plan, made for the empty table.
            for number in range(30):
                connection.execute(lookup, {"provider_id": f"p{number}"}).all()
            generic, custom = connection.execute(text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE 'SELECT id FROM parts%'")).one()
    finally:
        engine.dispose()
    assert generic == 0 and custom > 0
