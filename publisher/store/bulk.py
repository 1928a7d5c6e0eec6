"""Statements over hundreds of rows at once, whose text does not depend on how many.

A worker handing over an SMS batch or recording a drain of receipts reads
and writes a thousand rows at a time. On PostgreSQL a list of ids here is
one array parameter (``= ANY(:ids)``) and a list of rows one array per
column, unnested into a row source: the statement's text is the same for
every call, so SQLAlchemy compiles it once, and PostgreSQL parses and plans
one statement for the thousand rows. The alternatives cost the database far
more: an IN list of a thousand parameters is parsed again for every length,
and an executemany runs (and, with ``plan_cache_mode=force_custom_plan``,
plans) one statement per row.

SQLite has no arrays: there the ids go in IN lists and the rows' values in
CASE expressions, a few hundred rows per statement, and inserts are an
executemany. Inserts on PostgreSQL go by ``COPY``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import (
    ColumnElement,
    Table,
    any_,
    bindparam,
    case,
    func,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

__all__ = ["among", "insert_rows", "update_rows"]

# Rows per statement on SQLite: each takes a parameter for its id and two
# for each value it sets, well within SQLite's limit on bound parameters.
_SQLITE_ROWS = 500


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _SQLITE_ROWS):
        yield values[start:start + _SQLITE_ROWS]


def _array(column: ColumnElement[Any], values: Sequence[Any]) -> Any:
    return bindparam(None, list(values), type_=ARRAY(column.type))


def _unnested(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as a row source with a column per name: one array parameter each."""
    return (func.unnest(*(_array(table.c[name], [row[name] for row in rows]) for name in names))
            .table_valued(*names).render_derived())


def among(session: Session, column: ColumnElement[Any] | QueryableAttribute[Any],
          values: Sequence[Any]) -> Iterator[ColumnElement[bool]]:
    """Conditions that together pick the rows whose ``column`` is in ``values``: one per statement.

    None when ``values`` is empty.
    """
    if not values:
        return
    expression = column.expression
    if _on_postgresql(session):
        yield expression == any_(_array(expression, values))
        return
    for chunk in _chunks(values):
        yield expression.in_(chunk)


def update_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
                where: Sequence[ColumnElement[bool]] = (),
                values: Mapping[str, Any] | None = None) -> list[int]:
    """Set each row's own values (its mapping, by ``id``) and ``values``; the ids updated.

    Every mapping names the same columns. Only rows that also match
    ``where`` are updated.
    """
    if not rows:
        return []
    common = dict(values or {})
    names: list[str] = []
    for name in rows[0]:
        if name == "id":
            continue
        first = rows[0][name]
        if all(row[name] == first for row in rows):
            # One parameter instead of an array of a thousand equal values.
            common[name] = first
        else:
            names.append(name)
    if _on_postgresql(session):
        source = _unnested(table, ("id", *names), rows)
        return list(session.scalars(
            update(table).where(table.c.id == source.c.id, *where)
            .values({**common, **{name: source.c[name] for name in names}})
            .returning(table.c.id)))
    updated: list[int] = []
    for chunk in _chunks(rows):
        ids = [row["id"] for row in chunk]
        own = {name: case({row["id"]: bindparam(None, row[name], type_=table.c[name].type)
                           for row in chunk}, value=table.c.id)
               for name in names}
        updated += session.scalars(
            update(table).where(table.c.id.in_(ids), *where)
            .values({**common, **own}).returning(table.c.id))
    return updated


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, each a mapping of the same columns to its values.

    On PostgreSQL by ``COPY``, in the session's transaction: the cheapest way
    in for the database, and psycopg formats the rows in C.
    """
    if not rows:
        return
    if not _on_postgresql(session):
        session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    dialect = session.get_bind().dialect
    processors = [(name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                  for name in names]
    copy_rows = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names)))
    # COPY goes around the session: what it holds unwritten goes first, as
    # before any statement it runs itself.
    session.flush()
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(copy_rows) as copy:
        for row in rows:
            copy.write_row([row[name] if process is None else process(row[name])
                            for name, process in processors])
