"""What the log engine exposes on ``/metrics`` (docs/operations.md, "Monitoring").

Gauges read from the database when scraped, so every worker and host reports the same
values (unlike the per-process HTTP counters): how many entries wait for the sequencer, the
size of each log, and whether a log is held behind a checkpoint it published
(docs/adr/0017-rollback-detection.md). Log names are election and trail names, never
personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from audit.service import service_from
from audit.tables import CheckpointRow, LogRow, PendingRow
from parvis.kernel.context import AppContext
from parvis.kernel.errors import DomainError

__all__ = ["AuditCollector"]

log = logging.getLogger("parvis.audit")


class AuditCollector(Collector):
    """``parvis_audit_pending_entries``, ``parvis_audit_tree_size`` and
    ``parvis_audit_rolled_back``, one sample per log."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        service = service_from(self._ctx)
        pending = GaugeMetricFamily(
            "parvis_audit_pending_entries",
            "Entries queued for the sequencer, not yet under a signed checkpoint",
            labels=["log"],
        )
        size = GaugeMetricFamily(
            "parvis_audit_tree_size", "Size of the latest signed checkpoint", labels=["log"]
        )
        rolled_back = GaugeMetricFamily(
            "parvis_audit_rolled_back",
            "1 while the database holds the log behind a checkpoint it published (ADR 0017)",
            labels=["log"],
        )
        try:
            queued, sizes, alarms = self._read()
        except (SQLAlchemyError, DomainError) as exc:
            # The samples are left out (a scrape must not fail); /readyz reports the database.
            log.warning("audit metrics unavailable", extra={"exc_type": type(exc).__name__})
            return
        for name, tree_size in sizes:
            pending.add_metric([name], float(queued.get(name, 0)))
            size.add_metric([name], float(tree_size))
        for name in sorted(alarms | set(service.memory.logs())):
            rolled_back.add_metric([name], 1.0 if name in alarms else 0.0)
        yield pending
        yield size
        yield rolled_back

    def _read(self) -> tuple[dict[str, int], list[tuple[str, int]], set[str]]:
        service = service_from(self._ctx)
        with self._ctx.db.read_session() as session:
            queued: dict[str, int] = dict(
                session.execute(
                    select(LogRow.name, func.count(PendingRow.id))
                    .join(PendingRow, PendingRow.log_id == LogRow.id)
                    .group_by(LogRow.name)
                ).all()
            )
            sizes = session.execute(
                select(LogRow.name, func.max(CheckpointRow.size))
                .join(CheckpointRow, CheckpointRow.log_id == LogRow.id)
                .group_by(LogRow.name)
            ).all()
            alarms = {alarm.name for alarm in service.rollbacks(session)}
        return queued, [(name, int(n)) for name, n in sizes], alarms
