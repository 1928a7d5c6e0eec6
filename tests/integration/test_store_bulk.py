"""Statements over many rows (``publisher.store.bulk``), on SQLite and PostgreSQL alike.

More rows than SQLite takes in one statement there, so its chunks are
exercised; the receipts table, for a column of each kind the services write
this way (an enum, a timestamp, text that needs quoting, NULL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.store.bulk import among, insert_rows, update_rows
from publisher.store.models import Receipt, ReceiptOutcome

Factory = sessionmaker[Session]
RECEIPTS = cast(Table, Receipt.__table__)
ROWS = 1_200
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _row(index: int) -> dict[str, Any]:
    return {"channel": "sms", "raw": f'{{"id": "{index}", "text": "a \\"quoted\\" word, {{}}"}}',
            "provider_id": None if index % 7 == 0 else f"p-{index}",
            "status": "delivered", "outcome": ReceiptOutcome.UNKNOWN,
            "received_at": AT + timedelta(seconds=index)}


def _inserted(factory: Factory) -> list[int]:
    with factory() as session:
        insert_rows(session, RECEIPTS, [_row(index) for index in range(ROWS)])
        session.commit()
        return list(session.scalars(select(Receipt.id).order_by(Receipt.id)))


def test_inserted_rows_read_back_as_written(session_factory: Factory) -> None:
    ids = _inserted(session_factory)
    with session_factory() as session:
        found = [(row.channel, row.raw, row.provider_id, row.status, row.outcome,
                  row.received_at)
                 for row in session.scalars(select(Receipt).order_by(Receipt.id))]
    assert len(ids) == ROWS
    assert found == [tuple(_row(index).values()) for index in range(ROWS)]


def test_rows_get_their_own_values_and_the_shared_ones_where_they_match(
        session_factory: Factory) -> None:
    ids = _inserted(session_factory)
    with session_factory() as session:
        updated = update_rows(
            session, RECEIPTS,
            [{"id": row_id, "delivery_id": None, "status": f"s-{row_id}"} for row_id in ids],
            where=[Receipt.provider_id.is_not(None)],
            values={"outcome": ReceiptOutcome.LATE})
        session.commit()
        rows = session.execute(select(Receipt.id, Receipt.status, Receipt.outcome,
                                      Receipt.provider_id)).all()
    named = {row.id for row in rows if row.provider_id is not None}
    assert sorted(updated) == sorted(named) and len(named) < ROWS
    for row in rows:
        if row.id in named:
            assert (row.status, row.outcome) == (f"s-{row.id}", ReceiptOutcome.LATE)
        else:
            assert (row.status, row.outcome) == ("delivered", ReceiptOutcome.UNKNOWN)


def test_rows_that_share_every_value_are_updated_alike(session_factory: Factory) -> None:
    ids = _inserted(session_factory)
    chosen = ids[::3]
    with session_factory() as session:
        updated = update_rows(session, RECEIPTS, [{"id": row_id, "status": "expired"}
                                                  for row_id in chosen])
        session.commit()
        expired = set(session.scalars(select(Receipt.id).where(Receipt.status == "expired")))
    assert sorted(updated) == chosen and expired == set(chosen)


def test_among_picks_exactly_the_rows_named(session_factory: Factory) -> None:
    ids = _inserted(session_factory)
    wanted = [f"p-{index}" for index in range(1, ROWS, 2)] + ["p-not-there"]
    with session_factory() as session:
        found = [provider_id for condition in among(session, Receipt.provider_id, wanted)
                 for provider_id in session.scalars(select(Receipt.provider_id)
                                                    .where(condition))]
        nothing = list(among(session, Receipt.id, []))
    assert sorted(found) == sorted(f"p-{index}" for index in range(1, ROWS, 2)
                                   if index % 7 != 0)
    assert nothing == [] and ids
