"""Access records: every read of personal data by staff or a platform goes to the audit log.

architecture.md, "Data protection by design": "Every read of personal data by staff or a
platform is recorded with who, whose (pseudonym), which fields and which purpose." Every
domain calls :func:`record_access` when it shows or sends personal data to staff or to a
platform; the DPO asks "who read this person's data, when and why" with
:func:`access_records`, and "which platforms received which claims" with
``actor="platform:<id>"``. The records live in the audit log (append-only, signed
checkpoints), which the CNIL's logging recommendation (délibération n° 2021-122) wants kept
six months to a year.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.auditing import audit_of
from consent.errors import UnknownPurposeError
from consent.tables import PurposeRow
from parvis.kernel.context import AppContext
from parvis.kernel.errors import InvalidInputError

__all__ = [
    "ACCESS_EVENT",
    "INTERNAL_PURPOSES",
    "AccessRecord",
    "access_records",
    "record_access",
    "record_read",
]

ACCESS_EVENT = "personal_data.read"
#: Activities of Parvis itself that read personal data without being a platform purpose:
#: handling data-subject requests (Art. 12-22) — the DPO reading a request or the access
#: records about a person.
INTERNAL_PURPOSES = frozenset({"parvis:data-subject-requests"})
_ACTOR = re.compile(r"^(staff|platform|citizen|system)(:[A-Za-z0-9._@-]{1,64})?$")
_FIELD = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One read: who, whose, which fields, for which purpose, when."""

    index: int  #: the log index, -1 while the sequencer has not integrated the entry
    time: datetime
    actor: str
    subject: str | None
    purpose: str | None
    fields: tuple[str, ...]
    erased: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "subject": self.subject,
            "purpose": self.purpose,
            "fields": list(self.fields),
            "details_erased": self.erased,
        }


def record_access(
    ctx: AppContext,
    session: Session,
    *,
    actor: str,
    subject: str,
    fields: Sequence[str],
    purpose: str,
) -> None:
    """Append the access record of a read, in the caller's transaction.

    ``actor`` is ``staff:<id>`` or ``platform:<client id>``; ``fields`` are attribute names
    (never values); ``purpose`` must be a purpose of the register (or one of
    :data:`INTERNAL_PURPOSES`).
    """
    if not _ACTOR.match(actor):
        raise InvalidInputError("actor must look like staff:<id> or platform:<client id>")
    if not subject or len(subject) > 64:
        raise InvalidInputError("subject: a pseudonym of 1 to 64 characters")
    names = sorted(set(fields))
    if not names or not all(_FIELD.match(n) for n in names):
        raise InvalidInputError("fields: one or more attribute names such as given_name")
    if purpose not in INTERNAL_PURPOSES:
        # Purposes are closed, never deleted: once seen, a purpose id stays valid.
        known: set[str] = ctx.extension("consent.known_purposes", lambda _ctx: set())
        if purpose not in known:
            if session.scalar(select(PurposeRow.id).where(PurposeRow.id == purpose[:64])) is None:
                raise UnknownPurposeError(purpose)
            known.add(purpose)
    audit_of(ctx).record(
        session,
        event_type=ACCESS_EVENT,
        actor=actor,
        subject=subject,
        purpose=purpose,
        details={"fields": names},
    )


class _RecentReads:
    """Access records written in the current minute by this process (bounded)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self._lock = threading.Lock()
        self.sqlite_gate = threading.Lock()

    def __contains__(self, key: tuple[object, ...]) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, key: tuple[object, ...]) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)


def record_read(
    ctx: AppContext,
    *,
    actor: str,
    subject: str,
    fields: Sequence[str],
    purpose: str,
) -> bool:
    """The access record of a platform's read, in its own transaction, at most once per
    (actor, subject, fields, purpose) and minute; returns whether one was written.

    Why this is lossless: the audit log keeps event times to the minute (audit-log.md,
    "Content"), so identical reads within one minute would be indistinguishable entries —
    recording the first answers "who read this person's data, when and why" exactly as well
    (only the count of repeated reads within the minute is not kept). A platform that checks
    consent on every page view would otherwise write an audit entry per page. The caller
    sends its answer only after this returns, so nothing is disclosed without its record.
    """
    minute = ctx.clock.now().replace(second=0, microsecond=0)
    key = (actor, subject, tuple(sorted(set(fields))), purpose, minute)
    recent = ctx.extension("consent.recent_reads", lambda _ctx: _RecentReads())
    if key in recent:
        return False
    # On SQLite, threads of one process that wait for the write lock inside SQLite back off
    # by sleeping (up to 100 ms a time); queueing them on a Python lock first is fairer and
    # cuts the tail latency of concurrent first reads several-fold. PostgreSQL needs none.
    gate = recent.sqlite_gate if ctx.db.is_sqlite else contextlib.nullcontext()
    with gate, ctx.db.write_session() as session:
        record_access(ctx, session, actor=actor, subject=subject, fields=fields, purpose=purpose)
    recent.add(key)
    return True


def access_records(
    ctx: AppContext,
    session: Session,
    *,
    subject: str | None = None,
    actor: str | None = None,
    purpose: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AccessRecord]:
    """The DPO's query over access records (newest last, as the log orders them)."""
    entries = audit_of(ctx).query(
        session,
        log="audit",
        subject=subject or None,
        actor=actor or None,
        purpose=purpose or None,
        event_type=ACCESS_EVENT,
        since=since,
        until=until,
        limit=min(max(limit, 1), 1000),
        offset=max(offset, 0),
    )
    records = []
    for entry in entries:
        details = entry.details
        fields = tuple(details.get("fields", ())) if details is not None else ()
        records.append(
            AccessRecord(
                index=entry.index if entry.index is not None else -1,
                time=entry.time,
                actor=entry.actor,
                subject=entry.subject,
                purpose=entry.purpose,
                fields=fields,
                erased=details is None,
            )
        )
    return records
