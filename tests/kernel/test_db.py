"""Write transactions of ``parvis.kernel.db``: ``BEGIN IMMEDIATE`` on SQLite, with the
writers of one process queued on a lock before it (the module's docstring says why)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from parvis.kernel.db import Database

THREADS = 8
PER_THREAD = 25


@pytest.fixture
def db(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    if database.is_sqlite:
        # No busy waiting at all: a writer that found the database locked would fail at
        # once, so every success below is the process lock's doing, not the busy handler's.
        @event.listens_for(database.engine, "connect")
        def _no_busy_wait(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=0")

    with database.write_session() as session:
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO counter (id, n) VALUES (1, 0)"))
    yield database
    database.dispose()


def _count(db: Database) -> int:
    with db.read_session() as session:
        value: int = session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
        return value


def test_concurrent_writers_of_one_process_all_commit(db: Database) -> None:
    """Read-modify-write from many threads: every transaction commits and none is lost
    (SQLite: without the process lock and with no busy timeout, they would fail with
    ``database is locked``; PostgreSQL: ``FOR UPDATE`` serialises them)."""

    def work(_: int) -> None:
        for _i in range(PER_THREAD):
            with db.write_session() as session:
                n = session.execute(
                    text(
                        "SELECT n FROM counter WHERE id = 1"
                        + ("" if db.is_sqlite else " FOR UPDATE")
                    )
                ).scalar_one()
                session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))
    assert _count(db) == THREADS * PER_THREAD


def test_sqlite_write_session_still_takes_the_database_lock(db: Database) -> None:
    """Another process (here: a plain sqlite3 connection) is locked out by ``BEGIN
    IMMEDIATE`` while a write session is open, as before the process lock."""
    if not db.is_sqlite:
        assert db._write_lock is None  # PostgreSQL: no process lock, row locks do the work
        return
    path = db.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.write_session() as session:
            session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free once the session committed
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert _count(db) == 1


def test_failed_write_session_rolls_back_and_frees_the_lock(db: Database) -> None:
    def failing_use_case() -> None:
        with db.write_session() as session:
            session.execute(text("UPDATE counter SET n = 99 WHERE id = 1"))
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        failing_use_case()
    done = threading.Event()

    def other_thread() -> None:
        with db.write_session() as session:
            session.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert done.is_set()
    assert _count(db) == 1  # 0 + 1: the failed update was rolled back


def test_nested_write_session_fails_as_before_instead_of_deadlocking(db: Database) -> None:
    """The lock is reentrant: a write session inside another on one thread gets SQLite's
    own answer (``database is locked`` once the busy timeout, here 0, is spent)."""
    if not db.is_sqlite:
        assert db._write_lock is None
        return
    with db.write_session() as outer:
        outer.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        with pytest.raises(OperationalError, match="locked"), db.write_session() as inner:
            inner.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
    assert _count(db) == 1
