"""Where the FranceConnect sandbox keeps its state: memory for one process, or the database
so that several worker processes of one demo share it (franceconnect.md, "The sandbox
Parvis ships").

With ``uvicorn --workers N`` (or ``gunicorn``), each request may land on another process:
an interaction created by one, a code redeemed at another, a token presented to a third, a
JWKS fetched from a fourth. Memory-only state failed such a demo at random;
:class:`DatabaseStore` keeps every piece in ``identity_fc_sandbox_state``. The standalone
``parvis fc-sandbox`` runs one process and keeps :class:`MemoryStore`.

Values are small JSON objects; keys are SHA-256 digests (or fixed names). Single use (a
code) rests on :meth:`SandboxStore.take`, which hands a value to one caller only.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from identity.tables import SandboxStateRow
from parvis.kernel.db import Database

__all__ = ["DatabaseStore", "MemoryStore", "SandboxStore"]

Value = dict[str, Any]


class SandboxStore(Protocol):
    """The sandbox's state, one JSON object per ``(kind, key)``, each with an expiry."""

    def add(self, kind: str, key: str, value: Value, *, expires_at: datetime) -> Value:
        """Store ``value`` unless a value is there already; return the stored one."""
        ...

    def put(
        self, kind: str, key: str, value: Value, *, expires_at: datetime, now: datetime
    ) -> None:
        """Store ``value``, replacing any (and forget what expired before ``now``)."""
        ...

    def get(self, kind: str, key: str, *, now: datetime) -> Value | None:
        """The live value, or None (absent or expired)."""
        ...

    def take(self, kind: str, key: str, *, now: datetime) -> Value | None:
        """Remove and return the live value; of concurrent callers, one gets it."""
        ...

    def delete(self, kind: str, key: str) -> None: ...


class MemoryStore:
    """One process's memory (the standalone sandbox, the tests without a database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[Value, datetime]] = {}

    def add(self, kind: str, key: str, value: Value, *, expires_at: datetime) -> Value:
        with self._lock:
            stored, _ = self._items.setdefault((kind, key), (value, expires_at))
            return stored

    def put(
        self, kind: str, key: str, value: Value, *, expires_at: datetime, now: datetime
    ) -> None:
        with self._lock:
            for gone in [k for k, (_, expiry) in self._items.items() if expiry <= now]:
                del self._items[gone]
            self._items[(kind, key)] = (value, expires_at)

    def get(self, kind: str, key: str, *, now: datetime) -> Value | None:
        with self._lock:
            found = self._items.get((kind, key))
        return found[0] if found is not None and now < found[1] else None

    def take(self, kind: str, key: str, *, now: datetime) -> Value | None:
        with self._lock:
            found = self._items.pop((kind, key), None)
        return found[0] if found is not None and now < found[1] else None

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._items.pop((kind, key), None)


def _aware(value: datetime, reference: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone=True columns; they were stored as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=reference.tzinfo)


class DatabaseStore:
    """The ``identity_fc_sandbox_state`` table, shared by every process on the database.

    Each call is its own short write transaction. Expired rows are purged by every
    :meth:`put` (one indexed delete: the sandbox serves a demo, not a load).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, kind: str, key: str, value: Value, *, expires_at: datetime) -> Value:
        try:
            with self.db.write_session() as session:
                existing = session.get(SandboxStateRow, (kind, key))
                if existing is not None:
                    stored: Value = json.loads(existing.data)
                    return stored
                session.add(self._row(kind, key, value, expires_at))
        except IntegrityError:
            # Another process added it between our read and our insert: theirs wins.
            with self.db.read_session() as session:
                row = session.get(SandboxStateRow, (kind, key))
                assert row is not None, "a row that made our insert fail exists"
                theirs: Value = json.loads(row.data)
                return theirs
        return value

    def put(
        self, kind: str, key: str, value: Value, *, expires_at: datetime, now: datetime
    ) -> None:
        with self.db.write_session() as session:
            session.execute(delete(SandboxStateRow).where(SandboxStateRow.expires_at <= now))
            row = session.get(SandboxStateRow, (kind, key))
            if row is None:
                session.add(self._row(kind, key, value, expires_at))
            else:
                row.data = json.dumps(value, separators=(",", ":"))
                row.expires_at = expires_at

    def get(self, kind: str, key: str, *, now: datetime) -> Value | None:
        with self.db.read_session() as session:
            row = session.get(SandboxStateRow, (kind, key))
            if row is None or _aware(row.expires_at, now) <= now:
                return None
            found: Value = json.loads(row.data)
            return found

    def take(self, kind: str, key: str, *, now: datetime) -> Value | None:
        with self.db.write_session() as session:
            row = session.get(SandboxStateRow, (kind, key))
            if row is None:
                return None
            live = _aware(row.expires_at, now) > now
            data = row.data
            removed = session.execute(
                delete(SandboxStateRow).where(
                    SandboxStateRow.kind == kind, SandboxStateRow.key == key
                )
            )
        # A concurrent taker that deleted the row first wins; this caller gets nothing.
        if int(getattr(removed, "rowcount", 0)) != 1 or not live:
            return None
        taken: Value = json.loads(data)
        return taken

    def delete(self, kind: str, key: str) -> None:
        with self.db.write_session() as session:
            session.execute(
                delete(SandboxStateRow).where(
                    SandboxStateRow.kind == kind, SandboxStateRow.key == key
                )
            )

    @staticmethod
    def _row(kind: str, key: str, value: Value, expires_at: datetime) -> SandboxStateRow:
        return SandboxStateRow(
            kind=kind,
            key=key,
            data=json.dumps(value, separators=(",", ":")),
            expires_at=expires_at,
        )
