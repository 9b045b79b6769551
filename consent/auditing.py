"""How the consent registry writes to and reads from the audit log (``audit`` domain).

``audit.service_from(ctx).record(session, …)`` appends in the *caller's* transaction, so a
consent event and its audit entry commit together or not at all. Entries carry ids,
pseudonyms and codes only; anything erasable goes in ``details`` (the audit engine keeps the
details in an erasable table and only their salted hash in the leaf).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from audit import AuditService, service_from
from audit.note import open_checkpoint
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError

__all__ = ["CheckpointStatus", "audit_of", "checkpoint_status"]

LOG = "audit"


def audit_of(ctx: AppContext) -> AuditService:
    """The audit service of ``ctx``."""
    return service_from(ctx)


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """What the DPO console shows about the audit log: the latest signed checkpoint, whether
    it verifies with the log's published key, the key to verify it offline, and whether the
    typed view the console queries (``audit_events``) matches the leaves (``view_error``
    names the first mismatch and how many there are), and which logs the database holds behind
    a checkpoint they published (``rollbacks``, docs/adr/0017-rollback-detection.md)."""

    note: str
    verifier_key: str
    size: int | None
    error: str | None
    view_error: str | None = None
    rollbacks: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        return self.error is None


def checkpoint_status(ctx: AppContext, session: Session) -> CheckpointStatus:
    """Verify the latest checkpoint of the audit log (C2SP tlog-checkpoint, signed note) and
    the typed view against the leaves (:mod:`audit.viewcheck`)."""
    service = audit_of(ctx)
    # Every log, not only the audit trail: a restored backup rolls back boards too, and the
    # DPO must know before anyone relies on what is appended next.
    try:
        rollbacks = tuple(alarm.detail for alarm in service.rollbacks(session))
    except DomainError as exc:
        rollbacks = (exc.detail,)
    try:
        info = service.log_info(session, log=LOG)
        note = service.checkpoint(session, log=LOG)
        checkpoint = open_checkpoint(
            note, origin=info.origin, log_key=service.verifier(session, log=LOG)
        )
        # The console's answers come from the typed view, which someone with the database
        # owner's rights could edit without touching the tree: check it against the leaves.
        _checked, mismatches = service.check_view(session, log=LOG)
    except DomainError as exc:
        return CheckpointStatus(
            note="", verifier_key="", size=None, error=exc.detail, rollbacks=rollbacks
        )
    view_error = None
    if mismatches:
        view_error = f"{mismatches[0]} ({len(mismatches)} in all)"
    return CheckpointStatus(
        note=note,
        verifier_key=info.verifier_key,
        size=checkpoint.checkpoint.size,
        error=None,
        view_error=view_error,
        rollbacks=rollbacks,
    )
