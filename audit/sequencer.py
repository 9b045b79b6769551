"""The sequencer: one leader integrates queued entries in batches (audit-log.md, "Sequencing";
ADR 0003, "Sequencer").

audit-log.md, "Sequencing": "The sequencer is a single leader holding a PostgreSQL advisory
lock (on SQLite the single writer is enough)."

* PostgreSQL: the leader holds the session-level advisory lock :data:`LOCK_KEY` on a
  connection of its own for as long as it leads. When its process dies, the server ends the
  session and releases the lock; a waiting process's next :func:`try_lead` wins. Advisory
  locks are per database, so tests on parallel databases do not contend.
* SQLite: every integration batch runs in ``BEGIN IMMEDIATE``, which already makes it the
  only writer; no election is needed.

Correctness does not rest on the election: entries and checkpoints have primary keys on
``(log, index)`` and ``(log, size)``, so two integrators that raced anyway could not both
commit. The lock only keeps them from wasting work.

:class:`SequencerThread` is the background loop a web process runs (``PLUGIN.start``): try
to lead; while leading, integrate everything pending (full batches back to back), then wait
the batch delay. CLI commands integrate synchronously through
:meth:`audit.service.AuditService.integrate`, which takes the lock only if nobody holds it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from parvis.kernel.db import Database

__all__ = ["LOCK_KEY", "SequencerThread", "leadership"]

log = logging.getLogger("parvis.audit.sequencer")

LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"parvis/audit/sequencer").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock key (bigint) of the sequencer leader."""


def _try_lock(conn: Connection) -> bool:
    got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
    conn.commit()  # a session-level lock outlives the transaction that took it
    return got


def _unlock(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    conn.commit()


@contextmanager
def leadership(db: Database) -> Iterator[Connection | None]:
    """A connection that may integrate, or ``None`` when another process leads.

    On SQLite the connection's transactions begin with ``BEGIN IMMEDIATE``.
    """
    conn = db.engine.connect()
    try:
        if db.is_sqlite:
            yield conn.execution_options(sqlite_begin="IMMEDIATE")
            return
        if not _try_lock(conn):
            yield None
            return
        try:
            yield conn
        finally:
            if not conn.closed and not conn.invalidated:
                if conn.in_transaction():
                    conn.rollback()
                _unlock(conn)
    finally:
        conn.close()


class SequencerThread:
    """Background leader loop of a web process; :meth:`stop` ends it within a moment.

    ``integrate(conn)`` integrates everything pending on a leading connection and returns
    how many entries it took. ``delay`` is the batch delay in seconds; ``retry`` how long a
    follower waits before trying to lead again.
    """

    def __init__(
        self,
        *,
        db: Database,
        integrate: Callable[[Connection], int],
        delay: float,
        retry: float = 1.0,
    ) -> None:
        self._db = db
        self._integrate = integrate
        self._delay = delay
        self._retry = retry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leading = threading.Event()
        self.integrated = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name="parvis-audit-sequencer", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with leadership(self._db) as conn:
                    if conn is None:
                        self._stop.wait(self._retry)
                        continue
                    self.leading.set()
                    log.info("audit sequencer leads")
                    self._lead(conn)
            except Exception as exc:
                # The message could quote SQL parameters; the type is enough to investigate.
                log.warning("audit sequencer error", extra={"exc_type": type(exc).__name__})
                self._stop.wait(self._retry)
            finally:
                self.leading.clear()

    def _lead(self, conn: Connection) -> None:
        while not self._stop.is_set():
            self.integrated += self._integrate(conn)
            self._stop.wait(self._delay)
