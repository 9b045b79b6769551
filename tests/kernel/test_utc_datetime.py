"""One timezone-aware UTC datetime column type for every table (``parvis.kernel.db.UTCDateTime``),
on SQLite and PostgreSQL: aware UTC in and out, the same instant whatever the zone it was
given in, naive values refused; and every table of every domain uses it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

from parvis.kernel.db import Database, UTCDateTime
from parvis.tables import metadata

#: Columns not (yet) of the kernel type: none.
NOT_YET: set[tuple[str, str]] = set()

times = Table(
    "test_utc_times",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime()),
)


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    times.create(database.engine)
    yield database
    database.dispose()


def test_aware_utc_round_trip_and_same_instant(db: Database) -> None:
    paris = timezone(timedelta(hours=2))
    given = datetime(2026, 6, 1, 11, 30, 15, 123456, tzinfo=paris)
    with db.write_session() as session:
        session.execute(insert(times), [{"id": 1, "at": given}, {"id": 2, "at": None}])
    with db.read_session() as session:
        at = session.execute(select(times.c.at).where(times.c.id == 1)).scalar_one()
        missing = session.execute(select(times.c.at).where(times.c.id == 2)).scalar_one()
        # Comparisons bind through the type too: a bound aware time finds the row.
        found = session.execute(
            select(times.c.id).where(times.c.at >= datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
        ).scalar_one()
    assert at == given
    assert at.tzinfo is UTC
    assert at.hour == 9
    assert missing is None
    assert found == 1


def test_naive_values_are_refused(db: Database) -> None:
    def write_naive() -> None:
        with db.write_session() as session:
            session.execute(insert(times), {"id": 3, "at": datetime(2026, 6, 1, 9, 30)})

    with pytest.raises(StatementError, match="must be a timezone-aware datetime"):
        write_naive()


def test_every_table_uses_the_kernel_type() -> None:
    plain = sorted(
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, DateTime) and (table.name, column.name) not in NOT_YET
    )
    assert plain == []
    typed = [
        column
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, UTCDateTime)
    ]
    assert len(typed) > 40
