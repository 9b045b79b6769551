"""How ballot writes staff actions to the audit trail: ``audit.service_from(ctx).record``.

Each event is appended in the caller's transaction, so the election change and its audit
entry commit together or not at all (architecture.md, "Nothing personal in immutable logs";
audit-log.md, "Content"). The audit service is imported by name, never looked up by
reflection, and there is no stand-in: if the audit API changed, importing this module (and
type checking it) fails, and if recording fails, the exception aborts the caller's
transaction. Ballot never carries on without its trail (fail closed).

Events carry election ids, staff or platform ids and citizen pseudonyms (paper marks)
only — never a ballot, a token, a blinded message or a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from audit import AuditService, service_from
from parvis.kernel.context import AppContext

__all__ = ["record", "recorder"]


def recorder(ctx: AppContext) -> AuditService:
    """The audit service of this context (no fallback: a missing service is an error)."""
    return service_from(ctx)


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
