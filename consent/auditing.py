"""How the consent registry writes to and reads from the audit log.

The audit domain's agreed surface (``audit.service_from(ctx) -> AuditService``):
``record(session, *, event_type, actor, subject=None, purpose=None, details=None,
log="audit")`` appends in the *caller's* transaction, so a consent event and its audit entry
commit together or not at all; ``query(session, *, log, subject, actor, purpose, event_type,
since, until, limit, offset)``; ``erase_subject_details(session, *, subject)``;
``checkpoint(session, *, log)``.

Entries carry ids, pseudonyms and codes only; anything erasable goes in ``details`` (the
audit engine keeps details in an erasable table and only their salted hash in the leaf).

While the audit engine is not in the tree, :func:`audit_of` falls back to
:class:`InterimAudit`, which keeps entries per process and — like the real one — only those
whose transaction committed. It exists so that consent can be built and tested before audit
lands; it is removed when ``audit.service_from`` exists.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import event
from sqlalchemy.orm import Session

from parvis.kernel.context import AppContext

__all__ = ["AuditEntry", "AuditPort", "InterimAudit", "audit_of"]


class AuditEntry(Protocol):
    index: int
    event_type: str
    actor: str
    subject: str | None
    purpose: str | None
    time: datetime
    details: Mapping[str, Any] | None


class AuditPort(Protocol):
    def record(
        self,
        session: Session,
        *,
        event_type: str,
        actor: str,
        subject: str | None = None,
        purpose: str | None = None,
        details: Mapping[str, Any] | None = None,
        log: str = "audit",
    ) -> object: ...

    def query(
        self,
        session: Session,
        *,
        log: str = "audit",
        subject: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Any]: ...

    def erase_subject_details(self, session: Session, *, subject: str) -> int: ...

    def checkpoint(self, session: Session, *, log: str) -> str: ...


@dataclass
class _Entry:
    index: int
    leaf_hash: bytes
    event_type: str
    actor: str
    subject: str | None
    purpose: str | None
    time: datetime
    details: dict[str, Any] | None
    log: str


@dataclass
class InterimAudit:
    """Per-process stand-in with the agreed surface; committed entries only."""

    clock: Any
    entries: list[_Entry] = field(default_factory=list)

    def _pending(self, session: Session) -> list[_Entry]:
        pending: list[_Entry] | None = session.info.get("consent.interim_audit")
        if pending is None:
            pending = []
            session.info["consent.interim_audit"] = pending

            def committed(_session: Session) -> None:
                for entry in pending:
                    entry.index = len(self.entries)
                    self.entries.append(entry)
                pending.clear()

            def rolled_back(_session: Session, _previous: object = None) -> None:
                pending.clear()

            event.listen(session, "after_commit", committed)
            event.listen(session, "after_soft_rollback", rolled_back)
        return pending

    def record(
        self,
        session: Session,
        *,
        event_type: str,
        actor: str,
        subject: str | None = None,
        purpose: str | None = None,
        details: Mapping[str, Any] | None = None,
        log: str = "audit",
    ) -> object:
        body = json.dumps([event_type, actor, subject, purpose, dict(details or {})], default=str)
        entry = _Entry(
            index=-1,
            leaf_hash=hashlib.sha256(b"\x00" + body.encode()).digest(),
            event_type=event_type,
            actor=actor,
            subject=subject,
            purpose=purpose,
            time=self.clock.now(),
            details=json.loads(json.dumps(dict(details or {}), default=str)),
            log=log,
        )
        self._pending(session).append(entry)
        return entry.leaf_hash

    def query(
        self,
        session: Session,
        *,
        log: str = "audit",
        subject: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Any]:
        found = [
            e
            for e in self.entries
            if e.log == log
            and (subject is None or e.subject == subject)
            and (actor is None or e.actor == actor)
            and (purpose is None or e.purpose == purpose)
            and (event_type is None or e.event_type == event_type)
            and (since is None or e.time >= since)
            and (until is None or e.time < until)
        ]
        return list(found[offset : offset + limit])

    def erase_subject_details(self, session: Session, *, subject: str) -> int:
        count = 0
        for entry in self.entries:
            if entry.subject == subject and entry.details is not None:
                entry.details = None
                count += 1
        return count

    def checkpoint(self, session: Session, *, log: str) -> str:
        size = len([e for e in self.entries if e.log == log])
        return f"interim/{log}\n{size}\n(no signed checkpoint until the audit engine lands)\n"


def audit_of(ctx: AppContext) -> AuditPort:
    """The audit service of ``ctx`` (the interim stand-in while audit is not in the tree)."""
    module = importlib.import_module("audit")
    factory = getattr(module, "service_from", None)
    if factory is not None:
        return cast(AuditPort, factory(ctx))
    return ctx.extension("consent.interim_audit", lambda c: InterimAudit(clock=c.clock))
