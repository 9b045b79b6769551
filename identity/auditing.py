"""How identity writes to the audit trail: through ``audit.service_from(ctx).record``.

The audit domain is being built in parallel; its agreed surface is
``service_from(ctx) -> AuditService`` with
``record(session, *, event_type, actor, subject=None, purpose=None, details=None,
log="audit")``, appending in the caller's transaction. Until that function exists in the
tree, :func:`recorder` returns :class:`PendingAuditRecorder`, which keeps the events in
memory (per process) so that tests can see what would be recorded. Details carry pseudonyms,
ids and codes only — never names, addresses or FranceConnect ``sub`` values.
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
    """The part of audit's ``AuditService`` identity uses."""

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
    log: str


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
        del session  # appended with the caller's transaction once audit lands
        event = AuditEvent(event_type, actor, subject, purpose, dict(details or {}), log)
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
    return ctx.extension("identity.audit", _make)


def record(
    ctx: AppContext,
    session: Session,
    *,
    event_type: str,
    actor: str,
    subject: str | None = None,
    purpose: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one identity event to the audit trail in the caller's transaction."""
    recorder(ctx).record(
        session,
        event_type=event_type,
        actor=actor,
        subject=subject,
        purpose=purpose,
        details=details,
    )
