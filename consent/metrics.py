"""What the consent registry exposes on ``/metrics`` (docs/operations.md, "Monitoring").

Webhook deliveries by state, read from the outbox (``consent_deliveries``) when scraped, so
every worker reports the same numbers: ``waiting`` (not delivered, not abandoned; a retry may
be due later) and ``abandoned`` (gave up after ``PARVIS_CONSENT_WEBHOOK_MAX_ATTEMPTS``).
Counts only: no URL, client or subject.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from consent.tables import WebhookDeliveryRow
from parvis.kernel.context import AppContext

__all__ = ["WebhookCollector"]

log = logging.getLogger("parvis.consent.webhooks")


class WebhookCollector(Collector):
    """``parvis_consent_webhook_deliveries{state="waiting|abandoned"}``."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "parvis_consent_webhook_deliveries",
            "Webhook deliveries not delivered: waiting for an attempt, or abandoned",
            labels=["state"],
        )
        row = WebhookDeliveryRow
        try:
            with self._ctx.db.read_session() as session:
                waiting = session.execute(
                    select(func.count()).where(row.delivered_at.is_(None), row.gave_up_at.is_(None))
                ).scalar_one()
                abandoned = session.execute(
                    select(func.count()).where(row.gave_up_at.is_not(None))
                ).scalar_one()
        except SQLAlchemyError as exc:
            log.warning("webhook metrics unavailable", extra={"exc_type": type(exc).__name__})
            return
        family.add_metric(["waiting"], float(waiting))
        family.add_metric(["abandoned"], float(abandoned))
        yield family
