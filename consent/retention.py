"""The retention purge job (GDPR Art. 5(1)(e) storage limitation; Art. 30(1)(f)).

For every purpose and every data category of the register, the job computes the cut-off
(now minus the category's retention) and asks the domain that registered a handler for that
category (:func:`consent.hooks.register_retention_handler`) to delete what is older. The
registry purges its own records too:

* consent evidence — the events, receipts and state of a consent that ended (refused,
  withdrawn, expired, revoked, invalidated) more than ``consent_evidence_retention`` ago
  (default five years: the limitation period of civil claims, so consent can be proven as
  long as it can be disputed, Art. 7(1));
* webhook deliveries that were delivered or abandoned more than 30 days ago.

The job is idempotent (a second run finds nothing), never touches data still within its
period, and writes one audit entry with the counts (never the people) unless ``dry_run``.
``parvis consent purge [--dry-run]`` runs it; the report is printed as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from consent.deadlines import Duration
from consent.hooks import RetentionContext, retention_handlers
from consent.ledger import ACTIVE
from consent.tables import (
    ConsentEventRow,
    ConsentStateRow,
    ReceiptRow,
    WebhookDeliveryRow,
)
from parvis.kernel.context import AppContext

__all__ = ["DELIVERY_RETENTION", "PurgeReport", "purge"]

DELIVERY_RETENTION = timedelta(days=30)
_BATCH = 500


@dataclass
class PurgeReport:
    run_at: datetime
    dry_run: bool
    categories: list[dict[str, Any]] = field(default_factory=list)
    consent_evidence: list[dict[str, Any]] = field(default_factory=list)
    webhook_deliveries: int = 0

    @property
    def total(self) -> int:
        return (
            sum(int(c["count"] or 0) for c in self.categories)
            + sum(int(e["count"]) for e in self.consent_evidence)
            + self.webhook_deliveries
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "run_at": self.run_at.isoformat(),
            "dry_run": self.dry_run,
            "total": self.total,
            "categories": self.categories,
            "consent_evidence": self.consent_evidence,
            "webhook_deliveries": self.webhook_deliveries,
        }


def _service(ctx: AppContext) -> Any:
    from consent import service_from

    return service_from(ctx)


def purge(
    ctx: AppContext, session: Session, *, dry_run: bool, actor: str = "system"
) -> PurgeReport:
    """Run (or simulate) the purge in the caller's transaction."""
    service = _service(ctx)
    now = ctx.clock.now()
    report = PurgeReport(run_at=now, dry_run=dry_run)
    handlers = retention_handlers()
    evidence = Duration.parse(ctx.settings.consent_evidence_retention)
    for record in service.purposes(session):
        purpose = record.purpose
        for category in purpose.data_categories:
            cutoff = category.retention.before(now)
            handler = handlers.get(category.id)
            count = (
                handler(
                    RetentionContext(
                        ctx=ctx,
                        session=session,
                        purpose_id=purpose.id,
                        category_id=category.id,
                        retention_from=category.retention_from.value,
                        cutoff=cutoff,
                        dry_run=dry_run,
                    )
                )
                if handler is not None
                else None
            )
            report.categories.append(
                {
                    "purpose": purpose.id,
                    "category": category.id,
                    "retention": str(category.retention),
                    "from": category.retention_from.value,
                    "cutoff": cutoff.isoformat(),
                    "disposition": category.disposition.value,
                    "handler": "registered" if handler is not None else "none (not held by Parvis)",
                    "count": count,
                }
            )
        if purpose.consent_validity is not None:
            cutoff = evidence.before(now)
            count = _purge_evidence(session, purpose.id, cutoff, dry_run=dry_run)
            report.consent_evidence.append(
                {"purpose": purpose.id, "cutoff": cutoff.isoformat(), "count": count}
            )
    report.webhook_deliveries = _purge_deliveries(session, now - DELIVERY_RETENTION, dry_run)
    if not dry_run:
        service.audit.record(
            session,
            event_type="consent.retention.purge",
            actor=actor,
            details={
                "total": report.total,
                "categories": [
                    {k: c[k] for k in ("purpose", "category", "cutoff", "count")}
                    for c in report.categories
                ],
                "consent_evidence": report.consent_evidence,
                "webhook_deliveries": report.webhook_deliveries,
            },
        )
    return report


def _purge_evidence(session: Session, purpose_id: str, cutoff: datetime, *, dry_run: bool) -> int:
    """Histories of consents that ended before ``cutoff`` (whole histories, never parts)."""
    ended = (
        select(ConsentStateRow.subject)
        .where(
            ConsentStateRow.purpose_id == purpose_id,
            ConsentStateRow.status.not_in([s.value for s in ACTIVE]),
            ConsentStateRow.since < cutoff,
        )
        .order_by(ConsentStateRow.subject)
    )
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(ended.subquery())) or 0)
    total = 0
    while True:
        subjects = list(session.scalars(ended.limit(_BATCH)))
        if not subjects:
            return total
        where_subject = ConsentEventRow.subject.in_(subjects)
        session.execute(
            delete(ReceiptRow).where(
                ReceiptRow.purpose_id == purpose_id, ReceiptRow.subject.in_(subjects)
            )
        )
        session.execute(
            delete(ConsentEventRow).where(ConsentEventRow.purpose_id == purpose_id, where_subject)
        )
        session.execute(
            delete(ConsentStateRow).where(
                ConsentStateRow.purpose_id == purpose_id, ConsentStateRow.subject.in_(subjects)
            )
        )
        total += len(subjects)


def _purge_deliveries(session: Session, cutoff: datetime, dry_run: bool) -> int:
    done = or_(
        WebhookDeliveryRow.delivered_at < cutoff,
        WebhookDeliveryRow.gave_up_at < cutoff,
    )
    if dry_run:
        return int(
            session.scalar(select(func.count()).select_from(WebhookDeliveryRow).where(done)) or 0
        )
    result = session.execute(delete(WebhookDeliveryRow).where(done))
    return int(getattr(result, "rowcount", 0) or 0)
