"""How ballot writes staff actions to the audit trail: ``audit.service_from(ctx).record``.

The audit domain is being built in parallel; its agreed surface is
``service_from(ctx) -> AuditService`` with ``record(session, *, event_type, actor,
subject=None, purpose=None, details=None, log="audit")``, appending in the caller's
transaction. Until that function exists, :func:`recorder` returns
:class:`PendingAuditRecorder`, which keeps the events in memory per process (tests read
them). Events carry election ids, staff or platform ids and citizen pseudonyms (paper marks)
only — never a ballot, a token, a blinded message or a key.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy.orm import Session

from parvis.kernel.context import AppContext

__all__ = ["AuditEvent", "AuditRecorder", "PendingAuditRecorder", "record", "recorder"]


class AuditRecorder(Protocol):
    """The part of audit's ``AuditService`` ballot uses."""

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


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_type: str
    actor: str
    subject: str | None
    purpose: str | None
    details: Mapping[str, Any]


@dataclass
class PendingAuditRecorder:
    """Stand-in until ``audit.service_from`` lands: events are kept in memory."""

    events: list[AuditEvent] = field(default_factory=list)

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
        del session, log  # appended in the caller's transaction once audit lands
        event = AuditEvent(event_type, actor, subject, purpose, dict(details or {}))
        self.events.append(event)
        return event


def _make(ctx: AppContext) -> AuditRecorder:
    audit = importlib.import_module("audit")
    factory = getattr(audit, "service_from", None)
    if factory is None:
        return PendingAuditRecorder()
    return cast(AuditRecorder, factory(ctx))


def recorder(ctx: AppContext) -> AuditRecorder:
    """The audit service (or the pending stand-in) of this context."""
    return ctx.extension("ballot.audit", _make)


def record(
    ctx: AppContext,
    session: Session,
    *,
    event_type: str,
    actor: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one ballot event (purpose ``elections``) in the caller's transaction."""
    recorder(ctx).record(
        session,
        event_type=event_type,
        actor=actor,
        subject=subject,
        purpose="elections",
        details=details,
    )
