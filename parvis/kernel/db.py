"""Database engine and sessions for SQLite (embedded default) and PostgreSQL (production).

architecture.md, "Storage": SQLite runs with WAL, ``foreign_keys=ON`` and
``recursive_triggers=ON`` on **every** connection — without ``recursive_triggers``,
``INSERT OR REPLACE`` silently deletes a row despite a ``BEFORE DELETE`` trigger
(audit-log.md, "Append-only in the database"). PostgreSQL is reached through psycopg 3.

Services open their own transaction (``with session.begin():``) so that one use case is one
transaction: a failure leaves nothing half-written. On SQLite a writer can ask for
``BEGIN IMMEDIATE`` (:meth:`Database.write_session`) to take the write lock up front instead of
failing with ``database is locked`` when a read transaction later tries to write.

SQLite has one writer at a time, and a connection that finds the write lock taken waits in
SQLite's busy handler: it sleeps (1, 2, 5 … up to 100 ms) and retries, with no queue. Between
threads of one process that costs milliseconds per conflict, and under load a writer can lose
every retry until ``busy_timeout`` runs out (``database is locked``). So the writers of one
process first queue on a process-wide lock (woken as soon as it is free, no polling) and then
take ``BEGIN IMMEDIATE`` as before; the busy handler only arbitrates between processes (a CLI
command beside the server).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Dialect,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool

from parvis.kernel.settings import Settings

__all__ = ["Base", "Database", "UTCDateTime", "make_engine"]

#: SQLite's ``busy_timeout`` (ms), and how long a writer waits for this process's lock.
SQLITE_BUSY_TIMEOUT_MS = 10_000

#: Deterministic constraint names so that migrations can drop and recreate them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """The one datetime column type: timezone-aware UTC in, timezone-aware UTC out, on both
    databases (architecture.md, "Storage"; every stored time is UTC).

    PostgreSQL stores ``timestamp with time zone`` and hands back aware values. SQLite has no
    datetime type: SQLAlchemy stores text without an offset and reads back *naive* values,
    which compare with aware ones only by raising ``TypeError``. So values are converted to
    UTC before binding (on SQLite, written as naive UTC text, the form already stored) and
    read back as aware UTC. A naive value is refused when bound: its zone is unknown, and
    guessing would silently shift times. The schema is ``DateTime(timezone=True)``'s, so
    no migration is needed to adopt it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"a {type(self).__name__} value must be a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by every domain's tables (one metadata, one migration history)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below emit BEGIN itself: pysqlite's own implicit
    # transaction handling defers BEGIN and breaks SAVEPOINT and BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA recursive_triggers=ON")
        # FULL: an acknowledged commit survives a power cut (audit entries are promises).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Deleted rows are overwritten with zeros rather than left in free space: rows that
        # only wait (a ballot before its batch) must not be recoverable from the file with
        # their layout, which follows the order they were written (ADR 0009).
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the pragmas and pool settings Parvis relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, *, single_connection: bool = False) -> None:
        self.url = url
        self.engine = (
            create_engine(url, poolclass=NullPool) if single_connection else make_engine(url)
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        # Reentrant: a write session opened inside another on the same thread keeps its old
        # behaviour (SQLite's busy timeout, then ``database is locked``), not a deadlock.
        self._write_lock: threading.RLock | None = (
            threading.RLock() if self.engine.dialect.name == "sqlite" else None
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """A new session; the caller opens the transaction with ``session.begin()``."""
        return self._sessions()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session inside one write transaction (``BEGIN IMMEDIATE`` on SQLite).

        Commits when the block ends normally, rolls back on any exception. On SQLite the
        writers of this process queue on a lock first (module docstring); a writer that has
        waited ``busy_timeout`` for it goes on to ``BEGIN IMMEDIATE`` anyway, which then
        fails as it always did if the database is still locked.
        """
        lock = self._write_lock
        if lock is None:
            with self._write_sessions() as session, session.begin():
                yield session
            return
        locked = lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            with self._write_sessions() as session, session.begin():
                yield session
        finally:
            if locked:
                lock.release()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session inside one read transaction (consistent snapshot on PostgreSQL)."""
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def truncate_wal(self) -> bool:
        """On SQLite, copy the write-ahead log into the database file and truncate it to
        zero bytes; nothing on PostgreSQL. Returns whether the log was emptied.

        The WAL keeps every committed page image in commit order until it is reset, which
        dates writes relative to each other; a writer whose writes must not keep an order
        (the ballot box after a batch: ADR 0009) empties it. Readers still on an older
        snapshot make SQLite answer "busy": the log then stays until the next call.
        """
        if not self.is_sqlite:
            return False
        with self.engine.connect() as conn:
            busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        return not busy

    def dispose(self) -> None:
        self.engine.dispose()
