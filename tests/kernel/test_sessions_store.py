"""The session store's writes: last-seen written at most once a minute (idle expiry exact to
that minute, never later), and expired sessions purged on session creation at most once per
``PURGE_INTERVAL`` per process, so an abandoned session does not keep its pseudonym forever
(GDPR Art. 5(1)(e)). Real store, real database (SQLite and PostgreSQL), fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from parvis.kernel.clock import FixedClock
from parvis.kernel.db import Database
from parvis.kernel.principal import Citizen
from parvis.kernel.sessions import (
    PURGE_INTERVAL,
    TOUCH_INTERVAL,
    SessionStore,
    WebSession,
    WebSessionRow,
)

IDLE = 1800
MINUTE = timedelta(seconds=60)


def store(clock: FixedClock, *, idle: int = IDLE) -> SessionStore:
    return SessionStore(clock=clock, idle_seconds=idle, absolute_seconds=43200, seal_key=b"k" * 32)


def new_session(database: Database, sessions: SessionStore, who: str) -> str:
    with database.write_session() as db:
        created: WebSession = sessions.create(db, Citizen(who))
    assert created.cookie is not None
    return created.cookie


def load(database: Database, sessions: SessionStore, cookie: str) -> WebSession | None:
    with database.write_session() as db:
        return sessions.load(db, cookie)


def stored_last_seen(database: Database) -> dict[str, datetime]:
    """Each session's stored last-seen time (UTC), by the pseudonym in its data."""
    with database.read_session() as db:
        rows = db.execute(select(WebSessionRow.data, WebSessionRow.last_seen_at)).all()
    out = {}
    for data, seen in rows:
        who = data.split('"pseudonym":"')[1].split('"')[0]
        out[who] = seen.replace(tzinfo=UTC) if seen.tzinfo is None else seen.astimezone(UTC)
    return out


def test_last_seen_is_written_at_most_once_a_minute(database: Database, clock: FixedClock) -> None:
    sessions = store(clock)
    start = clock.now()
    cookie = new_session(database, sessions, "p1")
    for _ in range(5):  # five requests within the minute: no write
        clock.advance(timedelta(seconds=11))
        assert load(database, sessions, cookie) is not None
        assert stored_last_seen(database) == {"p1": start}
    clock.advance(timedelta(seconds=5))  # 60 s after the last write
    loaded = load(database, sessions, cookie)
    assert loaded is not None
    assert loaded.last_seen_at == start + TOUCH_INTERVAL
    assert stored_last_seen(database) == {"p1": start + TOUCH_INTERVAL}


def test_idle_expiry_is_exact_to_the_minute_and_never_late(
    database: Database, clock: FixedClock
) -> None:
    sessions = store(clock)
    start = clock.now()
    early = new_session(database, sessions, "early")
    late = new_session(database, sessions, "late")
    # Both are used 59 s later (not written), then left alone.
    clock.advance(timedelta(seconds=59))
    assert load(database, sessions, early) is not None
    assert load(database, sessions, late) is not None
    # Idle limit counted from the last write: one second before it, still live …
    clock.advance(timedelta(seconds=IDLE - 60))
    assert clock.now() == start + timedelta(seconds=IDLE - 1)
    assert load(database, sessions, late) is not None
    # … at it, over — 59 s early for the last request, within the minute, never later.
    clock.advance(timedelta(seconds=1))
    assert load(database, sessions, early) is None
    # Activity every 59 s keeps a session alive well beyond the idle limit.
    for _ in range(2 * IDLE // 59):
        clock.advance(timedelta(seconds=59))
        assert load(database, sessions, late) is not None
    assert set(stored_last_seen(database)) == {"late"}


def test_a_short_idle_limit_is_not_defeated_by_the_minute(
    database: Database, clock: FixedClock
) -> None:
    sessions = store(clock, idle=40)  # writes every 20 s, not every 60 s
    cookie = new_session(database, sessions, "p1")
    for _ in range(10):
        clock.advance(timedelta(seconds=25))
        assert load(database, sessions, cookie) is not None
    clock.advance(timedelta(seconds=40))
    assert load(database, sessions, cookie) is None


def test_abandoned_sessions_are_purged_at_most_every_interval(
    database: Database, clock: FixedClock
) -> None:
    sessions = store(clock, idle=60)
    new_session(database, sessions, "abandoned")  # first creation: purges (nothing yet)
    clock.advance(2 * MINUTE)
    new_session(database, sessions, "second")
    # Expired, but the last purge is only two minutes old: still there.
    assert set(stored_last_seen(database)) == {"abandoned", "second"}
    clock.advance(PURGE_INTERVAL - 2 * MINUTE - timedelta(seconds=30))
    live = new_session(database, sessions, "live")
    assert set(stored_last_seen(database)) == {"abandoned", "second", "live"}
    clock.advance(timedelta(seconds=30))
    assert load(database, sessions, live) is not None  # 30 s idle: live
    new_session(database, sessions, "third")  # a purge is due: the expired go
    assert set(stored_last_seen(database)) == {"live", "third"}
    # Purging by hand answers how many it deleted.
    clock.advance(2 * MINUTE)
    with database.write_session() as db:
        assert sessions.purge_expired(db) == 2
    assert stored_last_seen(database) == {}


def test_extra_is_sealed_and_a_seal_that_does_not_open_ends_the_session(
    database: Database, clock: FixedClock
) -> None:
    sessions = store(clock)
    with database.write_session() as db:
        created = sessions.create(db, Citizen("p1"), extra={"fc_id_token": "eyJsecret.token"})
    assert created.cookie is not None
    with database.read_session() as db:
        (data,) = db.scalars(select(WebSessionRow.data)).all()
    assert "fc_id_token" not in data
    assert "secret" not in data
    loaded = load(database, sessions, created.cookie)
    assert loaded is not None
    assert loaded.extra == {"fc_id_token": "eyJsecret.token"}
    # Another master secret (or an edited row): the session is over, and its row gone.
    other = SessionStore(clock=clock, idle_seconds=IDLE, absolute_seconds=43200, seal_key=b"x" * 32)
    assert load(database, other, created.cookie) is None
    with database.read_session() as db:
        assert db.scalars(select(WebSessionRow.data)).all() == []
